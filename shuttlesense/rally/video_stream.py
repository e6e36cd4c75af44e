"""Read a match video once, front to back, and stop cleanly where it is damaged.

Why one reader: an hour of match video must be read sequentially (no per-segment seeks, nothing
kept that is not needed), and a file cut short by a crash or a copy must give everything before
the damage plus where and why it stopped, not an exception that throws the hour away. Both hit
detectors and the frame collector of `frame_collector` read through it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shuttlesense.data.video_io import decoder_message
from shuttlesense.rally.hit_detection import HitDetectionError, open_video, video_duration

logger = logging.getLogger(__name__)

SHORT_BY_S = 0.5
"""A stream that ends this much before the duration its file states was cut short."""


@dataclass(frozen=True)
class StoppedAt:
    """Where reading stopped early (seconds into the video) and why."""

    time: float
    reason: str

    def to_dict(self) -> dict[str, float | str]:
        return {"time": round(self.time, 3), "reason": self.reason}


class VideoStream:
    """One sequential pass over a file's video or audio stream (open one per pass).

    `stopped` is set when the stream ends in a decode error after at least one good frame; a file
    without a single readable frame raises `HitDetectionError` naming it.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.container = open_video(self.path)
        self.duration = video_duration(self.container)
        self.stopped: StoppedAt | None = None
        video = self.container.streams.video[0] if self.container.streams.video else None
        self.has_video = video is not None
        self.has_audio = bool(self.container.streams.audio)
        self.fps = float(video.average_rate or video.guessed_rate or 0) if video is not None else 0.0
        self.width = video.codec_context.width if video is not None else 0
        self.height = video.codec_context.height if video is not None else 0

    def __enter__(self) -> VideoStream:
        return self

    def __exit__(self, *exc) -> None:
        self.container.close()

    def _decode(self, stream, what: str) -> Iterator:
        last = 0.0
        iterator = self.container.decode(stream)
        while True:
            try:
                frame = next(iterator)
            except StopIteration:
                said = float(stream.duration * stream.time_base) if stream.duration else self.duration
                if said and last < said - SHORT_BY_S:  # threaded decoders end quietly at damage
                    message = (
                        f"the {what} ends at {last:.2f} s although the file says {said:.2f} s (cut short?)"
                    )
                    logger.warning("%s: %s; analysing what came before", self.path.name, message)
                    self.stopped = StoppedAt(last, message)
                return
            except Exception as err:  # av.error.* : truncated or corrupt data
                message = f"cannot decode the {what} after {last:.2f} s: {decoder_message(err)}"
                if last == 0.0:
                    raise HitDetectionError(f"Cannot read {self.path}: {message}") from err
                logger.warning("%s: %s; analysing what came before", self.path.name, message)
                self.stopped = StoppedAt(last, message)
                return
            last = float(frame.time) if frame.time is not None else last
            yield frame

    def require_video(self) -> None:
        """Raise `HitDetectionError` naming the file unless it has pictures at a frame rate."""
        if not self.has_video:
            raise HitDetectionError(f"Video {self.path} has no video stream.")
        if self.fps <= 0:
            raise HitDetectionError(f"Video {self.path} has no frame rate.")

    def video_frames(self) -> Iterator:
        """Decoded `av.VideoFrame`s in presentation order (the decoder uses every core)."""
        self.require_video()
        stream = self.container.streams.video[0]
        stream.thread_type = "AUTO"
        yield from self._decode(stream, "video")

    def audio_frames(self) -> Iterator:
        """Decoded `av.AudioFrame`s of the first audio stream (nothing if there is none)."""
        if self.has_audio:
            yield from self._decode(self.container.streams.audio[0], "audio")


def gray_size(width: int, height: int, max_width: int) -> tuple[int, int]:
    """The detector's working size: `max_width` wide at most (never upscaled), the aspect kept."""
    new_width = min(max_width, width)
    new_height = max(2, int(round(height * new_width / width)))
    return new_width, new_height


def gray(frame, size: tuple[int, int]) -> np.ndarray:
    """One decoded frame as uint8 greyscale at `size` (width, height)."""
    return frame.to_ndarray(width=size[0], height=size[1], format="gray")
