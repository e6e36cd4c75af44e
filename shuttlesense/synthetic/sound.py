"""The soundtrack of a synthetic rally or match: hit clicks, and the sounds that are not hits.

Why the other sounds: a match's sound is not a click track. Applause after a rally is a burst of
claps each as sharp and as loud as a hit, players' footsteps thump throughout, and voices carry in
the pauses. A hit detector that is only tested on clicks over quiet noise calls all of these hits.
Everything is mono float32 in [-1, 1], placed sample-exactly so the truth is exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

NOISE_LEVEL = 0.01
CLICK_S, CLICK_DECAY_S, CLICK_LEVEL = 0.006, 0.0008, 0.8
CLAPS_PER_S = 45.0  # a small crowd clapping
CLAP_S, CLAP_DECAY_S = 0.008, 0.0015
STEP_S, STEP_DECAY_S, STEP_ATTACK_S = 0.08, 0.03, 0.006


def background(duration: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Low hall noise for `duration` seconds."""
    return rng.normal(0.0, NOISE_LEVEL, int(math.ceil(duration * sample_rate))).astype(np.float32)


def _add(audio: np.ndarray, onset: int, sound: np.ndarray) -> None:
    stop = min(len(audio), onset + len(sound))
    if 0 <= onset < stop:
        audio[onset:stop] += sound[: stop - onset].astype(np.float32)


def add_clicks(audio: np.ndarray, times: Sequence[float], sample_rate: int, rng: np.random.Generator) -> None:
    """A racket-shuttle impact at each time: a sharp broadband click whose first sample is its peak."""
    n = np.arange(max(1, int(CLICK_S * sample_rate)))
    envelope = np.exp(-n / (CLICK_DECAY_S * sample_rate))
    for time in times:
        click = CLICK_LEVEL * envelope * rng.uniform(-1.0, 1.0, len(n))
        click[0] = CLICK_LEVEL  # the loudest sample is the onset itself
        _add(audio, int(round(time * sample_rate)), click)


def add_applause(
    audio: np.ndarray, start: float, duration: float, sample_rate: int, rng: np.random.Generator
) -> None:
    """A crowd clapping from `start`: dense claps, each as sharp and up to as loud as a hit."""
    n = np.arange(max(1, int(CLAP_S * sample_rate)))
    envelope = np.exp(-n / (CLAP_DECAY_S * sample_rate))
    count = rng.poisson(CLAPS_PER_S * duration)
    for offset in np.sort(rng.uniform(0.0, duration, count)):
        swell = min(1.0, offset / 0.25, (duration - offset) / 0.6)  # rises fast, dies away
        level = CLICK_LEVEL * rng.uniform(0.5, 1.0) * max(swell, 0.3)
        _add(audio, int(round((start + offset) * sample_rate)), level * envelope * rng.uniform(-1, 1, len(n)))


def add_footsteps(
    audio: np.ndarray, times: Sequence[float], sample_rate: int, rng: np.random.Generator
) -> None:
    """A low thump per step (70-140 Hz, soft attack), as loud as a hit but with no crack."""
    n = np.arange(max(1, int(STEP_S * sample_rate)))
    attack = np.clip(n / (STEP_ATTACK_S * sample_rate), 0.0, 1.0)
    envelope = np.sin(0.5 * np.pi * attack) ** 2 * np.exp(-n / (STEP_DECAY_S * sample_rate))
    for time in times:
        pitch = rng.uniform(70.0, 140.0)
        thump = CLICK_LEVEL * rng.uniform(0.5, 1.0) * envelope * np.sin(2 * np.pi * pitch * n / sample_rate)
        _add(audio, int(round(time * sample_rate)), thump)


def add_voice(
    audio: np.ndarray, start: float, duration: float, sample_rate: int, rng: np.random.Generator
) -> None:
    """Someone talking from `start`: voiced syllables (a pitch and its harmonics, smooth envelope)."""
    time = start
    while time < start + duration:
        length = rng.uniform(0.12, 0.35)
        n = np.arange(int(length * sample_rate))
        pitch = rng.uniform(110.0, 230.0) * np.linspace(1.0, rng.uniform(0.85, 1.15), len(n))
        phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
        voiced = sum(np.sin(k * phase) / k for k in range(1, 11))
        syllable = 0.25 * rng.uniform(0.6, 1.0) * np.hanning(len(n)) * voiced
        _add(audio, int(round(time * sample_rate)), syllable)
        time += length + rng.uniform(0.05, 0.25)
