"""Tiny random models: they build offline, reload with the Auto classes and run a real forward pass."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import (
    AutoImageProcessor,
    AutoModelForImageTextToText,
    AutoModelForVideoClassification,
    AutoProcessor,
    AutoTokenizer,
)

from shuttlesense.inference.model_source import MARKER
from shuttlesense.labels import CLASS_NAMES_EN, CLASS_NAMES_ZH, PROMPT_ZH, PROMPTS
from shuttlesense.synthetic.tiny_models import (
    ALL_FAMILIES,
    FAMILIES,
    build_tiny_model,
    build_tiny_videomae,
    main,
)
from shuttlesense.synthetic.tokenizer import CHAT_TEMPLATES, SPECIAL_TOKENS, build_tokenizer

LABEL_TEXTS = [*CLASS_NAMES_EN, *CLASS_NAMES_ZH, *PROMPTS.values()]


@pytest.fixture(scope="session")
def loaded(tiny_model_dirs: dict[str, Path]) -> dict[str, tuple]:
    """(model, processor) per family, reloaded through the Auto classes like a Hub checkpoint."""
    return {
        family: (AutoModelForImageTextToText.from_pretrained(path), AutoProcessor.from_pretrained(path))
        for family, path in tiny_model_dirs.items()
    }


def _frames(num_frames: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (num_frames, size, size, 3), dtype=np.uint8)


def _video_messages(prompt: str = PROMPT_ZH) -> list[dict]:
    return [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": prompt}]}]


def _processor_inputs(processor, family: str, frames, fps: float = 30.0):
    """The processor on frames that are already sampled (as our data module gives them)."""
    text = processor.apply_chat_template(_video_messages(), tokenize=False, add_generation_prompt=True)
    # Qwen3-VL writes frame timestamps into the prompt: give it fps + indices; never re-sample.
    meta = {"fps": fps, "total_num_frames": len(frames), "frames_indices": list(range(len(frames)))}
    kwargs = {"video_metadata": [meta]} if family != "qwen2_vl" else {}
    return processor(text=[text], videos=[frames], return_tensors="pt", do_sample_frames=False, **kwargs)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(("num_frames", "size", "video_tokens"), [(8, 56, 16), (16, 112, 128)])
def test_forward_pass(loaded, family: str, num_frames: int, size: int, video_tokens: int) -> None:
    model, processor = loaded[family]
    inputs = _processor_inputs(processor, family, _frames(num_frames, size))
    assert (inputs["input_ids"] == model.config.video_token_id).sum().item() == video_tokens
    # No re-sampling: every frame pair is one temporal patch.
    assert inputs["video_grid_thw"][0, 0].item() == num_frames // 2
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape == (1, inputs["input_ids"].shape[1], len(processor.tokenizer))
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("family", FAMILIES)
def test_frames_as_list(loaded, family: str) -> None:
    _, processor = loaded[family]
    inputs = _processor_inputs(processor, family, list(_frames(8, 56)))
    assert inputs["video_grid_thw"].tolist() == [[4, 4, 4]]


def test_qwen3_vl_uses_the_given_fps_for_timestamps(loaded) -> None:
    _, processor = loaded["qwen3_vl"]
    inputs = _processor_inputs(processor, "qwen3_vl", _frames(8, 56), fps=4.0)
    text = processor.tokenizer.decode(inputs["input_ids"][0])
    # Frames 0-7 at 4 fps, merged in pairs: (0 + 0.25) / 2, ..., (1.5 + 1.75) / 2 seconds.
    for seconds in ("0.1", "0.6", "1.1", "1.6"):
        assert f"<{seconds} seconds>" in text


@pytest.mark.parametrize("family", FAMILIES)
def test_config_matches_tokenizer(tiny_model_dirs, loaded, family: str) -> None:
    model, processor = loaded[family]
    tokenizer, config = processor.tokenizer, model.config
    ids = tokenizer.convert_tokens_to_ids
    assert config.video_token_id == ids("<|video_pad|>")
    assert config.image_token_id == ids("<|image_pad|>")
    assert config.vision_start_token_id == ids("<|vision_start|>")
    assert config.vision_end_token_id == ids("<|vision_end|>")
    assert config.text_config.vocab_size == len(tokenizer) == model.get_output_embeddings().out_features
    assert model.generation_config.eos_token_id[0] == tokenizer.eos_token_id == ids("<|im_end|>")
    assert model.generation_config.pad_token_id == tokenizer.pad_token_id == ids("<|endoftext|>")
    text = config.text_config
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    assert sum(text.rope_parameters["mrope_section"]) == head_dim // 2
    assert getattr(config, MARKER) is True
    assert "RANDOM" in (tiny_model_dirs[family] / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("family", FAMILIES)
def test_labels_round_trip_without_unknown_tokens(tiny_model_dirs, family: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dirs[family])
    special_ids = set(tokenizer.all_special_ids)
    vocab_ids = set(tokenizer.get_vocab().values())
    for text in LABEL_TEXTS:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert ids and set(ids) <= vocab_ids and not set(ids) & special_ids, text
        assert tokenizer.unk_token_id is None or tokenizer.unk_token_id not in ids
        assert tokenizer.decode(ids) == text


def test_special_tokens_are_single_tokens() -> None:
    tokenizer = build_tokenizer()
    for token in SPECIAL_TOKENS:
        assert tokenizer(token, add_special_tokens=False)["input_ids"] == [
            tokenizer.convert_tokens_to_ids(token)
        ]
    assert 1500 <= len(tokenizer) <= 2100


@pytest.mark.parametrize("family", FAMILIES)
def test_chat_template_renders_like_the_real_checkpoint(tiny_model_dirs, loaded, family: str) -> None:
    _, processor = loaded[family]
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dirs[family])
    # Qwen2-VL and Qwen2.5-VL add a default system prompt; Qwen3-VL-Instruct does not.
    system = "" if family == "qwen3_vl" else "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    video_turn = f"<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>{PROMPT_ZH}<|im_end|>\n"
    rendered = processor.apply_chat_template(_video_messages(), tokenize=False, add_generation_prompt=True)
    assert rendered == system + video_turn + "<|im_start|>assistant\n"
    assert tokenizer.chat_template == processor.chat_template == CHAT_TEMPLATES[family]
    conversation = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "杀球"}]
    expected = system + "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n杀球<|im_end|>\n"
    assert tokenizer.apply_chat_template(conversation, tokenize=False) == expected


# What the real checkpoints' processor configs say (Qwen/Qwen2-VL-*, Qwen/Qwen2.5-VL-*-Instruct,
# Qwen/Qwen3-VL-*-Instruct); only the networks of the tiny models are small.
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
REAL_VIDEO_PROCESSORS = {
    "qwen2_vl": {"patch_size": 14, "merge_size": 2, "temporal_patch_size": 2, "do_sample_frames": False,
                 "size": {"shortest_edge": 3136, "longest_edge": 12845056}, "image_mean": CLIP_MEAN},
    "qwen3_vl": {"patch_size": 16, "merge_size": 2, "temporal_patch_size": 2, "do_sample_frames": True,
                 "fps": 2, "min_frames": 4, "max_frames": 768, "image_mean": [0.5] * 3, "image_std": [0.5] * 3,
                 "size": {"shortest_edge": 4096, "longest_edge": 25165824}},
}  # fmt: skip
REAL_VIDEO_PROCESSORS["qwen2_5_vl"] = REAL_VIDEO_PROCESSORS["qwen2_vl"]


@pytest.mark.parametrize("family", FAMILIES)
def test_processors_and_patches_are_the_real_checkpoints(loaded, family: str) -> None:
    model, processor = loaded[family]
    video = processor.video_processor
    for key, value in REAL_VIDEO_PROCESSORS[family].items():
        got = getattr(video, key)
        if key == "size":
            got = {k: getattr(got, k) for k in value}
        elif key.startswith("image_"):
            got, value = list(got), pytest.approx(value)
        assert got == value, key
    image = processor.image_processor
    assert (image.patch_size, image.merge_size) == (video.patch_size, video.merge_size)
    assert list(image.image_mean) == pytest.approx(list(video.image_mean))
    assert model.config.vision_config.patch_size == video.patch_size


def test_qwen3_vl_samples_frames_itself_unless_told_not_to(loaded) -> None:
    """The real Qwen3-VL processor re-samples at 2 fps by the metadata's positions in the whole clip:
    16 frames already taken from a 60-frame clip make it index past them."""
    _, processor = loaded["qwen3_vl"]
    text = processor.apply_chat_template(_video_messages(), tokenize=False, add_generation_prompt=True)
    indices = [round(i * 59 / 15) for i in range(16)]
    meta = {"fps": 30.0, "total_num_frames": 60, "frames_indices": indices}
    frames = _frames(16, 64)
    with pytest.raises(IndexError):
        processor(text=[text], videos=[frames], video_metadata=[meta], return_tensors="pt")
    inputs = processor(
        text=[text], videos=[frames], video_metadata=[meta], do_sample_frames=False, return_tensors="pt"
    )
    assert inputs["video_grid_thw"].tolist() == [[8, 4, 4]]  # 16 frames kept, 64 px = 4 patches of 16


def test_same_seed_same_weights(tmp_path: Path) -> None:
    def weights(seed: int, name: str) -> dict[str, torch.Tensor]:
        return load_file(build_tiny_model("qwen2_5_vl", tmp_path / name, seed=seed) / "model.safetensors")

    first, again, other = weights(0, "a"), weights(0, "b"), weights(1, "c")
    assert first.keys() == again.keys() and all(torch.equal(first[k], again[k]) for k in first)
    assert any(not torch.equal(first[k], other[k]) for k in first)
    assert (tmp_path / "a" / "tokenizer.json").read_bytes() == (
        tmp_path / "b" / "tokenizer.json"
    ).read_bytes()


def test_build_does_not_touch_global_rng(tmp_path: Path) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_tiny_videomae(tmp_path / "vm", seed=7)
    assert torch.equal(torch.rand(3), expected)


def test_unknown_family_lists_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="valid families") as error:
        build_tiny_model("llava", tmp_path)
    assert all(family in str(error.value) for family in ALL_FAMILIES)


def test_cli_refuses_non_empty_dir(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="--overwrite"):
        main(["--family", "videomae", "--output", str(tmp_path)])
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_cli_writes_logs_and_overwrites(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "model"
    caplog.set_level(logging.INFO, logger="shuttlesense.synthetic.tiny_models")
    assert main(["--family", "videomae", "--output", str(out), "--seed", "3"]) == 0
    assert str(out) in caplog.text and "RANDOM" in caplog.text and "parameters" in caplog.text
    # --overwrite replaces a previous tiny model, even of another family.
    assert main(["--family", "qwen2_vl", "--output", str(out), "--overwrite"]) == 0
    assert not (out / "preprocessor_config.json").exists()
    assert AutoModelForImageTextToText.from_pretrained(out).config.model_type == "qwen2_vl"


def test_cli_help_says_random(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "RANDOMLY initialised" in help_text and "knows nothing about badminton" in help_text


def test_videomae_classifies_into_18_strokes(tmp_path: Path) -> None:
    path = build_tiny_videomae(tmp_path / "videomae", seed=0, num_frames=8, image_size=56)
    model = AutoModelForVideoClassification.from_pretrained(path)
    processor = AutoImageProcessor.from_pretrained(path)
    clip = list(np.random.default_rng(0).integers(0, 256, (8, 96, 128, 3), dtype=np.uint8))
    inputs = processor(clip, return_tensors="pt")
    assert inputs["pixel_values"].shape == (1, 8, 3, 56, 56)
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape == (1, 18)
    assert [model.config.id2label[i] for i in range(18)] == CLASS_NAMES_EN
    assert getattr(model.config, MARKER) is True
