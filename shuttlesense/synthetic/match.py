"""Synthetic rally and match videos with their truth, for hit detection and `analyze`.

Why: hit detection, rallies, players and strokes need ground truth that real footage here cannot
give. `write_synthetic_rally` writes one rally over quiet noise (`synth --rally`);
`write_synthetic_match` writes several rallies with pauses in which the shuttle is picked up, the
players walk back, the crowd applauds and people talk, and footsteps thump throughout (`synth
--match`). The server changes from rally to rally. A JSON file next to the video holds the truth:
every hit (time, frame, class, player, rally), every rally (server, serve and landing times) and
where the sounds that are not hits are.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shuttlesense.data.video_writer import check_frame_size, write_video
from shuttlesense.labels import by_id
from shuttlesense.synthetic import sound
from shuttlesense.synthetic.rally import RallyPlan, Track, build_track, plan_rally, render

logger = logging.getLogger(__name__)

PAUSE_S = (5.0, 9.0)  # from one rally's landing to the next serve
HITS_PER_RALLY = (3, 12)
STEP_LENGTH = 0.05  # a footstep per this much travel (frame widths)


def plan_match(num_rallies: int, fps: float, seed: int, minutes: float = 0.0) -> tuple[list[RallyPlan], int]:
    """Rallies and pauses: `num_rallies` of them, or as many as fill `minutes`; and the total frames."""
    rng = np.random.default_rng((seed, 3))
    frame, rallies = int(round(1.0 * fps)), []
    wanted = int(round(minutes * 60 * fps))
    while (len(rallies) < num_rallies) if wanted == 0 else (frame + 15 * fps < wanted or not rallies):
        num_hits = int(rng.integers(HITS_PER_RALLY[0], HITS_PER_RALLY[1] + 1))
        rallies.append(plan_rally(rng, num_hits, fps, frame))
        frame = rallies[-1].end + int(round(rng.uniform(*PAUSE_S) * fps))
    total = max(wanted, rallies[-1].end + int(round(1.5 * fps)))
    return rallies, total


def footstep_times(track: Track, fps: float) -> list[float]:
    """A step every STEP_LENGTH of each player's travel (players only step when they move)."""
    times: list[float] = []
    for x in track.player_x:
        travelled = np.concatenate([[0.0], np.cumsum(np.abs(np.diff(x)))])
        steps = np.flatnonzero(np.diff(np.floor(travelled / STEP_LENGTH)) > 0) + 1
        times += [float(s / fps) for s in steps]
    return sorted(times)


def _crowd(
    audio: np.ndarray, rallies: Sequence[RallyPlan], fps: float, sample_rate: int, rng: np.random.Generator
) -> dict[str, list[list[float]]]:
    """Applause after every rally and talk later in some pauses; returns where they are (s)."""
    applause, voices = [], []
    for rally, following in zip(rallies, [*rallies[1:], None], strict=True):
        landed = rally.landing / fps
        until = following.serve_frame / fps - 1.5 if following else len(audio) / sample_rate
        start = landed + rng.uniform(0.3, 0.8)
        length = min(rng.uniform(1.5, 3.0), until - start)
        if length > 0.5:
            sound.add_applause(audio, start, length, sample_rate, rng)
            applause.append([round(start, 3), round(start + length, 3)])
        talk = start + length + rng.uniform(0.3, 1.0)
        if rng.random() < 0.7 and until - talk > 0.6:
            span = min(rng.uniform(0.6, 1.6), until - talk)
            sound.add_voice(audio, talk, span, sample_rate, rng)
            voices.append([round(talk, 3), round(talk + span, 3)])
    return {"applause": applause, "voices": voices}


def _write(
    path: str | Path,
    kind: str,
    rallies: list[RallyPlan],
    total: int,
    fps: float,
    width: int,
    height: int,
    seed: int,
    sample_rate: int,
    with_audio: bool,
) -> dict[str, Any]:
    """Render, encode and describe one synthetic video (see the module docstring)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    track = build_track(rallies, total, fps, seed)
    duration = total / fps
    hits = [
        (rally_no, i, int(frame), rally)
        for rally_no, rally in enumerate(rallies)
        for i, frame in enumerate(rally.hits)
    ]
    sounds: dict[str, Any] = {}
    audio = None
    if with_audio:
        rng = np.random.default_rng((seed, 5))
        audio = sound.background(duration, sample_rate, rng)
        sound.add_clicks(audio, [frame / fps for *_, frame, _ in hits], sample_rate, rng)
        if kind == "match":
            sounds = _crowd(audio, rallies, fps, sample_rate, rng)
            steps = footstep_times(track, fps)
            sound.add_footsteps(audio, steps, sample_rate, rng)
            sounds["footsteps"] = len(steps)
    write_video(path, render(track, width, height, (seed, 4)), fps, audio=audio, sample_rate=sample_rate)
    info = {
        "video": path.name,
        "kind": kind,
        "fps": fps,
        "duration": duration,
        "num_frames": total,
        "width": width,
        "height": height,
        "has_audio": with_audio,
        "sample_rate": sample_rate if with_audio else None,
        "seed": seed,
        "hits": [
            {
                "time": frame / fps,
                "frame": frame,
                "class_id": rally.strokes[i],
                "stroke_en": by_id(rally.strokes[i]).en,
                "stroke_zh": by_id(rally.strokes[i]).zh,
                "player": rally.player(i),
                "rally": rally_no,
            }
            for rally_no, i, frame, rally in hits
        ],
        "rallies": [
            {
                "index": rally_no,
                "server": rally.player(0),
                "start": rally.serve_frame / fps,
                "end": rally.landing / fps,
                "num_hits": len(rally.strokes),
            }
            for rally_no, rally in enumerate(rallies)
        ],
        "sounds": sounds,
    }
    path.with_suffix(".json").write_text(
        json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    logger.info(
        "Wrote %s %s (%.1f s, %d rallies, %d hits, audio=%s) and %s",
        kind, path, duration, len(rallies), len(hits), with_audio, path.with_suffix(".json").name,
    )  # fmt: skip
    return info


def _check(fps: float, width: int, height: int, seed: int) -> None:
    check_frame_size(width, height)
    if fps <= 0 or seed < 0:
        raise ValueError(f"fps must be > 0 and seed >= 0, got fps {fps}, seed {seed}.")


def write_synthetic_rally(
    output_path: str | Path,
    num_hits: int = 6,
    fps: float = 30,
    width: int = 320,
    height: int = 240,
    seed: int = 0,
    sample_rate: int = 16000,
    with_audio: bool = True,
) -> dict[str, Any]:
    """One rally over quiet noise: the mp4 and `<name>.json` with its truth; returns the JSON's content.

    Hits fall on whole frames (time = frame / fps) so video and audio agree exactly. The same
    seed gives the same pictures with or without audio (`with_audio=False`: no audio stream).
    """
    if num_hits < 1:
        raise ValueError(f"num_hits must be >= 1, got {num_hits}.")
    _check(fps, width, height, seed)
    rng = np.random.default_rng((seed, 3))
    rally = plan_rally(rng, num_hits, fps, int(round(rng.uniform(0.4, 0.8) * fps)))
    total = rally.end + int(round(0.3 * fps))
    return _write(output_path, "rally", [rally], total, fps, width, height, seed, sample_rate, with_audio)


def write_synthetic_match(
    output_path: str | Path,
    num_rallies: int = 4,
    minutes: float = 0.0,
    fps: float = 30,
    width: int = 320,
    height: int = 240,
    seed: int = 0,
    sample_rate: int = 16000,
    with_audio: bool = True,
) -> dict[str, Any]:
    """A match: `num_rallies` rallies (or as many as fill `minutes`) with pauses, crowd and footsteps."""
    if num_rallies < 1 or minutes < 0:
        raise ValueError(f"num_rallies must be >= 1 and minutes >= 0, got {num_rallies}, {minutes}.")
    _check(fps, width, height, seed)
    rallies, total = plan_match(num_rallies, fps, seed, minutes)
    return _write(output_path, "match", rallies, total, fps, width, height, seed, sample_rate, with_audio)
