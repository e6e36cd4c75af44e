"""The data module the trainer and the evaluator share: read a split, turn a row into frames.

A split can come from a `prepare` output folder, a `save_to_disk` folder or a Hub id. Video
bytes are read undecoded (`Video(decode=False)`) and decoded here with decord at a frame count
and pixel budget, so `datasets` never needs torchcodec.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset, DatasetDict, Video, load_dataset, load_from_disk

from shuttlesense.data.video_io import (
    DecodedClip,
    FrameGrid,
    VideoDecodeError,
    VideoInfo,
    as_frame_array,
    decode_frames,
    fit_to_pixel_budget,
    probe_video,
    resize_frames,
    sample_indices,
)
from shuttlesense.paths import looks_local

REQUIRED_COLUMNS = ("video", "label")
SPLIT_ALIASES = {"val": "validation", "valid": "validation", "dev": "validation"}


@dataclass
class FrameSampling:
    """How many frames to take from a clip and how large: maps onto Qwen2/2.5/3-VL video inputs."""

    num_frames: int = field(
        default=16,
        metadata={
            "help": "Frames sampled uniformly over each clip (rounded up to even: Qwen-VL pairs frames)."
        },
    )
    fps: float | None = field(
        default=None,
        metadata={"help": "If set, sample this many frames per second instead (clamped to min/max_frames)."},
    )
    min_frames: int = field(default=4, metadata={"help": "Fewest frames per clip when sampling by fps."})
    max_frames: int = field(default=32, metadata={"help": "Most frames per clip when sampling by fps."})
    max_pixels: int = field(
        default=448 * 448,
        metadata={
            "help": "Pixel budget per frame (width x height); frames are scaled in the decoder to fit."
        },
    )

    def __post_init__(self) -> None:
        for name in ("num_frames", "min_frames", "max_frames", "max_pixels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1; got {getattr(self, name)}.")
        if self.fps is not None and self.fps <= 0:
            raise ValueError(f"fps must be positive (or unset); got {self.fps}.")
        if self.min_frames > self.max_frames:
            raise ValueError(f"min_frames ({self.min_frames}) is above max_frames ({self.max_frames}).")

    def frames_for(self, info: VideoInfo) -> int:
        """The number of frames to sample from a clip described by `info`."""
        if self.fps is None:
            count = self.num_frames
        else:
            count = min(self.max_frames, max(self.min_frames, round(info.duration * self.fps)))
        return max(2, 2 * math.ceil(count / 2))


class FixedFrameSampling(FrameSampling):
    """Exactly `num_frames` frames per clip: VideoMAE's positions fix the count (no fps, no rounding to even)."""

    def frames_for(self, info: VideoInfo) -> int:
        return self.num_frames


DEFAULT_ARRAY_FPS = 24.0
"""Frame rate assumed for a frame array given without `fps` (what transformers assumes without metadata)."""


def load_video(
    video: Any, sampling: FrameSampling, fps: float | None = None, grid: FrameGrid = FrameGrid()
) -> DecodedClip:
    """Sampled, scaled frames from a path, bytes or a (T, H, W, 3) uint8 frame array.

    Frames are scaled to `sampling.max_pixels` on the model's `grid`. A frame array is treated as
    the whole clip at `fps` (default 24): frames are sampled and scaled with the same rules as
    files, so an array of a file's frames gives the same clip.
    """
    if isinstance(video, memoryview):
        video = bytes(video)
    if isinstance(video, str | Path | bytes | bytearray):
        info = probe_video(video)
        return decode_frames(
            video, sampling.frames_for(info), max_pixels=sampling.max_pixels, grid=grid, info=info
        )
    frames = as_frame_array(video)
    if frames is None:
        raise TypeError(
            f"Cannot read a video from {type(video).__name__}; pass a path, bytes or a (T, H, W, 3) uint8 array."
        )
    fps = float(fps or DEFAULT_ARRAY_FPS)
    height, width = frames.shape[1:3]
    indices = sample_indices(len(frames), sampling.frames_for(VideoInfo(len(frames), fps, width, height)))
    sampled = frames[indices]
    new_w, new_h = fit_to_pixel_budget(width, height, sampling.max_pixels, grid.multiple, grid.min_pixels)
    if (new_w, new_h) != (width, height):
        sampled = resize_frames(sampled, new_w, new_h)
    return DecodedClip(np.ascontiguousarray(sampled), indices, fps, len(frames))


def _normalise_split(split: str) -> str:
    return SPLIT_ALIASES.get(split, split)


def load_split(dataset: str, split: str) -> Dataset:
    """One split of a prepared dataset (local folder, `save_to_disk` folder or Hub id), video undecoded."""
    split = _normalise_split(split)
    path = Path(dataset).expanduser()
    if path.is_dir() and (path / "dataset_dict.json").is_file():
        loaded = load_from_disk(str(path))
        if split not in loaded:
            raise ValueError(f"Dataset {dataset} has no split {split!r}; it has {sorted(loaded)}.")
        data = loaded[split]
    elif path.is_dir() and (path / "state.json").is_file():
        data = load_from_disk(str(path))
    elif path.exists() and not path.is_dir():
        raise ValueError(f"Dataset {dataset} is a file; give a prepared dataset folder or a Hub id.")
    elif not path.exists() and looks_local(dataset):
        raise FileNotFoundError(f"Dataset folder not found: {dataset}")
    else:
        try:
            data = load_dataset(str(path) if path.exists() else dataset, split=split)
        except ValueError as err:
            if "corresponds to no data" in str(err):
                raise ValueError(f"Dataset {dataset} has an empty split {split!r}.") from err
            if "split" in str(err).lower():
                raise ValueError(f"Dataset {dataset} has no split {split!r}: {err}") from err
            raise ValueError(f"Cannot load split {split!r} of dataset {dataset}: {err}") from err
    return check_columns(data, dataset).cast_column("video", Video(decode=False))


def check_columns(data: Dataset | DatasetDict, name: str) -> Dataset | DatasetDict:
    """Fail early, naming the dataset, if the columns training and evaluation need are missing."""
    columns = data.column_names if isinstance(data, Dataset) else next(iter(data.values())).column_names
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ValueError(
            f"Dataset {name} lacks column(s) {missing} (has {columns}); prepare it with `shuttlesense prepare`."
        )
    if isinstance(data, Dataset) and len(data) == 0:
        raise ValueError(f"Dataset {name} has an empty split.")
    return data


def row_info(row: dict[str, Any]) -> VideoInfo | None:
    """The probe stored in a prepared row, so decoding can skip re-reading the clip's header."""
    keys = ("num_frames", "fps", "width", "height")
    if all(row.get(k) for k in keys):
        return VideoInfo(int(row["num_frames"]), float(row["fps"]), int(row["width"]), int(row["height"]))
    return None


def row_video(row: dict[str, Any]) -> Any:
    """A dataset row's video as stored: its bytes, else its path."""
    video = row["video"]
    source = (video.get("bytes") or video.get("path")) if isinstance(video, dict) else video
    if source is None:
        raise ValueError(f"Row {row.get('id', '?')} has neither video bytes nor a path.")
    return source


def load_clip(row: dict[str, Any], sampling: FrameSampling, grid: FrameGrid = FrameGrid()) -> DecodedClip:
    """Decode the frames of one dataset row (video stored as bytes or as a path) on the model's grid."""
    source = row_video(row)
    info = row_info(row)
    count = sampling.frames_for(info) if info else sampling.num_frames
    return decode_frames(source, count, max_pixels=sampling.max_pixels, grid=grid, info=info)


def clip_id(row: dict[str, Any]) -> str:
    """A human-readable name for a row in error messages: its id, else its video path."""
    if row.get("id"):
        return str(row["id"])
    video = row.get("video")
    path = video.get("path") if isinstance(video, dict) else None
    return str(path) if path else "<row without id>"


class ClipCache:
    """Decoded training clips by row id, least recently used dropped first (`size` 0: no cache).

    Why: small datasets (and every CPU run) decode the same clips every epoch; decoding costs more
    than the tiny models' steps. A corrupt clip stops training with an error naming its row.
    """

    def __init__(self, sampling: FrameSampling, size: int = 0, grid: FrameGrid = FrameGrid()) -> None:
        self.sampling, self.size, self.grid = sampling, size, grid
        self._clips: OrderedDict[str, DecodedClip] = OrderedDict()

    def get(self, row: dict[str, Any]) -> DecodedClip:
        key = clip_id(row)
        if key in self._clips:
            self._clips.move_to_end(key)
            return self._clips[key]
        try:
            clip = load_clip(row, self.sampling, self.grid)
        except (ValueError, OSError) as err:
            raise VideoDecodeError(
                f"Training clip {key!r} cannot be decoded: {err}. Prepared datasets hold only "
                "readable clips; re-run `shuttlesense prepare` or remove this clip from the dataset."
            ) from err
        if self.size > 0:
            self._clips[key] = clip
            if len(self._clips) > self.size:
                self._clips.popitem(last=False)
        return clip
