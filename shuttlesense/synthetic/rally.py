"""The synthetic rally world: rally plans, where everything is at every frame, and the pictures.

Why one world for everything: VideoBadminton's clips were cut from match video hit to hit, both
players hitting, so the synthetic stroke clips (`clips`), single rallies and whole matches
(`match`) are all cut from, or made of, rallies drawn by this code. A model trained on the clips
then sees what `analyze` cuts from a match.

A rally: the server holds the shuttle still for a moment and serves; the players alternate (A from
the left, B from the right); each shot flies from its hitter's contact point (its class's place,
`scene.STROKE_STYLES`) to the next hitter's; the last one lands, lies on the floor and is picked up
(it vanishes) while both players walk back to their waiting places.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from shuttlesense.labels import NUM_CLASSES
from shuttlesense.synthetic.scene import (
    CONTACT_DX,
    FEET_Y,
    PLAYER_A,
    PLAYER_B,
    STROKE_STYLES,
    block_noise,
    court_background,
    draw_player,
    draw_shuttle,
    finish_frame,
    reply_weights,
    shuttle_path,
)

SERVES = (0, 13)  # Short Serve, Long Serve: a rally starts with one, and only then
RALLYING = tuple(c for c in range(NUM_CLASSES) if c not in SERVES)
MIN_GAP_S, MAX_GAP_S = 0.55, 1.6  # time from one hit to the next
HOLD_S = 0.6  # the server holds the shuttle still this long before serving
TAIL_FLIGHT_S = 1.0  # the last shot lands after this x its style's `flight`
REST_S = 0.8  # then lies on the floor this long before it is picked up
READY_X = (0.25, 0.75)  # where A and B wait between rallies
JITTER = 0.03  # positional jitter, fraction of the frame
SERVE_JITTER = 0.015  # serves are hit from a marked box: less spread
TOP_Y = 0.1  # the highest the shuttle flies (fraction of the frame height from the top)


@dataclass(frozen=True)
class RallyPlan:
    """One rally in a video: its strokes, who served, and when each hit happens (frames)."""

    strokes: tuple[int, ...]
    server: int  # 0: A serves (from the left), 1: B
    serve_frame: int  # frame of the serve in the video
    gaps: tuple[int, ...]  # frames from each hit to the next (one fewer than strokes)
    tail: int  # frames from the last hit to the landing
    rest: int  # frames the shuttle lies on the floor
    seed: int  # the rally's own jitter stream

    @property
    def hits(self) -> np.ndarray:
        return self.serve_frame + np.concatenate([[0], np.cumsum(self.gaps, dtype=int)]).astype(int)

    @property
    def landing(self) -> int:
        return int(self.hits[-1] + self.tail)

    @property
    def end(self) -> int:
        """The last frame the shuttle is seen (lying where it landed)."""
        return self.landing + self.rest

    def player(self, i: int) -> str:
        """Who plays hit `i`: "A" or "B" (they alternate from the server)."""
        return "AB"[(self.server + i) % 2]


def _frames(seconds: float, fps: float) -> int:
    return max(1, int(round(seconds * fps)))


def gap_frames(class_id: int, fps: float, rng: np.random.Generator, least: int = 1) -> int:
    """Frames from a stroke to the next hit: the class's typical time, +-20 % log-normal."""
    seconds = STROKE_STYLES[class_id].median_frames / 30 * math.exp(rng.normal(0.0, 0.2))
    lo, hi = math.ceil(MIN_GAP_S * fps), math.floor(MAX_GAP_S * fps)
    return max(least, int(np.clip(round(seconds * fps), lo, hi)))


def plan_rally(
    rng: np.random.Generator,
    num_hits: int,
    fps: float,
    serve_frame: int,
    strokes: Sequence[int] | None = None,
    server: int | None = None,
    least_gap: int = 1,
) -> RallyPlan:
    """A rally starting at `serve_frame`: given strokes, or a serve and likely replies; given or random server."""
    if strokes is None:
        strokes = [int(rng.choice(SERVES))]
        for _ in range(num_hits - 1):
            weights = reply_weights(strokes[-1], np.array(RALLYING))
            strokes.append(int(rng.choice(RALLYING, p=weights / weights.sum())))
    strokes = tuple(int(c) for c in strokes)
    if server is None:
        server = int(rng.integers(2))
    gaps = tuple(gap_frames(c, fps, rng, least_gap) for c in strokes[:-1])
    tail = max(least_gap, _frames(TAIL_FLIGHT_S * STROKE_STYLES[strokes[-1]].flight, fps))
    return RallyPlan(strokes, server, serve_frame, gaps, tail, _frames(REST_S, fps), int(rng.integers(2**31)))


@dataclass(frozen=True)
class Track:
    """Per-frame positions of everything that moves, in normalised coordinates."""

    shuttle_x: np.ndarray
    shuttle_y: np.ndarray
    shuttle_scale: np.ndarray
    shuttle_seen: np.ndarray  # False while nobody has a shuttle in play
    player_x: np.ndarray  # (2, T): A (left), B (right)
    lift: np.ndarray  # (2, T)

    def __len__(self) -> int:
        return len(self.shuttle_x)

    def window(self, lo: int, hi: int) -> Track:
        """Frames [lo, hi) only (what one clip needs)."""
        return Track(
            self.shuttle_x[lo:hi], self.shuttle_y[lo:hi], self.shuttle_scale[lo:hi],
            self.shuttle_seen[lo:hi], self.player_x[:, lo:hi], self.lift[:, lo:hi],
        )  # fmt: skip


def _smooth_keyframes(frames: np.ndarray, keys: list[tuple[int, float]]) -> np.ndarray:
    """Interpolate (frame, value) keys with smoothstep easing; hold the ends."""
    out = np.full(len(frames), keys[0][1], dtype=np.float64)
    for (f0, v0), (f1, v1) in zip(keys, keys[1:], strict=False):
        u = np.clip((frames - f0) / max(f1 - f0, 1), 0.0, 1.0)
        inside = frames >= f0
        out[inside] = v0 + (v1 - v0) * (u * u * (3 - 2 * u))[inside]
    return out


def _mirror(x: float, side: int) -> float:
    return x if side == 0 else 1.0 - x


def build_track(rallies: Sequence[RallyPlan], total: int, fps: float, seed: int) -> Track:
    """Lay out every rally of a video over `total` frames (rallies in time order, not overlapping)."""
    frames = np.arange(total)
    x, y = np.full(total, 0.5), np.full(total, FEET_Y)
    scale, seen = np.ones(total), np.zeros(total, dtype=bool)
    lift = np.zeros((2, total))
    keys: list[list[tuple[int, float]]] = [[], []]  # before its first key a player stands there
    walk = _frames(1.2, fps)
    for rally in rallies:
        rng = np.random.default_rng((seed, rally.seed))
        hits = rally.hits
        contacts = []
        for i, class_id in enumerate(rally.strokes):
            side, style = (rally.server + i) % 2, STROKE_STYLES[class_id]
            spread = SERVE_JITTER if i == 0 else JITTER
            body = style.player_x + rng.uniform(-spread, spread)
            contact = (_mirror(body + CONTACT_DX, side), style.start_y + rng.uniform(-spread, spread))
            contacts.append((side, _mirror(body, side), contact))
        landing_side = (rally.server + len(hits)) % 2
        last = STROKE_STYLES[rally.strokes[-1]]
        land_x = _mirror(last.target_x + CONTACT_DX + rng.uniform(-JITTER, JITTER), landing_side)
        ends = [c[2] for c in contacts[1:]] + [(land_x, FEET_Y - 0.02)]
        stops = [*(int(h) for h in hits[1:]), rally.landing]
        hold = max(0, rally.serve_frame - _frames(HOLD_S, fps))
        x[hold : hits[0]], y[hold : hits[0]] = contacts[0][2]
        seen[hold : rally.end + 1] = True
        receiver = 1 - contacts[0][0]
        for side, body in ((contacts[0][0], contacts[0][1]), (receiver, READY_X[receiver])):
            keys[side] += [(hold, body), (int(hits[0]), body)]
        for i, (class_id, hit, stop, end) in enumerate(zip(rally.strokes, hits, stops, ends, strict=True)):
            side, body, start = contacts[i]
            style = STROKE_STYLES[class_id]
            t = np.linspace(0.0, 1.0, stop - hit + 1)
            # A high shot between two high contacts would leave the picture: it stays below TOP_Y.
            arc = min(style.arc * rng.uniform(0.9, 1.1), (start[1] + end[1]) / 2 - TOP_Y)
            px, py, progress = shuttle_path(t, start, end, arc, style.ease)
            x[hit : stop + 1], y[hit : stop + 1] = px, py
            scale[hit : stop + 1] = 1.0 + (style.grow - 1.0) * progress
            if i > 0:
                keys[side].append((int(hit), body))
            jump = np.clip(1.0 - ((frames - hit) / (0.3 * fps)) ** 2, 0.0, None)
            lift[side] = np.maximum(lift[side], style.jump * jump)
        x[rally.landing : rally.end + 1], y[rally.landing : rally.end + 1] = ends[-1]
        scale[rally.landing : rally.end + 1] = scale[rally.landing]
        for side in (0, 1):  # both walk back to their waiting places
            keys[side].append((min(total - 1, rally.end + walk), READY_X[side]))
    keys = [k or [(0, READY_X[side])] for side, k in enumerate(keys)]
    player_x = np.clip(np.stack([_smooth_keyframes(frames, k) for k in keys]), 0.03, 0.97)
    return Track(x, y, scale, seen, player_x, lift)


def render(
    track: Track, width: int, height: int, scene_seed: Sequence[int], first_frame: int = 0
) -> Iterator[np.ndarray]:
    """Yield the track's frames one by one (a long video never sits in memory).

    The camera (background colours, exposure) comes from `scene_seed`; each frame's grain from
    the scene seed and its frame number (`first_frame` + i), so a clip cut from a video is drawn
    exactly as the video's frames are.
    """
    rng = np.random.default_rng((*scene_seed, 0))
    background = court_background(width, height, rng)
    gain = rng.uniform(0.95, 1.05)
    for i in range(len(track)):
        frame = np.empty((height, width, 3), dtype=np.uint8)  # a new array each time: callers may keep it
        grain = block_noise(np.random.default_rng((*scene_seed, 1, first_frame + i)), 1, width, height)[0]
        img = background.copy()
        draw_player(img, track.player_x[0, i], track.lift[0, i], PLAYER_A)
        draw_player(img, track.player_x[1, i], track.lift[1, i], PLAYER_B)
        if track.shuttle_seen[i]:
            draw_shuttle(img, track.shuttle_x[i], track.shuttle_y[i], track.shuttle_scale[i])
        finish_frame(img, gain, grain, frame)
        yield frame
