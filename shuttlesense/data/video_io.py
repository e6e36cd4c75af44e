"""Probe and decode clips with decord, from a path or from the bytes a dataset row embeds.

We decode frames ourselves instead of handing paths to transformers: its path loader needs
torchcodec + FFmpeg shared libraries that a fresh machine lacks. Scaling happens inside the
decoder (decord's `width`/`height`), which is what makes this loader faster than decoding at
full resolution and resizing afterwards.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

VideoSource = str | Path | bytes | bytearray


class VideoDecodeError(ValueError):
    """A clip cannot be read: corrupt, truncated, not a video, or without frames."""


@dataclass(frozen=True)
class VideoInfo:
    """What `probe_video` learns about a clip."""

    num_frames: int
    fps: float
    width: int
    height: int

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps if self.fps > 0 else 0.0


def _describe(source: VideoSource) -> str:
    return f"{len(source)} bytes of video" if isinstance(source, bytes | bytearray) else str(source)


def _reader(source: VideoSource, width: int = -1, height: int = -1):
    import decord

    if isinstance(source, bytes | bytearray):
        handle = io.BytesIO(bytes(source))
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"Video file not found: {path}")
        handle = str(path)
    try:
        return decord.VideoReader(handle, ctx=decord.cpu(0), width=width, height=height, num_threads=1)
    except Exception as err:  # decord raises its own DECORDError (a RuntimeError) or others
        raise VideoDecodeError(f"Cannot read video {_describe(source)}: {decoder_message(err)}") from err


def probe_video(source: VideoSource, to_the_end: bool = False) -> VideoInfo:
    """Frame count, fps and size of a clip; raises `VideoDecodeError` if it has no readable frame.

    `to_the_end` also decodes the last frame: a truncated file whose index sits at its start
    (`+faststart`) reads fine at frame 0 and fails only where its bytes stop.
    """
    reader = _reader(source)
    num_frames = len(reader)
    if num_frames == 0:
        raise VideoDecodeError(f"Video {_describe(source)} has no frames.")
    height, width = reader[0].shape[:2]
    if to_the_end and num_frames > 1:
        try:
            reader[num_frames - 1]
        except Exception as err:
            raise VideoDecodeError(
                f"Video {_describe(source)} cannot be read to the end (frame {num_frames} of {num_frames}: "
                f"{decoder_message(err)}); it is probably truncated."
            ) from err
    return VideoInfo(num_frames, float(reader.get_avg_fps()), int(width), int(height))


def decoder_message(err: BaseException) -> str:
    """A decoder error without the library's internals (build paths, source lines, timestamps)."""
    text = re.sub(r"\[\d{2}:\d{2}:\d{2}\]\s*", "", str(err))
    text = re.sub(r"\S+\.(cc|cpp|c|h):\d+:\s*", "", text)
    text = " ".join(text.split())
    return (text[:160] + "...") if len(text) > 160 else text or type(err).__name__


def sample_indices(num_frames_in_clip: int, num_samples: int, shift: float = 0.0) -> list[int]:
    """`num_samples` frame indices spread uniformly over the clip (repeats for 1-2 frame clips).

    `shift` moves the whole grid by that fraction of the gap between two samples (kept inside
    the clip): the temporal views of multi-view testing (`view_shifts`).
    """
    if num_frames_in_clip <= 0:
        raise ValueError("A clip needs at least one frame.")
    if num_samples <= 0:
        raise ValueError("num_samples must be positive.")
    if num_samples == 1:
        return [num_frames_in_clip // 2]
    positions = np.linspace(0, num_frames_in_clip - 1, num_samples)
    positions = positions + shift * (num_frames_in_clip - 1) / (num_samples - 1)
    return [int(i) for i in np.round(np.clip(positions, 0, num_frames_in_clip - 1))]


def view_shifts(num_views: int) -> list[float]:
    """The grid shifts of `num_views` temporal views, evenly interleaved around the plain sampling
    (one view: no shift; three: -1/3, 0, +1/3 of the gap between sampled frames)."""
    if num_views < 1:
        raise ValueError(f"num_views must be at least 1; got {num_views}.")
    return [(view - (num_views - 1) / 2) / num_views for view in range(num_views)]


@dataclass(frozen=True)
class FrameGrid:
    """Frame sizes a model's processor takes as they are, so frames are resized once, in the decoder.

    Qwen-VL processors resize every frame to sides that are multiples of patch size x spatial merge
    (28 for Qwen2/2.5-VL, 32 for Qwen3-VL) and to at least their minimum pixel count; a frame that
    already fits passes unchanged. `shuttlesense.inference.conversation.frame_grid` reads it from a
    processor.
    """

    multiple: int = 28
    min_pixels: int = 0


def fit_to_pixel_budget(
    width: int, height: int, max_pixels: int, multiple: int = 28, min_pixels: int = 0
) -> tuple[int, int]:
    """The clip's size rounded to sides that are multiples of `multiple`, scaled to fit the budget.

    The same rule as Qwen-VL's `smart_resize`: scaled down to at most `max_pixels`, or up to at
    least `min_pixels` (the processor's floor wins over our budget), so the processor does not
    have to resize the frames again.
    """
    new_w = max(multiple, round(width / multiple) * multiple)
    new_h = max(multiple, round(height / multiple) * multiple)
    if new_w * new_h > max_pixels:
        beta = math.sqrt(width * height / max_pixels)
        new_w = max(multiple, math.floor(width / beta / multiple) * multiple)
        new_h = max(multiple, math.floor(height / beta / multiple) * multiple)
    if new_w * new_h < min_pixels:
        beta = math.sqrt(min_pixels / (width * height))
        new_w = math.ceil(width * beta / multiple) * multiple
        new_h = math.ceil(height * beta / multiple) * multiple
    return new_w, new_h


@dataclass(frozen=True)
class DecodedClip:
    """Sampled frames plus what Qwen3-VL's processor wants to know about them (fps, indices)."""

    frames: np.ndarray  # (T, H, W, 3) uint8
    indices: list[int]
    fps: float
    total_frames: int


def decode_frames(
    source: VideoSource,
    num_frames: int = 16,
    max_pixels: int | None = 448 * 448,
    grid: FrameGrid = FrameGrid(),
    info: VideoInfo | None = None,
    shift: float = 0.0,
) -> DecodedClip:
    """Decode `num_frames` uniformly sampled RGB frames, scaled in the decoder to fit `max_pixels`
    on the model's `grid` (None: full size, no scaling); `shift`: see `sample_indices`.

    Pass `info` (e.g. from the dataset's probe columns) to skip the extra container open that
    reads the clip's size.
    """
    return decode_views(source, num_frames, [shift], max_pixels, grid, info)[0]


def decode_views(
    source: VideoSource,
    num_frames: int,
    shifts: Sequence[float],
    max_pixels: int | None = 448 * 448,
    grid: FrameGrid = FrameGrid(),
    info: VideoInfo | None = None,
) -> list[DecodedClip]:
    """One clip per grid shift (`decode_frames`), their frames decoded together in one pass."""
    info = info or probe_video(source)
    width = height = -1
    if max_pixels is not None:
        width, height = fit_to_pixel_budget(
            info.width, info.height, max_pixels, grid.multiple, grid.min_pixels
        )
    reader = _reader(source, width, height)
    available = len(reader)
    if available == 0:
        raise VideoDecodeError(f"Video {_describe(source)} has no frames.")
    views = [sample_indices(available, num_frames, shift) for shift in shifts]
    wanted = sorted({index for view in views for index in view})
    try:
        frames = reader.get_batch(wanted).asnumpy()
    except Exception as err:
        raise VideoDecodeError(
            f"Cannot decode frames of {_describe(source)}: {decoder_message(err)}"
        ) from err
    row = {index: i for i, index in enumerate(wanted)}
    return [  # one view of distinct frames is the decoded batch itself: no copy
        DecodedClip(frames if view == wanted else frames[[row[i] for i in view]], view, info.fps, available)
        for view in views
    ]


def as_frame_array(video: Any) -> np.ndarray | None:
    """A (T, H, W, 3) uint8 array for frame inputs (array, tensor, list of frames), else None."""
    if hasattr(video, "detach") and hasattr(video, "numpy"):  # a torch tensor, without importing torch
        video = video.detach().cpu().numpy()
    elif isinstance(video, list | tuple) and video and hasattr(video[0], "shape"):
        video = np.stack([np.asarray(frame) for frame in video])
    if not isinstance(video, np.ndarray):
        return None
    if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8 or len(video) == 0:
        raise ValueError(
            f"Frame input must be a uint8 array of shape (T, H, W, 3); got {video.dtype} {tuple(video.shape)}."
        )
    return video


def resize_frames(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """Antialiased bilinear resize of (T, H, W, 3) uint8 frames (for frame-array inputs)."""
    import torch

    tensor = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    tensor = torch.nn.functional.interpolate(tensor, size=(height, width), mode="bilinear", antialias=True)
    return tensor.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
