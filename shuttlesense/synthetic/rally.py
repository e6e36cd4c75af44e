"""A synthetic rally video with known hit times, for testing hit detection and segmentation.

Why: hit detection (audio onsets, shuttle direction changes) and the rally -> segments ->
strokes pipeline need ground truth that real footage here cannot give. Two players trade
shots; between hits the shuttle follows the played class's path from `scene` (arc,
speed profile, landing point), so its horizontal direction flips at every hit, and the AAC
track has a sharp click exactly at each hit on top of low background noise. A JSON file next
to the video records the hits.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shuttlesense.data.video_writer import check_frame_size, write_video
from shuttlesense.labels import NUM_CLASSES, by_id
from shuttlesense.synthetic.scene import (
    CONTACT_DX,
    FEET_Y,
    HITTER,
    RECEIVER,
    STROKE_STYLES,
    block_noise,
    court_background,
    draw_player,
    draw_shuttle,
    finish_frame,
    shuttle_path,
)

logger = logging.getLogger(__name__)

SERVES = (0, 13)  # Short Serve, Long Serve: a rally starts with one
MIN_GAP_S, MAX_GAP_S = 0.6, 1.5
TAIL_FLIGHT_S, TAIL_REST_S = 1.0, 0.5  # the last shot's flight, then the shuttle lies still
CLICK_S, CLICK_DECAY_S, CLICK_LEVEL, NOISE_LEVEL = 0.006, 0.0008, 0.8, 0.01


@dataclass(frozen=True)
class _Track:
    """Per-frame positions of everything that moves, in normalised coordinates."""

    shuttle_x: np.ndarray
    shuttle_y: np.ndarray
    shuttle_scale: np.ndarray
    player_x: np.ndarray  # (2, T): A (left), B (right)
    lift: np.ndarray  # (2, T)


def _choose_strokes(rng: np.random.Generator, num_hits: int) -> list[int]:
    """A serve, then strokes whose contact height suits where the previous shot arrives."""
    strokes = [int(rng.choice(SERVES))]
    rallying = np.array([c for c in range(NUM_CLASSES) if c not in SERVES])
    for _ in range(num_hits - 1):
        arrive_y = STROKE_STYLES[strokes[-1]].end_y
        start_y = np.array([STROKE_STYLES[c].start_y for c in rallying])
        weights = np.exp(-(((start_y - arrive_y) / 0.15) ** 2)) + 0.02
        strokes.append(int(rng.choice(rallying, p=weights / weights.sum())))
    return strokes


def _hit_frames(rng: np.random.Generator, num_hits: int, fps: float) -> np.ndarray:
    """Hit frame numbers: a short lead-in, then irregular gaps of 0.6-1.5 s (whole frames)."""
    lead = int(round(rng.uniform(0.4, 0.8) * fps))
    gaps = rng.integers(math.ceil(MIN_GAP_S * fps), math.floor(MAX_GAP_S * fps) + 1, size=num_hits - 1)
    return lead + np.concatenate([[0], np.cumsum(gaps)]).astype(int)


def _smooth_keyframes(frames: np.ndarray, keys: list[tuple[int, float]]) -> np.ndarray:
    """Interpolate (frame, value) keys with smoothstep easing; hold the ends."""
    out = np.full(len(frames), keys[0][1], dtype=np.float64)
    for (f0, v0), (f1, v1) in zip(keys, keys[1:], strict=False):
        u = np.clip((frames - f0) / max(f1 - f0, 1), 0.0, 1.0)
        inside = frames >= f0
        out[inside] = v0 + (v1 - v0) * (u * u * (3 - 2 * u))[inside]
    return out


def _track(rng: np.random.Generator, strokes: list[int], hits: np.ndarray, fps: float) -> _Track:
    """Lay out the shuttle path between hits and the players' runs to each contact point."""
    total = int(hits[-1] + round((TAIL_FLIGHT_S + TAIL_REST_S) * fps))
    frames = np.arange(total)
    first = STROKE_STYLES[strokes[0]]
    x, y, scale = np.full(total, first.start_x), np.full(total, first.start_y), np.ones(total)
    keys: list[list[tuple[int, float]]] = [[(0, first.player_x)], [(0, 0.76)]]
    lift = np.zeros((2, total))
    position = (first.start_x, first.start_y)
    for i, (class_id, hit) in enumerate(zip(strokes, hits, strict=True)):
        side = i % 2
        style = STROKE_STYLES[class_id] if side == 0 else STROKE_STYLES[class_id].mirrored()
        last = i == len(strokes) - 1
        stop = int(hits[i + 1]) if not last else int(hit + round(TAIL_FLIGHT_S * fps))
        end = (
            style.end_x + rng.uniform(-0.03, 0.03),
            FEET_Y - 0.02 if last else style.end_y + rng.uniform(-0.03, 0.03),
        )
        t = np.linspace(0.0, 1.0, stop - hit + 1)
        flight = style.flight if last else 1.0  # mid-rally the shuttle must reach the next hitter
        px, py, progress = shuttle_path(
            t, position, end, style.arc * rng.uniform(0.9, 1.1), style.ease, flight
        )
        x[hit : stop + 1], y[hit : stop + 1] = px, py
        scale[hit : stop + 1] = 1.0 + (style.grow - 1.0) * progress
        keys[side].append((int(hit), position[0] - CONTACT_DX if side == 0 else position[0] + CONTACT_DX))
        jump_window = np.clip(1.0 - ((frames - hit) / (0.3 * fps)) ** 2, 0.0, None)
        lift[side] = np.maximum(lift[side], style.jump * jump_window)
        position = end
    x[stop:], y[stop:], scale[stop:] = x[stop], y[stop], scale[stop]
    for side, target in ((0, 0.25), (1, 0.75)):  # both drift back to mid-court afterwards
        keys[side].append((total - 1, target))
    player_x = np.clip(np.stack([_smooth_keyframes(frames, k) for k in keys]), 0.03, 0.97)
    return _Track(x, y, scale, player_x, lift)


def _render(track: _Track, width: int, height: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Yield the rally's frames one by one (a long video never sits in memory)."""
    background = court_background(width, height, rng)
    grain = block_noise(rng, len(track.shuttle_x), width, height)
    gain = rng.uniform(0.95, 1.05)
    frame = np.empty((height, width, 3), dtype=np.uint8)
    for i in range(len(track.shuttle_x)):
        img = background.copy()
        draw_player(img, track.player_x[0, i], track.lift[0, i], HITTER)
        draw_player(img, track.player_x[1, i], track.lift[1, i], RECEIVER)
        draw_shuttle(img, track.shuttle_x[i], track.shuttle_y[i], track.shuttle_scale[i])
        finish_frame(img, gain, grain[i], frame)
        yield frame


def rally_audio(
    hit_times: list[float], duration: float, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """Low background noise plus a sharp decaying click starting exactly at each hit time."""
    audio = rng.normal(0.0, NOISE_LEVEL, int(math.ceil(duration * sample_rate))).astype(np.float32)
    n = np.arange(max(1, int(CLICK_S * sample_rate)))
    envelope = np.exp(-n / (CLICK_DECAY_S * sample_rate))
    for time in hit_times:
        onset = int(round(time * sample_rate))
        click = CLICK_LEVEL * envelope * rng.uniform(-1.0, 1.0, len(n))
        click[0] = CLICK_LEVEL  # the loudest sample is the onset itself
        stop = min(len(audio), onset + len(n))
        audio[onset:stop] += click[: stop - onset].astype(np.float32)
    return audio


def write_synthetic_rally(
    output_path: str | Path,
    num_hits: int = 6,
    fps: float = 30,
    width: int = 320,
    height: int = 240,
    seed: int = 0,
    sample_rate: int = 16000,
    with_audio: bool = True,
) -> dict:
    """Write a rally mp4 and `<name>.json` with its hit times; return the JSON's content.

    Hits fall on whole frames (time = frame / fps) so video and audio agree exactly. The same
    seed gives the same pictures with or without audio (`with_audio=False`: no audio stream).
    """
    if num_hits < 1:
        raise ValueError(f"num_hits must be >= 1, got {num_hits}.")
    check_frame_size(width, height)
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    plan_rng = np.random.default_rng((seed, 3))
    strokes = _choose_strokes(plan_rng, num_hits)
    hits = _hit_frames(plan_rng, num_hits, fps)
    track = _track(plan_rng, strokes, hits, fps)
    duration = len(track.shuttle_x) / fps
    times = [float(h / fps) for h in hits]
    audio = (
        rally_audio(times, duration, sample_rate, np.random.default_rng((seed, 5))) if with_audio else None
    )
    frames = _render(track, width, height, np.random.default_rng((seed, 4)))
    write_video(output_path, frames, fps, audio=audio, sample_rate=sample_rate)
    info = {
        "video": output_path.name,
        "fps": fps,
        "duration": duration,
        "num_frames": len(track.shuttle_x),
        "width": width,
        "height": height,
        "has_audio": with_audio,
        "sample_rate": sample_rate if with_audio else None,
        "seed": seed,
        "hits": [
            {
                "time": t,
                "frame": int(h),
                "class_id": c,
                "stroke_en": by_id(c).en,
                "stroke_zh": by_id(c).zh,
                "player": "AB"[i % 2],
            }
            for i, (t, h, c) in enumerate(zip(times, hits, strokes, strict=True))
        ],
    }
    sidecar = output_path.with_suffix(".json")
    sidecar.write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    logger.info(
        "Wrote rally %s (%.2f s, %d hits, audio=%s) and %s",
        output_path,
        duration,
        num_hits,
        with_audio,
        sidecar.name,
    )
    return info
