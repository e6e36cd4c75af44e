from pathlib import Path

import pytest

from shuttlesense import labels
from shuttlesense.data.scan import find_dataset_root, parse_clip_name, scan_clips


def test_parse_clip_name_reads_every_field():
    meta = parse_clip_name("2022-08-30_18-00-09_dataset_set1_022_002091_002108_A_14.mp4")
    assert meta is not None
    assert (meta.session, meta.set, meta.shot) == ("2022-08-30_18-00-09", 1, 22)
    assert (meta.start_frame, meta.end_frame, meta.side, meta.class_id) == (2091, 2108, "A", 14)
    assert parse_clip_name("2022-08-30_18-00-09_dataset_set2_001_000010_000040_BB_03.mp4").side == "BB"


@pytest.mark.parametrize("name", ["clip.mp4", "2022-08-30_dataset_set1_1_2_3_A_14.mp4", "x_A_14.mp4"])
def test_parse_clip_name_rejects_other_names(name):
    assert parse_clip_name(name) is None


def test_root_found_from_outer_nested_and_inner_folder(synthetic_source: Path):
    inner = synthetic_source / "VideoBadminton_Dataset" / "VideoBadminton_Dataset"
    for start in (synthetic_source, synthetic_source / "VideoBadminton_Dataset", inner):
        assert find_dataset_root(start) == inner


def test_scan_keeps_every_synthetic_clip(synthetic_source: Path):
    result = scan_clips(synthetic_source)
    assert result.skipped == []
    assert len(result.clips) == 3 * labels.NUM_CLASSES
    assert {c.class_id for c in result.clips} == set(range(labels.NUM_CLASSES))


def test_empty_and_missing_sources_are_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="No VideoBadminton class folders"):
        find_dataset_root(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_dataset_root(tmp_path / "nope")
