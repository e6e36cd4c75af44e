from pathlib import Path

import numpy as np
import pytest

from shuttlesense.data.loading import FrameSampling, load_clip, load_split
from shuttlesense.data.video_io import VideoInfo, decode_frames, fit_to_pixel_budget, sample_indices


def test_sample_indices_cover_the_clip_and_survive_tiny_clips():
    assert sample_indices(31, 4) == [0, 10, 20, 30]
    assert sample_indices(1, 4) == [0, 0, 0, 0]
    assert sample_indices(2, 3) == [0, 0, 1] or sample_indices(2, 3) == [0, 1, 1]


def test_pixel_budget_keeps_multiples_of_28():
    w, h = fit_to_pixel_budget(1280, 960, 448 * 448)
    assert w % 28 == 0 and h % 28 == 0 and w * h <= 448 * 448
    assert abs(w / h - 1280 / 960) < 0.1


def test_frame_sampling_by_count_and_by_fps():
    info = VideoInfo(num_frames=60, fps=30.0, width=1280, height=960)
    assert FrameSampling(num_frames=7).frames_for(info) == 8, "rounded up to even"
    assert FrameSampling(fps=4, min_frames=2, max_frames=32).frames_for(info) == 8
    assert FrameSampling(fps=100, max_frames=16).frames_for(info) == 16


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_frames": 0}, "num_frames must be at least 1; got 0"),
        ({"max_pixels": -5}, "max_pixels must be at least 1; got -5"),
        ({"fps": 0.0}, "fps must be positive"),
        ({"min_frames": 40}, r"min_frames \(40\) is above max_frames \(32\)"),
    ],
)
def test_frame_sampling_refuses_values_that_cannot_work(options, message):
    with pytest.raises(ValueError, match=message):
        FrameSampling(**options)


def test_load_split_and_decode_a_clip(prepared_dataset: Path):
    split = load_split(str(prepared_dataset), "val")
    clip = load_clip(split[0], FrameSampling(num_frames=8, max_pixels=56 * 56))
    assert (
        clip.frames.shape == (8, 28, 56, 3) and clip.frames.dtype == np.uint8
    )  # 112x84 scaled into 56*56 px
    assert clip.indices[0] == 0 and clip.indices[-1] == split[0]["num_frames"] - 1
    assert clip.fps == pytest.approx(30.0)


def test_decoding_from_bytes_equals_decoding_from_path(synthetic_source: Path):
    path = next(
        (synthetic_source / "VideoBadminton_Dataset" / "VideoBadminton_Dataset" / "02_Lift").iterdir()
    )
    a = decode_frames(path, num_frames=4, max_pixels=56 * 56)
    b = decode_frames(path.read_bytes(), num_frames=4, max_pixels=56 * 56)
    np.testing.assert_array_equal(a.frames, b.frames)


def test_load_split_errors_name_the_problem(tmp_path: Path, prepared_dataset: Path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_split(str(tmp_path / "nope"), "train")
    with pytest.raises(ValueError, match="no split"):
        load_split(str(prepared_dataset), "holdout")
