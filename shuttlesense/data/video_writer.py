"""Write RGB frames (and optional mono audio) as a reproducible H.264/AAC mp4 with PyAV.

Shared by the synthetic-data writers. Reproducibility matters more than speed here: tests and
cached datasets compare files byte for byte, so x264 runs single-threaded without mb-tree (see
`write_video`) and the muxer runs in bit-exact mode (no library version string; the mp4
creation times stay zero).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

logger = logging.getLogger(__name__)

AUDIO_FRAME_SAMPLES = 1024  # one AAC frame


def _fps_fraction(fps: float) -> Fraction:
    """Frame rate as an exact fraction (29.97 -> 30000/1001): the encoder wants a rational."""
    rate = Fraction(fps).limit_denominator(1001)
    if rate <= 0:
        raise ValueError(f"fps must be positive, got {fps}.")
    return rate


def check_frame_size(width: int, height: int) -> None:
    """Fail early on sizes H.264 yuv420p cannot store (odd) or too small to show anything."""
    if width % 2 or height % 2 or width < 16 or height < 16:
        raise ValueError(
            f"Frame size must be even and at least 16x16 for H.264 yuv420p, got {width}x{height}."
        )


def _check_frame(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"Frames must be uint8 HxWx3 RGB arrays, got {frame.dtype} {frame.shape}.")
    return frame


class _AudioFeeder:
    """Encodes mono float audio in AAC-frame chunks, interleaved with the video as it advances."""

    def __init__(self, container: av.container.OutputContainer, audio: np.ndarray, sample_rate: int):
        self.container, self.sample_rate = container, sample_rate
        self.samples = np.clip(np.asarray(audio, dtype=np.float32).reshape(-1), -1.0, 1.0)
        self.stream = container.add_stream("aac", rate=sample_rate, layout="mono")
        self.cursor = 0

    def feed_until(self, seconds: float | None) -> None:
        """Encode every whole AAC frame that starts before `seconds` (None: everything left)."""
        stop = (
            len(self.samples) if seconds is None else min(len(self.samples), int(seconds * self.sample_rate))
        )
        while self.cursor < stop:
            chunk = self.samples[None, self.cursor : self.cursor + AUDIO_FRAME_SAMPLES]
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = self.sample_rate, self.cursor
            self.container.mux(self.stream.encode(frame))
            self.cursor += AUDIO_FRAME_SAMPLES
        if seconds is None:
            self.container.mux(self.stream.encode(None))


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: float,
    *,
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
    crf: int = 20,
    preset: str = "veryfast",
) -> int:
    """Encode uint8 RGB `frames` (each HxWx3) to `path`; returns the number of frames written.

    `frames` may be a generator so long videos never sit in memory at once. With `audio` (mono
    float in [-1, 1]) an AAC track starting at t=0 is added; decoders drop the AAC priming, so
    sample k is heard at k / sample_rate seconds. The "veryfast" preset keeps x264's B-frame
    pyramid, like real camera exports, so readers face the same frame types as on real clips.
    """
    path, rate = Path(path), _fps_fraction(fps)
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise ValueError(f"No frames to write to {path}.")
    height, width = _check_frame(first).shape[:2]
    check_frame_size(width, height)
    count = 0
    with av.open(str(path), "w", format="mp4", container_options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.thread_count = 1  # multi-threaded x264 is not guaranteed byte-reproducible
        # mbtree=0: with macroblock-tree rate control (and B-frames) this x264 build reads
        # uninitialised memory at some frame sizes (e.g. 320x240, 112x112), so the same input
        # gave different bytes depending on the heap's history. Without it, output is stable.
        stream.options = {"preset": preset, "crf": str(crf), "threads": "1", "x264-params": "mbtree=0"}
        feeder = _AudioFeeder(container, audio, sample_rate) if audio is not None else None
        for frame in itertools.chain([first], iterator):
            video_frame = av.VideoFrame.from_ndarray(_check_frame(frame), format="rgb24")
            video_frame.pts, video_frame.time_base = count, 1 / rate
            container.mux(stream.encode(video_frame))
            count += 1
            if feeder is not None:
                feeder.feed_until(float(count / rate))
        container.mux(stream.encode(None))
        if feeder is not None:
            feeder.feed_until(None)
    logger.debug("Wrote %s: %d frames at %s fps, audio=%s", path, count, rate, audio is not None)
    return count
