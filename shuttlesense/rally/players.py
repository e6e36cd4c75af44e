"""Who hit each stroke: VideoBadminton's players A and B, from who served each rally.

Why only the server: within a rally the players alternate, so one fact per rally is needed, and
the serve is the easiest shot to see: the shuttle leaves the server's half of the court towards
the other. Its direction right after the serve, found by the shuttle tracker of `visual_hits`,
tells who served once the user says where A plays in the picture (`a_side`: left or right for a
side camera, top or bottom for a broadcast camera behind a baseline). When the serve cannot be
seen (no shuttle track), the rally's players are unknown (null), never guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from shuttlesense.rally.hit_detection import HitDetection
from shuttlesense.rally.visual_hits import VisualHitDetector

SIDES = ("left", "right", "top", "bottom")


@dataclass
class PlayerConfig:
    """Naming the players A and B."""

    a_side: str = field(
        default="left",
        metadata={
            "help": "Where player A plays in the picture: left, right (side camera), top or bottom (camera "
            "behind a baseline). B plays the other half."
        },
    )
    before_s: float = field(
        default=1.5,
        metadata={"help": "Video looked at before a rally's first hit to learn the background (s)."},
    )
    after_s: float = field(
        default=1.5,
        metadata={"help": "...and after it, to follow the serve and the reply that teaches the tracker (s)."},
    )

    def __post_init__(self) -> None:
        if self.a_side not in SIDES:
            raise ValueError(f"players.a_side must be one of {', '.join(SIDES)}; got {self.a_side!r}.")
        if self.before_s <= 0 or self.after_s <= 0:
            raise ValueError(
                f"players.before_s and after_s must be > 0; got {self.before_s}, {self.after_s}."
            )


def velocity_after(paths: Sequence[np.ndarray], hit_frame: int, reach: int) -> np.ndarray | None:
    """The (x, y) velocity (px per frame) of the shuttle path that leaves `hit_frame`, or None."""
    for path in paths:
        after = path[(path[:, 0] >= hit_frame) & (path[:, 0] <= hit_frame + reach)]
        if len(after) >= 3 and path[0, 0] <= hit_frame + reach / 2:
            return np.polyfit(after[:, 0], after[:, 1:3], 1)[0]
    return None


def serve_velocity(
    detector: VisualHitDetector, frames: np.ndarray, fps: float, hit_frame: int
) -> np.ndarray | None:
    """The shuttle's velocity just after `hit_frame` in greyscale `frames` (T, H, W), or None."""
    _, _, width = frames.shape
    blobs = detector.blobs(frames, fps)
    paths = detector.shuttle_paths(detector.tracklets(blobs, fps, width), fps, width)
    return velocity_after(paths, hit_frame, _reach(detector.config.link_gap_s, fps))


def _reach(link_gap_s: float, fps: float) -> int:
    return max(2, int(round(link_gap_s * fps)))


def servers_from_paths(
    hits: HitDetection, first_hits: dict[int, float], a_side: str, link_gap_s: float
) -> dict[int, str | None]:
    """Who served each rally, from the visual detector's shuttle paths (none when hits came from sound)."""
    if not hits.paths or hits.fps <= 0:
        return {}
    reach = _reach(link_gap_s, hits.fps)
    return {
        rally: server_from_velocity(velocity_after(hits.paths, round(time * hits.fps), reach), a_side)
        for rally, time in first_hits.items()
    }


def server_from_velocity(velocity: np.ndarray | None, a_side: str) -> str | None:
    """ "A" or "B": the shuttle flies away from the server's half; None if it is not seen moving."""
    if velocity is None:
        return None
    along = velocity[0] if a_side in ("left", "right") else velocity[1]
    if abs(along) < 1e-3:
        return None
    away_from_a = along > 0 if a_side in ("left", "top") else along < 0
    return "A" if away_from_a else "B"


def player_of(server: str | None, shot: int) -> str | None:
    """Who plays shot `shot` (0 = the serve) of a rally served by `server`."""
    if server is None:
        return None
    return server if shot % 2 == 0 else ("B" if server == "A" else "A")
