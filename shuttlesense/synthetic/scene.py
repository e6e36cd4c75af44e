"""Drawing pieces for synthetic badminton video: a side-on court, two players and a shuttle.

Shared by the stroke-clip generator (`clips`) and the rally generator (`rally`). The
scene is deliberately simple: a camera looks at the court from the side, the net stands in the
middle, the hitter plays from the left half. What carries the stroke class is motion: every
class has its own shuttle path (contact point, landing point, arc height, speed profile) and
its own hitter position, so a small model can learn the classes from 8 frames at 56x56.
Coordinates are fractions of the frame (x of the width, y of the height, 0 = top); sizes are
fractions of the frame height so round things stay round.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FEET_Y = 0.86  # where the players stand
NET_X, NET_TOP_Y = 0.5, 0.66
SHUTTLE_RADIUS = 0.045  # of the frame height: still ~2.5 px after downscaling to 56x56
CONTACT_DX = 0.05  # the racket meets the shuttle this far in front of the hitter's body

WALL, FLOOR, LINE = (34.0, 40.0, 62.0), (38.0, 118.0, 72.0), (232.0, 232.0, 226.0)
NET, HITTER, RECEIVER, SHUTTLE = (
    (170.0, 170.0, 176.0),
    (205.0, 62.0, 50.0),
    (52.0, 84.0, 205.0),
    (255.0, 250.0, 222.0),
)


@dataclass(frozen=True)
class StrokeStyle:
    """How one stroke class looks: hitter position, shuttle path and timing (all normalised).

    The shuttle moves from (player_x + CONTACT_DX, start_y) to (end_x, end_y) along a parabola
    lifted by `arc` at mid-flight; progress s(t) = 1 - (1 - t / flight) ** ease, so a large
    `ease` means a fast, decelerating shot and `flight` < 1 means it lands before the clip ends.
    """

    player_x: float
    start_y: float
    end_x: float
    end_y: float
    arc: float
    ease: float = 1.0
    flight: float = 1.0
    jump: float = 0.0  # hitter's jump height (overhead shots)
    grow: float = 1.0  # shuttle size factor at the end (flies towards the camera: cross court)
    median_frames: int = 32  # typical clip length; fast shots are shorter, like the real data

    @property
    def start_x(self) -> float:
        return self.player_x + CONTACT_DX

    def mirrored(self) -> StrokeStyle:
        """The same stroke played from the right half (the rally's second player)."""
        return StrokeStyle(
            1 - self.player_x - 2 * CONTACT_DX, self.start_y, 1 - self.end_x, self.end_y, self.arc,
            self.ease, self.flight, self.jump, self.grow, self.median_frames,
        )  # fmt: skip


# One entry per class id, in labels.CLASSES order. Each differs from every other in at least two of
# hitter position, contact height, landing point, arc and speed, by much more than the jitter.
STROKE_STYLES: tuple[StrokeStyle, ...] = (
    StrokeStyle(0.32, 0.72, 0.60, 0.80, 0.20, 1.0, median_frames=36),  # 00 Short Serve
    StrokeStyle(0.24, 0.60, 0.90, 0.66, 0.10, 1.6, grow=1.6, median_frames=28),  # 01 Cross Court Flight
    StrokeStyle(0.42, 0.78, 0.90, 0.55, 0.50, 1.4, median_frames=40),  # 02 Lift
    StrokeStyle(0.40, 0.46, 0.64, 0.84, 0.00, 2.2, 0.5, jump=0.05, median_frames=24),  # 03 Tap Smash
    StrokeStyle(0.37, 0.72, 0.57, 0.80, 0.14, 1.0, median_frames=30),  # 04 Block
    StrokeStyle(0.14, 0.45, 0.60, 0.82, 0.12, 1.0, median_frames=36),  # 05 Drop Shot
    StrokeStyle(0.41, 0.58, 0.82, 0.76, 0.06, 1.5, median_frames=28),  # 06 Push Shot
    StrokeStyle(0.26, 0.55, 0.72, 0.74, 0.16, 1.2, median_frames=32),  # 07 Transitional Slice
    StrokeStyle(0.24, 0.44, 0.64, 0.82, 0.05, 1.8, 0.8, jump=0.03, median_frames=30),  # 08 Cut
    StrokeStyle(0.44, 0.52, 0.68, 0.84, 0.00, 2.5, 0.4, median_frames=22),  # 09 Rush Shot
    StrokeStyle(0.14, 0.74, 0.90, 0.50, 0.55, 1.4, median_frames=44),  # 10 Defensive Clear
    StrokeStyle(0.12, 0.72, 0.88, 0.62, 0.08, 1.8, median_frames=30),  # 11 Defensive Drive
    StrokeStyle(0.12, 0.42, 0.93, 0.45, 0.25, 1.3, jump=0.03, median_frames=44),  # 12 Clear
    StrokeStyle(0.30, 0.72, 0.94, 0.52, 0.60, 1.0, median_frames=46),  # 13 Long Serve
    StrokeStyle(0.12, 0.40, 0.80, 0.84, 0.00, 2.5, 0.6, jump=0.06, median_frames=24),  # 14 Smash
    StrokeStyle(0.28, 0.58, 0.86, 0.58, 0.04, 1.8, median_frames=26),  # 15 Flat Shot
    StrokeStyle(0.09, 0.56, 0.93, 0.62, 0.03, 2.0, median_frames=30),  # 16 Rear Court Flat Drive
    StrokeStyle(0.40, 0.60, 0.68, 0.64, 0.03, 1.5, median_frames=24),  # 17 Short Flat Shot
)


def shuttle_path(
    t: np.ndarray,
    start: tuple[float, float],
    end: tuple[float, float],
    arc: float,
    ease: float,
    flight: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shuttle (x, y) and flight progress s at normalised times `t` in [0, 1] (vectorised)."""
    s = 1.0 - (1.0 - np.clip(np.asarray(t, dtype=np.float64) / flight, 0.0, 1.0)) ** ease
    x = start[0] + (end[0] - start[0]) * s
    y = start[1] + (end[1] - start[1]) * s - 4.0 * arc * s * (1.0 - s)
    return x, np.maximum(y, SHUTTLE_RADIUS), s


def paint_ellipse(
    img: np.ndarray, cx: float, cy: float, rx: float, ry: float, color, alpha: float = 1.0
) -> None:
    """Blend an anti-aliased filled ellipse (pixel units) into float image `img`, in place.

    Only the bounding box is touched, so a frame costs the same at 64x48 and at 1280x960.
    """
    height, width = img.shape[:2]
    x0, x1 = max(int(cx - rx) - 1, 0), min(int(cx + rx) + 2, width)
    y0, y1 = max(int(cy - ry) - 1, 0), min(int(cy + ry) + 2, height)
    if x0 >= x1 or y0 >= y1:
        return
    xs = (np.arange(x0, x1, dtype=np.float32) + 0.5 - cx) / rx
    ys = (np.arange(y0, y1, dtype=np.float32) + 0.5 - cy) / ry
    dist = np.sqrt(ys[:, None] ** 2 + xs[None, :] ** 2)
    cover = np.clip((1.0 - dist) * min(rx, ry) + 0.5, 0.0, 1.0) * alpha
    patch = img[y0:y1, x0:x1]
    patch += (np.asarray(color, dtype=np.float32) - patch) * cover[..., None]


def _fill(img: np.ndarray, x0: float, x1: float, y0: float, y1: float, color, alpha: float = 1.0) -> None:
    """Blend a rectangle given in normalised coordinates (at least one pixel thick)."""
    height, width = img.shape[:2]
    c0, r0 = int(x0 * width), int(y0 * height)
    c1, r1 = max(int(x1 * width), c0 + 1), max(int(y1 * height), r0 + 1)
    patch = img[r0:r1, c0:c1]
    patch += (np.asarray(color, dtype=np.float32) - patch) * alpha


def court_background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A static side view of the court (float32 HxWx3) with slightly jittered colours."""
    img = np.empty((height, width, 3), dtype=np.float32)
    img[:] = np.asarray(WALL) + rng.uniform(-8, 8, 3)
    _fill(img, 0.0, 1.0, 0.78, 1.0, np.asarray(FLOOR) + rng.uniform(-8, 8, 3))
    line = 1.0 / 110
    for y in (0.79, 0.965):  # far and near sidelines
        _fill(img, 0.0, 1.0, y, y + line, LINE)
    for x in (0.04, 0.11, 0.35, 0.65, 0.89, 0.96):  # baselines, service lines
        _fill(img, x, x + line * 0.75, 0.79, 0.975, LINE)
    _fill(img, NET_X - 0.008, NET_X + 0.008, NET_TOP_Y, FEET_Y + 0.02, NET, alpha=0.65)  # mesh, seen edge-on
    _fill(img, NET_X - 0.003, NET_X + 0.003, NET_TOP_Y - 0.01, FEET_Y + 0.03, LINE)  # post
    _fill(img, NET_X - 0.010, NET_X + 0.010, NET_TOP_Y - 0.012, NET_TOP_Y + 0.008, LINE)  # tape
    return img


def draw_player(img: np.ndarray, x: float, lift: float, color) -> None:
    """A player as body + head blobs standing at normalised x, raised by `lift` (a jump)."""
    height, width = img.shape[:2]
    feet = (FEET_Y - lift) * height
    paint_ellipse(img, x * width, feet - 0.10 * height, 0.035 * height, 0.10 * height, color)
    paint_ellipse(
        img, x * width, feet - 0.235 * height, 0.035 * height, 0.035 * height, (232.0, 190.0, 160.0)
    )


def draw_shuttle(img: np.ndarray, x: float, y: float, scale: float = 1.0) -> None:
    """The shuttle: a bright round blob, big enough to survive heavy downscaling."""
    height, width = img.shape[:2]
    radius = SHUTTLE_RADIUS * scale * height
    paint_ellipse(img, x * width, y * height, radius, radius, SHUTTLE)


def _grain_block(width: int, height: int) -> int:
    """Grain block size: about 1/60 of the height, dividing both sides so grain adds as a view."""
    limit, common = max(1, height // 60), np.gcd(width, height)
    return max(b for b in range(1, limit + 1) if common % b == 0)


def block_noise(
    rng: np.random.Generator, count: int, width: int, height: int, sigma: float = 4.0
) -> np.ndarray:
    """Per-frame grain at block resolution, shape (count, rows, cols): cheap at any frame size."""
    block = _grain_block(width, height)
    return rng.standard_normal((count, height // block, width // block), dtype=np.float32) * sigma


def finish_frame(img: np.ndarray, gain: float, grain: np.ndarray, out: np.ndarray) -> None:
    """Apply exposure gain and block grain (from `block_noise`) to float `img` in place, quantise into `out`."""
    rows, cols = grain.shape
    img *= gain
    blocks = img.reshape(rows, img.shape[0] // rows, cols, img.shape[1] // cols, 3)
    blocks += grain[:, None, :, None, None]
    np.clip(img, 0.0, 255.0, out=img)
    out[...] = img
