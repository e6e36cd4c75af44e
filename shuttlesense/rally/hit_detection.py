"""What every hit detector returns and shares: the result, the protocol, opening a video.

Kept apart from the detectors so the audio, visual and combined detectors all import it and none
imports another's module to get it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


class HitDetectionError(ValueError):
    """A video cannot be read for hit detection (missing, truncated, corrupt, no usable stream)."""


@dataclass(frozen=True)
class HitDetection:
    """Hit times (seconds, ascending), a per-hit strength (detector units) and how they were found.

    `stopped_at` is set when the file is damaged and only the part before `stopped_at.time` was
    read; `paths` (rows of frame, x, y) and `fps` are the visual detector's shuttle paths, reused
    to tell who served.
    """

    times: list[float]
    strengths: list[float]
    method: str
    notes: list[str] = field(default_factory=list)
    duration: float = 0.0
    stopped_at: Any = None  # video_stream.StoppedAt
    paths: list[Any] = field(default_factory=list)
    fps: float = 0.0

    def __len__(self) -> int:
        return len(self.times)


def hit_f1(found: list[float], truth: list[float], tolerance: float = 0.05) -> tuple[float, int]:
    """F1 of found hit times against the true ones, and how many matched.

    Each true hit, in order, takes the nearest unmatched found hit if it lies within `tolerance`
    seconds (50 ms: about a frame and a half at 30 fps, where a stroke's frames start).
    """
    left, matched = list(found), 0
    for time in truth:
        if left:
            nearest = min(range(len(left)), key=lambda i: abs(left[i] - time))
            if abs(left[nearest] - time) <= tolerance:
                matched += 1
                left.pop(nearest)
    return (2 * matched / (len(found) + len(truth)) if found or truth else 1.0), matched


@runtime_checkable
class HitDetector(Protocol):
    """Anything that turns a video file into hit times."""

    def detect(self, video_path: str | Path) -> HitDetection: ...


def open_video(video_path: str | Path):
    """Open a container with PyAV, turning every failure into an error that names the file."""
    import av

    path = Path(video_path)
    if not path.is_file():
        raise FileNotFoundError(f"Video file not found: {path}")
    try:
        return av.open(str(path))
    except Exception as err:  # av.error.InvalidDataError and friends
        raise HitDetectionError(f"Cannot read video {path}: {err}") from err


def video_duration(container) -> float:
    """The container's duration in seconds (0 when the file does not say)."""
    return float(container.duration / 1_000_000) if container.duration else 0.0
