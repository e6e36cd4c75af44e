"""Drawing pieces for synthetic badminton video: a side-on court, two players and a shuttle.

Shared by the rally world (`rally`), which the stroke clips (`clips`) and matches (`match`) are
cut from. The scene is deliberately simple: a camera looks at the court from the side, the net
stands in the middle, player A (red) plays from the left half and player B (blue) from the right.
What carries the stroke class is where it is hit from and how the shuttle flies (see
`STROKE_STYLES`), so a small model can learn the classes from 8 frames at 56x56.
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
NET, PLAYER_A, PLAYER_B, SHUTTLE = (
    (170.0, 170.0, 176.0),
    (205.0, 62.0, 50.0),
    (52.0, 84.0, 205.0),
    (255.0, 250.0, 222.0),
)


@dataclass(frozen=True)
class StrokeStyle:
    """How one stroke class looks: where it is hit from, where it is sent, how it flies (normalised).

    Coordinates are the left player's (A's); B plays the mirror image. The hitter stands at
    `player_x` and meets the shuttle at (player_x + CONTACT_DX, start_y). The stroke is aimed at
    the place (target_x, target_y) in the receiver's own coordinates, where the receiver's next
    stroke is usually hit from; the shuttle flies there lifted by `arc` at mid-flight, with
    progress s(t) = 1 - (1 - t) ** ease (large `ease`: a fast, decelerating shot). A rally's last
    shot flies towards target_x and lands on the floor; its flight lasts `flight` x `rally.TAIL_FLIGHT_S`.
    """

    player_x: float
    start_y: float
    target_x: float
    target_y: float
    arc: float
    ease: float = 1.0
    flight: float = 0.8
    jump: float = 0.0  # hitter's jump height (overhead shots)
    grow: float = 1.0  # shuttle size factor at the end (flies towards the camera: cross court)
    median_frames: int = 32  # typical frames (at 30 fps) to the next hit; fast shots are shorter


# Where a stroke is hit from and where it is sent carry its class, as in real badminton (a smash is
# hit high in the rear court at the opponent's body, a block low at the net back to the net): 3
# depths x 3 contact heights, and in each of the 8 places a rally is played from one flat, fast
# stroke and one lofted, slower one (or a jump), sent to different places. The serves share a place
# of their own. Neighbouring places differ by far more than the +-3 % jitter.
REAR, MID, FRONT = 0.09, 0.24, 0.39  # the hitter's distance from the left wall
SERVE_X = 0.19  # serves are hit from behind the short service line
HIGH, MIDDLE, LOW = 0.37, 0.56, 0.75  # contact height (0 = top of the frame)

# One entry per class id, in labels.CLASSES order.
STROKE_STYLES: tuple[StrokeStyle, ...] = (
    StrokeStyle(SERVE_X, LOW, FRONT, HIGH, 0.10, 1.0, median_frames=28),  # 00 Short Serve
    StrokeStyle(MID, HIGH, REAR, MIDDLE, 0.16, 1.6, grow=1.6, median_frames=28),  # 01 Cross Court Flight
    StrokeStyle(FRONT, LOW, REAR, HIGH, 0.55, 1.4, median_frames=40),  # 02 Lift
    StrokeStyle(FRONT, HIGH, REAR, LOW, 0.00, 2.2, 0.5, jump=0.06, median_frames=24),  # 03 Tap Smash
    StrokeStyle(FRONT, LOW, FRONT, LOW, 0.14, 1.0, median_frames=30),  # 04 Block (just over the net)
    StrokeStyle(REAR, MIDDLE, FRONT, LOW, 0.22, 1.0, median_frames=36),  # 05 Drop Shot
    StrokeStyle(FRONT, MIDDLE, REAR, MIDDLE, 0.24, 1.5, median_frames=28),  # 06 Push Shot
    StrokeStyle(MID, MIDDLE, FRONT, MIDDLE, 0.26, 1.2, median_frames=32),  # 07 Transitional Slice
    StrokeStyle(MID, HIGH, FRONT, MIDDLE, 0.00, 1.8, 0.8, jump=0.05, median_frames=30),  # 08 Cut
    StrokeStyle(FRONT, HIGH, FRONT, LOW, 0.14, 2.5, 0.4, median_frames=22),  # 09 Rush Shot
    StrokeStyle(REAR, LOW, MID, HIGH, 0.55, 1.4, median_frames=44),  # 10 Defensive Clear
    StrokeStyle(REAR, LOW, MID, MIDDLE, 0.05, 1.8, median_frames=30),  # 11 Defensive Drive
    StrokeStyle(REAR, HIGH, REAR, HIGH, 0.32, 1.3, jump=0.03, median_frames=44),  # 12 Clear
    StrokeStyle(SERVE_X, LOW, REAR, HIGH, 0.60, 1.0, median_frames=46),  # 13 Long Serve
    StrokeStyle(REAR, HIGH, REAR, LOW, 0.00, 2.5, 0.6, jump=0.07, median_frames=24),  # 14 Smash
    StrokeStyle(MID, MIDDLE, MID, MIDDLE, 0.03, 1.8, median_frames=26),  # 15 Flat Shot
    StrokeStyle(REAR, MIDDLE, MID, HIGH, 0.03, 2.0, median_frames=30),  # 16 Rear Court Flat Drive
    StrokeStyle(FRONT, MIDDLE, FRONT, HIGH, 0.03, 1.5, median_frames=24),  # 17 Short Flat Shot
)


def reply_weights(class_id: int, candidates: np.ndarray) -> np.ndarray:
    """How likely each candidate class answers `class_id`: those hit from where it is sent.

    The shuttle goes where the stroke sends it, so the reply is hit from there: Gaussian in the
    distance between the candidate's hitting place and the target, plus a small floor so that a
    set of clips can still hold every class equally often.
    """
    style = STROKE_STYLES[class_id]
    depth = np.array([STROKE_STYLES[c].player_x for c in candidates]) - style.target_x
    height = np.array([STROKE_STYLES[c].start_y for c in candidates]) - style.target_y
    return np.exp(-((depth / 0.07) ** 2) - (height / 0.08) ** 2) + 0.002


def shuttle_path(
    t: np.ndarray,
    start: tuple[float, float],
    end: tuple[float, float],
    arc: float,
    ease: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shuttle (x, y) and flight progress s at normalised times `t` in [0, 1] (vectorised)."""
    s = 1.0 - (1.0 - np.clip(np.asarray(t, dtype=np.float64), 0.0, 1.0)) ** ease
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
