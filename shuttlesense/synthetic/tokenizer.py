"""A tiny Qwen-style tokenizer trained offline, for the tiny random test models.

Nothing can be downloaded from the Hub here, so the tiny models need a tokenizer we can build in a
fraction of a second: a byte-level BPE of about 2,000 tokens trained with `tokenizers` on a small
embedded corpus, wrapped as the real `Qwen2Tokenizer` with Qwen's special tokens and a ChatML chat
template. Byte-level BPE never produces an unknown token, and the corpus holds every class name
and prompt from `shuttlesense.labels`, so those encode to few tokens and decode back exactly.
"""

from __future__ import annotations

import json

from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import Qwen2Tokenizer
from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

from shuttlesense.labels import CLASS_NAMES_EN, CLASS_NAMES_ZH, PROMPTS

VOCAB_SIZE = 2000
"""Target size of the trained BPE vocabulary (the special tokens come on top)."""

# Qwen2-VL's special tokens, in the order of the real vocabulary (151643...), so relative ids match.
SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
EOS_TOKEN = "<|im_end|>"
PAD_TOKEN = "<|endoftext|>"
DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."

# One message's content, as every Qwen-VL template renders it: a string, or image/video/text items.
_CONTENT = (
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
)
_COUNTERS = "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
_GENERATION_PROMPT = "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
# Qwen2-VL's and Qwen2.5-VL's official ChatML template: a default system prompt first.
CHAT_TEMPLATE = (
    _COUNTERS + "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\n" + DEFAULT_SYSTEM_PROMPT + "<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n" + _CONTENT + "{% endfor %}" + _GENERATION_PROMPT
)
# Qwen3-VL-Instruct renders plain conversations the same way without a default system prompt
# (its tool-calling and reasoning branches never fire for ours and are left out).
QWEN3_VL_CHAT_TEMPLATE = (
    _COUNTERS + "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n" + _CONTENT + "{% endfor %}" + _GENERATION_PROMPT
)
CHAT_TEMPLATES = {"qwen2_vl": CHAT_TEMPLATE, "qwen2_5_vl": CHAT_TEMPLATE, "qwen3_vl": QWEN3_VL_CHAT_TEMPLATE}
"""Each family's chat template, as its real checkpoints ship it.

Checked (2026-12) against the templates the real checkpoints ship: Qwen2-VL-2B-Instruct's and
Qwen2.5-VL-7B-Instruct's (one and the same), and Qwen3-VL-8B-Instruct's (5,292 bytes, sha256
3636d0f0...). For every conversation we render (prompt and prompt + answer, each class name in
both languages, with and without a system message) the text is identical.
"""

_FILLER_EN = """\
Badminton is a racket sport played by two or four players on a rectangular court divided by a net.
The shuttlecock is hit over the net with a light racket; a rally ends when it touches the floor.
Players serve, lift, clear, drop, smash, drive, push, block and net the shuttle from the forehand
and the backhand side. A coach watches every stroke of the rally and labels each one by hand.
The camera films the court from behind the baseline at sixty frames per second, in high definition.
Each clip runs from one hit to the next; the model reads sixteen frames and names the stroke.
This video shows a player in the front court, the rear court or the middle of the court.
What stroke is the player making? Answer with the name of the stroke only, in English or Chinese.
A good serve is low and short, just over the tape, so that the receiver cannot attack it at once.
A long serve sends the shuttle high and deep to the back line, which pushes the opponent backwards.
The smash is the fastest stroke in the game: the player jumps, turns the shoulders and hits down hard.
A drop shot looks like a smash or a clear at first, then falls softly just behind the net.
Defensive strokes buy time: a high clear from the back of the court lets the player recover position.
Doubles pairs rotate between attack and defence; the front player guards the net, the rear player hits.
Footwork matters as much as the swing: a split step, a lunge, a chasse and a quick recovery to the centre.
Good grip, a relaxed wrist and early preparation make deception possible and strokes more accurate.
Referees, line judges and an umpire follow the match; points are scored on every rally up to twenty one.
The dataset was recorded during practice sessions of a university team over several weeks in summer.
Clips are short, between one and one hundred frames, and some classes have many more examples than others.
We fine tune a vision language model with low rank adapters, then evaluate top one accuracy per class.
The quick brown fox jumps over the lazy dog while the five boxing wizards jump quickly.
Numbers: 0 1 2 3 4 5 6 7 8 9 10 16 32 60 100 2024; times like 0.5 seconds, 1.0 seconds and 2.5 seconds.
Video 1: Picture 1: user assistant system tool function image video frame clip segment rally hit.
Training, validation and test splits; accuracy, precision, recall, loss, learning rate, epoch, step.
Please describe what happens in this video. The player moves to the left, then to the right, and hits.
Thank you! Yes, no, maybe. I think the answer is correct; let me check it again before we continue.
"""

_FILLER_ZH = """\
羽毛球是一项隔着球网用球拍击打羽毛球的运动，可以单打也可以双打。
运动员在前场、中场和后场移动，用正手或反手完成发球、挑球、放网、吊球、杀球、抽球和推球。
教练观看每一个回合，并为视频中的每一次击球标注动作类别。
摄像机在底线后方以每秒六十帧的速度拍摄整个球场，画面清晰。
每个片段从一次击球开始，到下一次击球结束；模型读取十六帧并说出动作名称。
好的发球又低又短，刚好越过网带，让接发球的一方无法立刻进攻。
高远球把球打得又高又深，落在对方底线附近，迫使对手后退。
杀球是速度最快的击球方式：运动员起跳、转体、向下用力击球。
吊球开始时看起来像杀球或高远球，随后轻轻地落在网前。
防守时要争取时间，从后场打出高远球，让自己回到场地中央。
双打搭档在进攻和防守之间轮转，前场队员封网，后场队员负责重扣。
步法和挥拍同样重要：启动、蹬跨、并步和快速回位。
正确的握拍、放松的手腕和提前的准备动作，让假动作成为可能，击球也更加准确。
裁判员、司线员和主裁判共同执裁比赛，每一个回合都会得分，先得二十一分者获胜。
数据集录制于一支大学校队的训练课，历时数周。
片段很短，从一帧到一百帧不等，有些类别的样本比其他类别多得多。
我们用低秩适配器微调视觉语言模型，然后按类别评估准确率。
请只回答动作的名称。这是一个训练集、验证集和测试集的例子，准确率、损失和学习率都会被记录。
请描述视频中发生了什么。球员先向左移动，再向右移动，然后击球。
你好，今天天气很好，我们一起去体育馆打羽毛球吧。谢谢！是的，不是，也许。
我认为这个答案是正确的，让我们在继续之前再检查一遍。
"""

_TEMPLATES_EN = ("The stroke is {}.", "This clip shows a {}.", "{}")
_TEMPLATES_ZH = ("这个动作是{}。", "视频中的动作是{}。", "{}")


def training_corpus() -> list[str]:
    """The embedded corpus: labels, prompts, ChatML scaffolding and some English/Chinese filler."""
    lines = [*_FILLER_EN.splitlines(), *_FILLER_ZH.splitlines(), DEFAULT_SYSTEM_PROMPT]
    lines += [t.format(name) for name in CLASS_NAMES_EN for t in _TEMPLATES_EN]
    lines += [t.format(name) for name in CLASS_NAMES_ZH for t in _TEMPLATES_ZH]
    for language, text in PROMPTS.items():
        answers = CLASS_NAMES_ZH if language == "zh" else CLASS_NAMES_EN
        lines += [f"system\n{DEFAULT_SYSTEM_PROMPT}\nuser\n{text}\nassistant\n{a}\n" for a in answers]
    return lines


def _pretokenizer() -> pre_tokenizers.PreTokenizer:
    """Qwen2's own pre-tokenizer, so trained merges line up with how `Qwen2Tokenizer` splits text."""
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )


def train_bpe(vocab_size: int = VOCAB_SIZE) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Train the byte-level BPE (deterministic: same corpus, same merges) and return vocab and merges."""
    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = _pretokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(training_corpus(), trainer)
    model = json.loads(bpe.to_str())["model"]
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return model["vocab"], merges


def build_tokenizer(vocab_size: int = VOCAB_SIZE) -> Qwen2Tokenizer:
    """A `Qwen2Tokenizer` over the trained BPE, with Qwen's special tokens appended after it."""
    vocab, merges = train_bpe(vocab_size)
    first_special = len(vocab)
    vocab.update({token: first_special + i for i, token in enumerate(SPECIAL_TOKENS)})
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        extra_special_tokens=[t for t in SPECIAL_TOKENS if t not in (EOS_TOKEN, PAD_TOKEN)],
        model_max_length=32768,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def special_token_ids(tokenizer: Qwen2Tokenizer) -> dict[str, int]:
    """The ids a Qwen-VL config needs, read from `tokenizer` so config and tokenizer always agree."""
    ids = {
        "image_token_id": "<|image_pad|>",
        "video_token_id": "<|video_pad|>",
        "vision_start_token_id": "<|vision_start|>",
        "vision_end_token_id": "<|vision_end|>",
        "bos_token_id": "<|endoftext|>",
        "eos_token_id": EOS_TOKEN,
        "pad_token_id": PAD_TOKEN,
    }
    return {key: tokenizer.convert_tokens_to_ids(token) for key, token in ids.items()}
