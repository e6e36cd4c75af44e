"""Hit detection on synthetic rallies with known hit times (audio clicks, shuttle direction flips)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shuttlesense.data.video_writer import write_video
from shuttlesense.rally.hits import (
    HitDetection,
    HitDetectionError,
    HitDetector,
    detect_hits,
    get_hit_detector,
)
from shuttlesense.synthetic.match import write_synthetic_rally

SEEDS = (0, 1)


@pytest.fixture(scope="module")
def rallies(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[int, bool], tuple[Path, list[float]]]:
    root = tmp_path_factory.mktemp("rallies")
    out = {}
    for seed in SEEDS:
        for audio in (True, False):
            path = root / f"rally{seed}_{'audio' if audio else 'silent'}.mp4"
            info = write_synthetic_rally(path, seed=seed, with_audio=audio)
            out[seed, audio] = (path, [h["time"] for h in info["hits"]])
    return out


def _match(found: HitDetection, truth: list[float], tolerance: float) -> None:
    times = np.asarray(found.times)
    assert len(times) == len(truth), f"found {found.times}, expected {truth}"
    errors = np.abs(times - np.asarray(truth))
    assert errors.max() <= tolerance, f"timing errors {errors} (found {found.times}, expected {truth})"


@pytest.mark.parametrize("seed", SEEDS)
def test_audio_finds_every_hit_within_50ms(rallies, seed: int) -> None:
    path, truth = rallies[seed, True]
    result = detect_hits(path, "audio")
    assert result.method == "audio"
    _match(result, truth, 0.050)


@pytest.mark.parametrize("seed", SEEDS)
def test_visual_finds_every_hit_within_100ms_on_silent_copy(rallies, seed: int) -> None:
    path, truth = rallies[seed, False]
    _match(detect_hits(path, "visual"), truth, 0.100)


def test_auto_uses_audio_when_present(rallies) -> None:
    path, truth = rallies[0, True]
    result = detect_hits(path)
    assert result.method == "audio" and "used audio" in result.notes[0]
    _match(result, truth, 0.050)


def test_auto_falls_back_to_visual_and_says_so(rallies) -> None:
    path, _ = rallies[0, False]
    result = detect_hits(path, "auto")
    assert result.method == "visual"
    assert "no audio track" in result.notes[0] and "used visual" in result.notes[0]


def test_static_video_gives_empty_result(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    path = tmp_path / "static.mp4"
    write_video(path, (base for _ in range(45)), 30)
    for method in ("auto", "visual", "audio"):
        result = detect_hits(path, method)
        assert result.times == [] and result.strengths == []


def test_truncated_file_raises_clear_error(rallies, tmp_path: Path) -> None:
    path, _ = rallies[0, True]
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(path.read_bytes()[:2000])
    for method in ("auto", "visual"):
        with pytest.raises(HitDetectionError, match="broken.mp4"):
            detect_hits(broken, method)


def test_detectors_follow_the_protocol() -> None:
    for method in ("auto", "audio", "visual"):
        assert isinstance(get_hit_detector(method), HitDetector)
    with pytest.raises(ValueError, match="Unknown"):
        get_hit_detector("nope")  # type: ignore[arg-type]
