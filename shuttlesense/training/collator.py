"""Turn dataset rows into Qwen-VL training batches with the loss on the answer only.

TRL's SFTTrainer has no video path of its own (it detects vision data by `image` columns only)
and its `assistant_only_loss` raises for VLMs, so training uses this collator with
`dataset_kwargs={"skip_prepare_dataset": True}` and `remove_unused_columns=False`. It decodes
each clip itself (no torchcodec needed), renders the shared conversation format and supervises
only the class name and the `<|im_end|>` that ends it: the model learns to name the stroke and
stop, nothing about the prompt or the video tokens.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import ProcessorMixin

from shuttlesense.data.loading import ClipCache, FrameSampling, clip_id
from shuttlesense.data.video_io import DecodedClip
from shuttlesense.inference.conversation import (
    answer_token_ids,
    completion_token_ids,
    frame_grid,
    full_text,
    video_processor_kwargs,
)
from shuttlesense.labels import by_id, prompt

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100
"""Label value the loss (and `training.metrics`) ignore."""


@dataclass(frozen=True)
class _Target:
    """What the collator needs per class: the rendered text, its completion tail, supervised count."""

    text: str
    completion: tuple[int, ...]  # answer tokens, <|im_end|>, then what the template adds (newline)
    supervised: int  # how many leading completion tokens carry loss (answer + <|im_end|>)


@dataclass
class VideoSFTCollator:
    """Decode clips, render prompt + class name, run the processor and mask labels to the answer.

    Pads on the right and never truncates: a sequence longer than `max_length` raises (cutting
    inside the video span breaks the model with "Video features and video tokens do not match").
    Every tensor the processor returns (`pixel_values_videos`, `video_grid_thw`, Qwen2.5-VL's
    `second_per_grid_ts`, ...) is passed through for the model's forward.
    """

    processor: ProcessorMixin = field(repr=False)
    sampling: FrameSampling
    language: str = "zh"
    max_length: int | None = None
    cache_size: int = 0  # decoded clips kept in memory, by clip id (0: decode every time)
    _cache: ClipCache | None = field(default=None, init=False, repr=False)
    _targets: dict[int, _Target] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        prompt(self.language)  # fail at construction on an unknown language, not in the first step
        if self.max_length is not None and self.max_length <= 0:
            raise ValueError(f"max_length must be positive or None, got {self.max_length}.")

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if not rows:
            raise ValueError("VideoSFTCollator got an empty batch.")
        clips = [self._decode(row) for row in rows]
        targets = [self._target(int(row["label"])) for row in rows]
        batch = self.processor(
            text=[t.text for t in targets],
            videos=[clip.frames for clip in clips],
            padding=True,
            padding_side="right",
            return_tensors="pt",
            **video_processor_kwargs(self.processor, clips),
        )
        lengths = self._lengths(batch["attention_mask"], rows)
        batch["labels"] = self._labels(batch["input_ids"], lengths, targets, rows)
        return dict(batch)

    def _decode(self, row: dict[str, Any]) -> DecodedClip:
        """Decode one clip (or reuse it from the LRU cache); a corrupt one stops training with its id."""
        if self._cache is None:
            self._cache = ClipCache(self.sampling, self.cache_size, frame_grid(self.processor))
        return self._cache.get(row)

    def _target(self, label: int) -> _Target:
        """Rendered text and answer tokens of class `label`, computed once per class."""
        if label not in self._targets:
            answer = by_id(label).name(self.language)
            completion = completion_token_ids(self.processor, self.language, answer)
            supervised = len(answer_token_ids(self.processor, self.language, answer))
            text = full_text(self.processor, self.language, answer)
            self._targets[label] = _Target(text, tuple(completion), supervised)
        return self._targets[label]

    def _lengths(self, attention_mask: torch.Tensor, rows: list[dict[str, Any]]) -> list[int]:
        """Real (unpadded) lengths; checks right padding and `max_length` without truncating."""
        lengths = [int(n) for n in attention_mask.sum(dim=1)]
        for row, mask, length in zip(rows, attention_mask, lengths, strict=True):
            if not bool(mask[:length].all()):
                raise ValueError(f"Clip {clip_id(row)!r}: the processor did not pad on the right.")
            if self.max_length is not None and length > self.max_length:
                raise ValueError(
                    f"Clip {clip_id(row)!r} needs {length} tokens, more than max_length={self.max_length}. "
                    "Sequences are never truncated (cutting the video span breaks the model); sample "
                    "fewer frames (num_frames, or fps/max_frames), lower max_pixels, or raise max_length."
                )
        return lengths

    def _labels(
        self, input_ids: torch.Tensor, lengths: list[int], targets: list[_Target], rows: list[dict[str, Any]]
    ) -> torch.Tensor:
        """-100 everywhere except each row's answer tokens and the `<|im_end|>` after them."""
        labels = torch.full_like(input_ids, IGNORE_INDEX)
        for i, (length, target) in enumerate(zip(lengths, targets, strict=True)):
            start = length - len(target.completion)
            if start <= 0 or input_ids[i, start:length].tolist() != list(target.completion):
                raise ValueError(
                    f"Clip {clip_id(rows[i])!r}: the processed tokens do not end with the answer turn "
                    f"{list(target.completion)}; the processor changed the text after the prompt."
                )
            stop = start + target.supervised
            labels[i, start:stop] = input_ids[i, start:stop]
        return labels
