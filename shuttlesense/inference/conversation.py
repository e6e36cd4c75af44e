"""The one conversation format shared by training (collator) and inference (label scoring).

Training and scoring must render exactly the same text, or the model is asked at inference a
question it never saw: user turn = one video + the stroke prompt, assistant turn = the class name.
Everything here works through the processor's own chat template, so a real checkpoint's template
(system prompt, special tokens) is honoured, and through the processor's video kwargs, so each
Qwen-VL family gets the frame metadata it needs.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence
from typing import Any

from transformers import ProcessorMixin, Qwen2VLVideoProcessor, Qwen3VLVideoProcessor

from shuttlesense.data.video_io import DecodedClip, FrameGrid
from shuttlesense.labels import prompt

logger = logging.getLogger(__name__)

TURN_END_TOKEN = "<|im_end|>"
"""ChatML token that closes every turn; the model must learn to emit it right after the class name."""


def build_messages(language: str = "zh", answer: str | None = None) -> list[dict[str, Any]]:
    """Chat messages in the processor format: a video + prompt user turn, then the answer if given."""
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": prompt(language)}]}
    ]
    if answer is not None:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    return messages


def prompt_text(processor: ProcessorMixin, language: str = "zh") -> str:
    """The rendered prompt up to and including the assistant header (what generation starts from)."""
    return processor.apply_chat_template(build_messages(language), tokenize=False, add_generation_prompt=True)


def full_text(processor: ProcessorMixin, language: str, answer: str) -> str:
    """The rendered prompt + answer conversation, as used for training."""
    return processor.apply_chat_template(
        build_messages(language, answer), tokenize=False, add_generation_prompt=False
    )


def turn_end_token_id(processor: ProcessorMixin) -> int:
    """Id of `<|im_end|>`; fails clearly for a tokenizer that does not speak ChatML."""
    tokenizer = processor.tokenizer
    token_id = tokenizer.convert_tokens_to_ids(TURN_END_TOKEN)
    if token_id is None or token_id == tokenizer.unk_token_id:
        raise ValueError(f"The tokenizer has no {TURN_END_TOKEN} token; Qwen-VL chat models need ChatML.")
    return int(token_id)


def _tokens(processor: ProcessorMixin, text: str) -> list[int]:
    return list(processor.tokenizer(text, add_special_tokens=False)["input_ids"])


def completion_token_ids(processor: ProcessorMixin, language: str, answer: str) -> list[int]:
    """Every token the full rendering adds after the generation prompt: answer, `<|im_end|>`, newline.

    Computed as the tail of the *joint* prompt + answer tokenisation, not by tokenising the answer
    alone, so BPE merges across the boundary cannot make training targets or scored candidates
    differ from what the model sees. The vision placeholder is not expanded here: it sits in the
    prompt, before the special `<|im_start|>` of the assistant turn, so the tail is unaffected.
    Raises ValueError if the generation-prompt rendering is not a token prefix of the full one
    (a chat template that rewrites earlier turns once an answer follows).
    """
    prompt_ids = _tokens(processor, prompt_text(processor, language))
    full_ids = _tokens(processor, full_text(processor, language, answer))
    if full_ids[: len(prompt_ids)] != prompt_ids:
        raise ValueError(
            f"The chat template's generation prompt is not a token prefix of the prompt + answer "
            f"rendering for answer {answer!r} ({language}); cannot locate the answer tokens. "
            "Use a chat template whose assistant header equals its generation prompt."
        )
    return full_ids[len(prompt_ids) :]


def answer_token_ids(
    processor: ProcessorMixin, language: str, answer: str, include_end: bool = True
) -> list[int]:
    """Token ids the model should produce after the prompt for `answer`: its tokens, then `<|im_end|>`.

    These are the training targets and the candidate continuations inference scores; what the
    template adds after `<|im_end|>` (a newline) is never generated, so it is left out.
    """
    tail = completion_token_ids(processor, language, answer)
    end_id = turn_end_token_id(processor)
    if end_id not in tail:
        raise ValueError(f"The rendered answer turn for {answer!r} has no {TURN_END_TOKEN} token: {tail}.")
    answer_length = tail.index(end_id)
    if answer_length == 0:
        raise ValueError(f"The answer {answer!r} renders to no tokens.")
    _check_round_trip(processor, answer, tail[:answer_length])
    return tail[: answer_length + 1] if include_end else tail[:answer_length]


@functools.lru_cache(maxsize=8)
def _warn_once(message: str) -> None:
    logger.warning(message)


def _check_round_trip(processor: ProcessorMixin, answer: str, ids: list[int]) -> None:
    """Warn if the template adds text before the answer (e.g. a Thinking model's empty think block).

    Such text then becomes part of the target and of every scored candidate: consistent between
    training and scoring, but worth knowing when reading losses and accuracies.
    """
    decoded = processor.tokenizer.decode(ids)
    if decoded.strip() != answer.strip():
        extra = decoded.replace(answer, "{answer}") if answer in decoded else decoded
        _warn_once(
            f"The chat template renders the assistant answer as {extra!r}, not just the answer; "
            "the extra tokens are trained on and scored as part of every class name."
        )


def uses_video_metadata(processor: ProcessorMixin) -> bool:
    """True if the processor's output depends on the clip's real fps and frame indices.

    Qwen3-VL writes per-frame timestamps into the prompt (without metadata it warns and assumes
    24 fps). Qwen2.5-VL turns the sampled fps into `second_per_grid_ts`, the temporal rope spacing
    (24 fps assumed when omitted; the official qwen-vl-utils passes the real sampled fps). Qwen2-VL
    ignores metadata. Detected from the processor objects, never from a model name.
    """
    if isinstance(getattr(processor, "video_processor", None), Qwen3VLVideoProcessor):
        return True
    return "second_per_grid_ts" in getattr(processor, "model_input_names", ())


def clip_metadata(clip: DecodedClip) -> dict[str, Any]:
    """The metadata dict transformers' video processors read: source fps, length and sampled indices."""
    return {
        "fps": float(clip.fps),
        "total_num_frames": int(clip.total_frames),
        "frames_indices": [int(i) for i in clip.indices],
    }


def video_processor_kwargs(processor: ProcessorMixin, clips: Sequence[DecodedClip]) -> dict[str, Any]:
    """Extra kwargs for `processor(text=..., videos=...)`: our frames are final, metadata where it matters.

    `do_sample_frames=False`: the clips hold the frames we sampled, while their metadata describes
    the whole source clip; a processor that samples again (Qwen3-VL checkpoints ship
    `do_sample_frames: true`, fps 2) would pick positions in the whole clip and index past our
    frames. Every family also gets `cap_pixels_per_frame=True`, the reference (qwen-vl-utils) rule
    that transformers makes the default in v5.22: our frames already fit it (it bites only past
    several hundred frames at our budgets), and setting it silences the warning every run printed.
    """
    video_processor = getattr(processor, "video_processor", None)
    kwargs: dict[str, Any] = {"do_sample_frames": False} if video_processor is not None else {}
    if isinstance(video_processor, Qwen2VLVideoProcessor | Qwen3VLVideoProcessor):
        kwargs["cap_pixels_per_frame"] = True
    if uses_video_metadata(processor):
        kwargs["video_metadata"] = [clip_metadata(clip) for clip in clips]
    return kwargs


def frame_grid(processor: ProcessorMixin) -> FrameGrid:
    """The frame sizes the processor keeps as they are: sides a multiple of patch x merge, and its
    minimum pixel count (Qwen3-VL counts it over the clip: a floor for the shortest clip, 2 frames)."""
    video_processor = getattr(processor, "video_processor", None)
    if video_processor is None:
        return FrameGrid()
    multiple = int(video_processor.patch_size) * int(video_processor.merge_size)
    size = video_processor.size
    shortest = size.get("shortest_edge") if isinstance(size, dict) else getattr(size, "shortest_edge", None)
    min_pixels = int(shortest or 0)
    if isinstance(video_processor, Qwen3VLVideoProcessor):
        min_pixels = math.ceil(min_pixels / int(video_processor.temporal_patch_size))
    return FrameGrid(multiple, min_pixels)
