"""The SFT collator: loss only on the class name + <|im_end|>, processor tensors passed through, clear errors."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from shuttlesense.data.loading import FrameSampling, load_clip, load_split
from shuttlesense.data.video_io import VideoDecodeError
from shuttlesense.inference.conversation import (
    answer_token_ids,
    build_messages,
    full_text,
    prompt_text,
    video_processor_kwargs,
)
from shuttlesense.labels import by_id, prompt
from shuttlesense.synthetic.tiny_models import FAMILIES
from shuttlesense.training.collator import IGNORE_INDEX, VideoSFTCollator

SAMPLING = FrameSampling(num_frames=4, max_pixels=112 * 84)
LANGUAGES = ("zh", "en")


@pytest.fixture(scope="session")
def processors(tiny_model_dirs: dict[str, Path]) -> dict[str, Any]:
    return {family: AutoProcessor.from_pretrained(path) for family, path in tiny_model_dirs.items()}


@pytest.fixture(scope="session")
def rows(prepared_dataset: Path, processors: dict[str, Any]) -> list[dict[str, Any]]:
    """Three train rows of different classes: the longest and shortest English names and one between.

    Different answer lengths give different sequence lengths, so the batch really needs padding.
    """
    split = load_split(str(prepared_dataset), "train")
    first_of_label: dict[int, int] = {}
    for index, label in enumerate(split["label"]):
        first_of_label.setdefault(label, index)
    tokenizer = processors["qwen2_vl"].tokenizer
    by_length = sorted(first_of_label, key=lambda label: len(tokenizer(by_id(label).en)["input_ids"]))
    chosen = [by_length[-1], by_length[0], by_length[len(by_length) // 2]]
    assert len(set(chosen)) == 3
    return [split[first_of_label[label]] for label in chosen]


def _collate(
    processor: Any, rows: list[dict], language: str = "zh", **kwargs: Any
) -> dict[str, torch.Tensor]:
    return VideoSFTCollator(processor, SAMPLING, language=language, **kwargs)(rows)


def test_messages_follow_the_processor_chat_format() -> None:
    assert build_messages("en") == [
        {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": prompt("en")}]}
    ]
    with_answer = build_messages("zh", "杀球")
    assert with_answer[1] == {"role": "assistant", "content": [{"type": "text", "text": "杀球"}]}
    with pytest.raises(ValueError, match="Unknown language"):
        build_messages("fr")


@pytest.mark.parametrize("family", FAMILIES)
def test_rendering_and_answer_tokens(processors: dict[str, Any], family: str) -> None:
    processor = processors[family]
    head = prompt_text(processor, "zh")
    assert head.endswith("<|im_start|>assistant\n") and "<|video_pad|>" in head
    assert full_text(processor, "zh", "杀球") == head + "杀球<|im_end|>\n"
    ids = answer_token_ids(processor, "en", "Rear Court Flat Drive")
    assert processor.tokenizer.decode(ids) == "Rear Court Flat Drive<|im_end|>"
    without_end = answer_token_ids(processor, "en", "Rear Court Flat Drive", include_end=False)
    assert without_end == ids[:-1]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("family", FAMILIES)
def test_labels_are_exactly_answer_and_turn_end(processors, rows, family: str, language: str) -> None:
    processor = processors[family]
    batch = _collate(processor, rows, language)
    tokenizer = processor.tokenizer
    lengths = batch["attention_mask"].sum(dim=1)
    if language == "en":  # Chinese names are single tokens in the tiny tokenizer; English ones are not
        assert len(set(lengths.tolist())) > 1, "rows of different answer lengths need padding"
    vision_ids = set(tokenizer.convert_tokens_to_ids(["<|video_pad|>", "<|vision_start|>", "<|vision_end|>"]))
    for i, row in enumerate(rows):
        ids, labels, length = batch["input_ids"][i], batch["labels"][i], int(lengths[i])
        assert batch["attention_mask"][i, :length].all() and not batch["attention_mask"][i, length:].any()
        positions = (labels != IGNORE_INDEX).nonzero().flatten().tolist()
        assert positions == list(range(positions[0], positions[-1] + 1)), "one contiguous span"
        assert torch.equal(labels[positions], ids[positions])
        answer = by_id(row["label"]).name(language)
        assert tokenizer.decode(ids[positions]) == answer + "<|im_end|>"
        assert not vision_ids & set(ids[positions].tolist())
        # Nothing after <|im_end|> is supervised: the template's newline is the last real token.
        assert positions[-1] == length - 2 and tokenizer.decode(ids[length - 1]) == "\n"
        assert tokenizer.decode(ids[: positions[0]]).endswith("<|im_start|>assistant\n")
        assert (labels[length:] == IGNORE_INDEX).all() and (labels[: positions[0]] == IGNORE_INDEX).all()


@pytest.mark.parametrize("family", FAMILIES)
def test_forward_with_the_batch_gives_a_finite_loss(tiny_model_dirs, processors, rows, family: str) -> None:
    batch = _collate(processors[family], rows, "en")
    assert {"input_ids", "attention_mask", "labels", "pixel_values_videos", "video_grid_thw"} <= set(batch)
    if family == "qwen2_5_vl":
        assert batch["second_per_grid_ts"].shape == (len(rows),)
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dirs[family])
    loss = model(**batch).loss
    assert torch.isfinite(loss) and loss.item() > 0
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl", "qwen3_vl"])
def test_the_reference_per_frame_pixel_cap_leaves_our_frames_as_they_are(processors, rows, family) -> None:
    processor, clips = processors[family], [load_clip(row, SAMPLING) for row in rows[:1]]
    kwargs = video_processor_kwargs(processor, clips)
    assert kwargs.pop("cap_pixels_per_frame") is True
    capped = processor.video_processor(videos=[clips[0].frames], cap_pixels_per_frame=True, **kwargs)
    plain = processor.video_processor(videos=[clips[0].frames], cap_pixels_per_frame=False, **kwargs)
    assert capped["video_grid_thw"].tolist() == plain["video_grid_thw"].tolist()
    assert torch.equal(capped["pixel_values_videos"], plain["pixel_values_videos"])


def test_video_metadata_goes_where_it_matters(processors, rows) -> None:
    clips = [load_clip(row, SAMPLING) for row in rows]
    # Our frames are final: no processor samples again (real Qwen3-VL checkpoints would).
    assert video_processor_kwargs(processors["qwen2_vl"], clips) == {
        "do_sample_frames": False,
        "cap_pixels_per_frame": True,
    }
    for family in ("qwen2_5_vl", "qwen3_vl"):
        assert video_processor_kwargs(processors[family], clips)["do_sample_frames"] is False
        meta = video_processor_kwargs(processors[family], clips)["video_metadata"]
        assert meta[0] == {
            "fps": clips[0].fps,
            "total_num_frames": clips[0].total_frames,
            "frames_indices": clips[0].indices,
        }
    # Qwen2.5-VL: temporal rope spacing from the real sampled fps, not the 24 fps fallback.
    batch = _collate(processors["qwen2_5_vl"], rows)
    sampled_fps = [len(c.indices) / c.total_frames * c.fps for c in clips]
    expected = torch.tensor([2 / fps for fps in sampled_fps])
    torch.testing.assert_close(batch["second_per_grid_ts"].float(), expected)
    # Qwen3-VL: per-frame-pair timestamps written into the prompt from the clip's indices and fps.
    batch = _collate(processors["qwen3_vl"], rows)
    text = processors["qwen3_vl"].tokenizer.decode(batch["input_ids"][0])
    stamps = [float(s) for s in re.findall(r"<(\d+\.\d) seconds>", text)]
    idx, fps = clips[0].indices, clips[0].fps
    assert stamps == [round((idx[k] + idx[k + 1]) / 2 / fps, 1) for k in range(0, len(idx), 2)]


def test_too_long_sequences_fail_with_a_clear_message(processors, rows) -> None:
    longest = int(_collate(processors["qwen2_vl"], rows)["attention_mask"].sum(dim=1).max())
    _collate(processors["qwen2_vl"], rows, max_length=longest)  # exactly fits: no error
    with pytest.raises(ValueError, match=r"needs \d+ tokens, more than max_length=20") as err:
        _collate(processors["qwen2_vl"], rows, max_length=20)
    message = str(err.value)
    assert rows[0]["id"] in message and "fewer frames" in message and "max_pixels" in message


def test_corrupt_clip_names_its_id(processors, rows) -> None:
    broken = {"id": "broken-clip-007", "video": {"bytes": b"not a video at all", "path": None}, "label": 3}
    with pytest.raises(VideoDecodeError, match="broken-clip-007"):
        _collate(processors["qwen2_vl"], [rows[0], broken])


def test_left_padding_tokenizer_still_gets_right_padded_batches(tiny_model_dirs, rows) -> None:
    processor = AutoProcessor.from_pretrained(tiny_model_dirs["qwen2_vl"])
    processor.tokenizer.padding_side = "left"  # what some Hub checkpoints ship for generation
    batch = _collate(processor, rows, "en")
    for mask, labels in zip(batch["attention_mask"], batch["labels"], strict=True):
        length = int(mask.sum())
        assert mask[:length].all() and labels[length - 2] != IGNORE_INDEX


def test_template_whose_prompt_is_not_a_prefix_fails_clearly(processors) -> None:
    real = processors["qwen2_vl"]

    def apply_chat_template(messages, tokenize=False, add_generation_prompt=False):
        text = real.apply_chat_template(
            messages, tokenize=tokenize, add_generation_prompt=add_generation_prompt
        )
        return text + "<think>\n" if add_generation_prompt else text

    odd = SimpleNamespace(tokenizer=real.tokenizer, apply_chat_template=apply_chat_template)
    with pytest.raises(ValueError, match="not a token prefix"):
        answer_token_ids(odd, "zh", "杀球")


def test_unknown_language_fails_at_construction(processors) -> None:
    with pytest.raises(ValueError, match="Unknown language"):
        VideoSFTCollator(processors["qwen2_vl"], SAMPLING, language="de")


def test_template_that_adds_text_before_the_answer_warns(processors, caplog) -> None:
    real = processors["qwen2_vl"]

    def apply_chat_template(messages, tokenize=False, add_generation_prompt=False):
        text = real.apply_chat_template(
            messages, tokenize=tokenize, add_generation_prompt=add_generation_prompt
        )
        return (
            text.replace("assistant\n", "assistant\n<think>\n\n</think>\n\n") if len(messages) > 1 else text
        )

    thinking = SimpleNamespace(tokenizer=real.tokenizer, apply_chat_template=apply_chat_template)
    with caplog.at_level("WARNING", logger="shuttlesense.inference.conversation"):
        ids = answer_token_ids(thinking, "en", "Smash")
    assert real.tokenizer.decode(ids) == "<think>\n\n</think>\n\nSmash<|im_end|>"
    assert "not just the answer" in caplog.text


def test_clip_cache_decodes_each_clip_once_and_stays_bounded(processors, rows, monkeypatch) -> None:
    decoded: list[str] = []

    def counting_load_clip(row, sampling, grid):
        decoded.append(row["id"])
        return load_clip(row, sampling, grid)

    monkeypatch.setattr("shuttlesense.data.loading.load_clip", counting_load_clip)
    collator = VideoSFTCollator(processors["qwen2_5_vl"], SAMPLING, cache_size=2)
    first = collator(rows[:2])
    again = collator(rows[:2])
    assert decoded == [rows[0]["id"], rows[1]["id"]], "cached clips are not decoded again"
    torch.testing.assert_close(first["pixel_values_videos"], again["pixel_values_videos"])
    collator(rows[2:3])
    cached = collator._cache._clips
    assert len(cached) == 2 and rows[0]["id"] not in cached, "least recently used dropped"
