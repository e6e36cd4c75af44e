"""The shuttle tracker behind the visual hit detector, on hand-made frames and synthetic scenes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shuttlesense.data.video_writer import write_video
from shuttlesense.rally.hits import VisualHitConfig as ReExportedConfig
from shuttlesense.rally.hits import VisualHitDetector as ReExportedDetector
from shuttlesense.rally.visual_hits import VisualHitConfig, VisualHitDetector
from shuttlesense.synthetic.scene import (
    PLAYER_A,
    PLAYER_B,
    block_noise,
    court_background,
    draw_player,
    draw_shuttle,
    finish_frame,
)

FPS = 30.0
TURNS = (40, 70, 105)  # frames where the dot reverses
LANDS = 135  # ...and where it stops dead


def _blob(img: np.ndarray, cx: float, cy: float, rx: float, ry: float, value: float) -> None:
    """Paint an anti-aliased filled ellipse of grey `value` into float image `img`, in place."""
    ys, xs = np.mgrid[: img.shape[0], : img.shape[1]] + 0.5
    dist = np.hypot((xs - cx) / rx, (ys - cy) / ry)
    cover = np.clip((1.0 - dist) * min(rx, ry) + 0.5, 0.0, 1.0)
    img += (value - img) * cover


def _dot_path(count: int) -> np.ndarray:
    """Piecewise-linear (x, y) per frame: in flight from frame 0, reversing at TURNS, landed at LANDS."""
    velocity = np.array([2.5, 0.4])
    position, out = np.array([30.0, 30.0]), []
    for t in range(count):
        out.append(position.copy())
        if t in TURNS:
            velocity = -velocity
        if t < LANDS:
            position = position + velocity
    return np.array(out)


def _hand_made_frames(count: int = 150, seed: int = 0) -> np.ndarray:
    """A bright dot on a dark noisy background, a big darker blob and a big dim-bright 'player' that
    both move and reverse too (slowly, as players do); greyscale (T, 120, 160) uint8."""
    rng = np.random.default_rng(seed)
    frames = np.empty((count, 120, 160), dtype=np.uint8)
    dot = _dot_path(count)
    for t in range(count):
        img = np.full((120, 160), 40.0)
        dark_x = 40 + 30 * np.sin(2 * np.pi * t / 90)  # turns every 45 frames
        _blob(img, dark_x, 95, 8, 18, 10.0)
        player_x = 110 - 0.8 * min(t, 60) + 0.8 * max(0, min(t, 110) - 60) - 0.8 * max(0, t - 110)
        _blob(img, player_x, 92, 6, 16, 90.0)  # brighter than the floor, but dim and big
        _blob(img, *dot[t], 2.5, 2.5, 230.0)
        frames[t] = np.clip(img + rng.normal(0.0, 4.0, img.shape), 0, 255)
    return frames


def test_tracker_times_each_reversal_to_the_frame_and_ignores_distractors_and_landing() -> None:
    times, strengths = VisualHitDetector().detect_in_frames(_hand_made_frames(), FPS)
    assert np.round(np.asarray(times) * FPS).astype(int).tolist() == list(TURNS)
    np.testing.assert_allclose(np.asarray(times) * FPS, TURNS, atol=0.3)
    # the dot turns from (2.5, 0.4) to (-2.5, -0.4) px/frame: a change of 5.06 px x 30 fps / 160 px
    np.testing.assert_allclose(strengths, 5.06 * FPS / 160, rtol=0.1)


def test_tracker_follows_the_dot_not_the_bigger_movers() -> None:
    detector = VisualHitDetector()
    frames = _hand_made_frames()
    paths = detector.shuttle_paths(detector.tracklets(detector.blobs(frames, FPS), FPS, 160), FPS, 160)
    rows = np.concatenate(paths)
    truth = _dot_path(len(frames))[rows[:, 0].astype(int)]
    assert len(rows) > 0.8 * len(frames)
    assert np.abs(rows[:, 1:3] - truth).max() < 1.0  # every tracked point is the dot


def test_still_frames_and_a_lone_slow_mover_give_nothing() -> None:
    still = np.full((60, 120, 160), 50, dtype=np.uint8)
    assert VisualHitDetector().detect_in_frames(still, FPS) == ([], [])
    slow = _hand_made_frames(90)
    slow_config = VisualHitConfig(min_shuttle_speed=5.0)  # nothing counts as fast: no shuttle
    assert VisualHitDetector(slow_config).detect_in_frames(slow, FPS) == ([], [])


def _scene(path: Path, with_shuttle: bool, count: int = 90, seed: int = 0) -> Path:
    """Two players running to and fro (turning sharply), optionally a shuttle that falls in and lands."""
    rng = np.random.default_rng(seed)
    width, height = 320, 240
    background = court_background(width, height, rng)
    grain = block_noise(rng, count, width, height)
    t = np.arange(count)
    left = 0.25 + 0.08 * np.abs(((t / 20) % 2) - 1)  # triangle waves: abrupt turns
    right = 0.70 + 0.08 * np.abs((((t + 7) / 25) % 2) - 1)
    frames = []
    for i in range(count):
        img = background.copy()
        draw_player(img, left[i], 0.0, PLAYER_A)
        draw_player(img, right[i], 0.03 * (i % 25 < 8), PLAYER_B)  # hops now and then
        if with_shuttle:
            s = min(i / 55, 1.0)  # falling in from the top, lying on the floor from frame 55
            draw_shuttle(img, 0.55 - 0.1 * s, 0.1 + 0.74 * s**2)
        out = np.empty((height, width, 3), dtype=np.uint8)
        finish_frame(img, 1.0, grain[i], out)
        frames.append(out)
    write_video(path, frames, FPS)
    return path


@pytest.mark.parametrize("with_shuttle", [False, True], ids=["players_only", "shuttle_lands"])
def test_players_moving_and_a_landing_are_not_hits(tmp_path: Path, with_shuttle: bool) -> None:
    result = VisualHitDetector().detect(_scene(tmp_path / "scene.mp4", with_shuttle))
    assert result.method == "visual" and result.times == []
    assert result.notes == ["no shuttle hit found by tracking"]


def test_hits_module_reexports_the_visual_detector() -> None:
    assert ReExportedDetector is VisualHitDetector and ReExportedConfig is VisualHitConfig
    from dataclasses import fields

    assert all(f.metadata.get("help") for f in fields(VisualHitConfig))


def _dot_frames(path: np.ndarray, seed: int = 0) -> np.ndarray:
    """The bright dot of `_hand_made_frames` alone at `path` (a NaN row hides it); (T, 120, 160) uint8."""
    rng = np.random.default_rng(seed)
    frames = np.empty((len(path), 120, 160), dtype=np.uint8)
    for t, (x, y) in enumerate(path):
        img = np.full((120, 160), 40.0)
        if not np.isnan(x):
            _blob(img, x, y, 2.5, 2.5, 230.0)
        frames[t] = np.clip(img + rng.normal(0.0, 4.0, img.shape), 0, 255)
    return frames


def test_a_still_dot_that_jumps_while_unseen_is_not_a_hit() -> None:
    """A lying shuttle picked up between two frames: both sides are still, so no turn and no launch."""
    path = np.concatenate([_dot_path(150), np.repeat(_dot_path(150)[-1:], 60, axis=0)])
    path[170:172] = np.nan
    path[172:] += [7.0, 0.0]
    times, _ = VisualHitDetector().detect_in_frames(_dot_frames(path), FPS)
    assert np.round(np.asarray(times) * FPS).astype(int).tolist() == list(TURNS)


def test_a_hit_is_timed_at_its_turn_when_the_outgoing_flight_bends_at_once() -> None:
    """Drag and gravity bend the path right after a hit; the far outgoing rows must not pull it late."""
    velocity, position, rows = np.array([3.0, 0.5]), np.array([20.0, 60.0]), []
    for t in range(90):
        rows.append(position.copy())
        if 38 <= t < 45:
            velocity = velocity * 0.7  # the shuttle slows as it comes to the hitter
        if t == 45:
            velocity = np.array([-4.5, -3.5])
        elif t > 45:
            velocity = velocity * 0.9 + [0.0, 2.0]  # ...and, hit, slows and falls
        position = position + velocity
    times, _ = VisualHitDetector().detect_in_frames(_dot_frames(np.array(rows)), FPS)
    np.testing.assert_allclose(np.asarray(times) * FPS, [45], atol=0.5)
