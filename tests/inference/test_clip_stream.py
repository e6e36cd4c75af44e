"""Clips decoded ahead in worker processes: the same frames, in order, bad clips reported in place."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shuttlesense.data.loading import FrameSampling
from shuttlesense.data.video_io import FrameGrid, VideoDecodeError, decode_frames
from shuttlesense.inference.clip_stream import ClipSource, decode_ahead


@pytest.fixture(scope="module")
def sources(synthetic_source: Path) -> list[ClipSource]:
    clips = sorted(synthetic_source.rglob("*.mp4"))[:5]
    bad = ClipSource(b"not a video at all")
    return [ClipSource(str(clips[0])), bad, *(ClipSource(str(p)) for p in clips[1:])]


@pytest.mark.parametrize("workers", [0, 2])
def test_workers_decode_the_same_frames_in_order_and_report_a_bad_clip_in_place(sources, workers):
    sampling, grid = FrameSampling(num_frames=4, max_pixels=56 * 56), FrameGrid()
    loaded = list(decode_ahead(sources, sampling, grid, workers))
    assert [item.position for item in loaded] == list(range(len(sources)))
    assert isinstance(loaded[1].error, VideoDecodeError) and loaded[1].clip is None
    for item, source in zip(loaded, sources, strict=True):
        if item.error is None:
            expected = decode_frames(source.video, 4, max_pixels=56 * 56, grid=grid)
            assert isinstance(item.clip.frames, np.ndarray)
            np.testing.assert_array_equal(item.clip.frames, expected.frames)
            assert item.clip.indices == expected.indices and item.decode_s > 0


def test_only_the_positions_asked_for(sources):
    sampling = FrameSampling(num_frames=2, max_pixels=56 * 56)
    assert [c.position for c in decode_ahead(sources, sampling, FrameGrid(), 1, positions=[4, 0, 2])] == [
        4,
        0,
        2,
    ]
    with pytest.raises(ValueError, match="num_workers"):
        next(decode_ahead(sources, sampling, FrameGrid(), -1))


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_the_model_keeps_the_cores_the_workers_leave_until_the_last_clip(sources, workers):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(4)  # a 4-core share, whatever this machine has
    try:
        sampling = FrameSampling(num_frames=2, max_pixels=56 * 56)
        seen = [torch.get_num_threads() for _ in decode_ahead(sources, sampling, FrameGrid(), workers)]
        assert seen == [4 - workers] * len(sources)
        assert torch.get_num_threads() == 4
        stream = decode_ahead(sources, sampling, FrameGrid(), workers)
        next(stream)
        stream.close()  # the caller stopped early (a failed run): the threads come back too
        assert torch.get_num_threads() == 4
    finally:
        torch.set_num_threads(before)
