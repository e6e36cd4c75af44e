"""Segmentation: hit-to-hit windows, and cut clips that decode with the windows' durations."""

from __future__ import annotations

from pathlib import Path

import pytest

from shuttlesense.data.video_io import probe_video
from shuttlesense.rally.segments import Segment, SegmentConfig, cut_segments, group_rallies, make_segments
from shuttlesense.synthetic.match import write_synthetic_rally


@pytest.fixture(scope="module")
def rally(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("rally") / "rally.mp4"
    return path, write_synthetic_rally(path, num_hits=4, seed=1)


def test_windows_run_hit_to_hit_with_tail_and_padding() -> None:
    segs = make_segments([1.0, 2.5, 3.0], duration=10.0, config=SegmentConfig(last_tail_s=0.8))
    assert [(s.start, s.end, s.hit_time, s.index) for s in segs] == [
        (1.0, 2.5, 1.0, 0),
        (2.5, 3.0, 2.5, 1),
        (3.0, 3.8, 3.0, 2),
    ]
    padded = make_segments(
        [0.1, 1.0], duration=1.5, config=SegmentConfig(pre_padding_s=0.2, post_padding_s=0.3)
    )
    assert padded == [Segment(0.0, 1.3, 0.1, 0), Segment(0.8, 1.5, 1.0, 1, rally=0, shot=1)]
    assert make_segments([]) == []


def test_a_pause_ends_a_rally_and_its_last_stroke_gets_the_tail() -> None:
    config = SegmentConfig(last_tail_s=0.8, rally_gap_s=3.0)
    segs = make_segments([1.0, 2.0, 12.0, 13.0, 13.5], duration=20.0, config=config)
    assert [(s.start, s.end, s.rally, s.shot) for s in segs] == [
        (1.0, 2.0, 0, 0),
        (2.0, 2.8, 0, 1),  # not on to the next serve at 12.0
        (12.0, 13.0, 1, 0),
        (13.0, 13.5, 1, 1),
        (13.5, 14.3, 1, 2),
    ]
    assert group_rallies([5.5, 1.0, 2.0, 5.0], 3.0) == [[1.0, 2.0, 5.0, 5.5]]
    assert group_rallies([5.5, 1.0, 2.0], 3.0) == [[1.0, 2.0], [5.5]]
    with pytest.raises(ValueError, match="rally_gap_s"):
        SegmentConfig(rally_gap_s=0)


def test_cut_clips_decode_with_expected_durations(rally: tuple[Path, dict], tmp_path: Path) -> None:
    path, info = rally
    segs = make_segments([h["time"] for h in info["hits"]], info["duration"])
    assert len(segs) == len(info["hits"])
    clips = cut_segments(path, segs, tmp_path / "clips")
    assert len(clips) == len(segs)
    for seg, clip in zip(segs, clips, strict=True):
        assert probe_video(clip).duration == pytest.approx(seg.duration, abs=1.5 / info["fps"])


def test_stream_copy_used_when_a_keyframe_starts_the_window(rally: tuple[Path, dict], tmp_path: Path) -> None:
    path, info = rally
    seg = Segment(0.0, 0.5, 0.0, 0)  # the first frame is a keyframe
    (clip,) = cut_segments(path, [seg], tmp_path)
    assert probe_video(clip).duration == pytest.approx(0.5, abs=1.5 / info["fps"])


def test_missing_video_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        cut_segments(tmp_path / "nope.mp4", [Segment(0, 1, 0, 0)], tmp_path)
