from collections import defaultdict
from pathlib import Path

import pytest

from shuttlesense.data.scan import scan_clips
from shuttlesense.data.splits import (
    SPLITS,
    coverage_warnings,
    read_split_files,
    session_split,
    stratified_split,
)


@pytest.fixture(scope="module")
def clips(synthetic_source: Path):
    return scan_clips(synthetic_source).clips


def _assert_partition(assignment: dict[str, str], clips) -> None:
    assert set(assignment) == {c.id for c in clips}, "every clip in exactly one split"
    assert set(assignment.values()) <= set(SPLITS)


def test_stratified_split_partitions_each_class_by_fraction(clips):
    assignment = stratified_split(clips, [0.34, 0.33, 0.33], seed=1)
    _assert_partition(assignment, clips)
    per_class = defaultdict(lambda: defaultdict(int))
    for clip in clips:
        per_class[clip.class_id][assignment[clip.id]] += 1
    assert all(counts == {"train": 1, "validation": 1, "test": 1} for counts in per_class.values())
    assert stratified_split(list(reversed(clips)), [0.34, 0.33, 0.33], seed=1) == assignment
    assert stratified_split(clips, [0.34, 0.33, 0.33], seed=2) != assignment


def test_every_class_with_three_clips_reaches_every_split(clips):
    """75/12.5/12.5 on 3 clips per class: rounding alone would give 2/1/0 (no test clip at all)."""
    assignment = stratified_split(clips, [0.75, 0.125, 0.125], seed=0)
    per_class = defaultdict(lambda: defaultdict(int))
    for clip in clips:
        per_class[clip.class_id][assignment[clip.id]] += 1
    assert all(counts == {"train": 1, "validation": 1, "test": 1} for counts in per_class.values())
    assert coverage_warnings(assignment, clips, SPLITS) == []
    two_per_class = [c for c in clips if assignment[c.id] != "test"]  # a class of 2 cannot fill 3 splits
    only_train = stratified_split(two_per_class, [0.75, 0.125, 0.125], seed=0)
    warnings = coverage_warnings(only_train, two_per_class, SPLITS)
    assert "split test has no clips (left out of the dataset)" in warnings


def test_a_class_missing_from_a_split_is_named(clips):
    assignment = stratified_split(clips, [0.34, 0.33, 0.33], seed=1)
    lifts = [c.id for c in clips if c.class_id == 2 and assignment[c.id] == "validation"]
    assignment.update(dict.fromkeys(lifts, "train"))
    assert coverage_warnings(assignment, clips, SPLITS) == [
        "split validation has no clips of 1 class(es): Lift"
    ]


def test_session_split_keeps_sessions_whole(clips):
    assignment = session_split(clips, [0.5, 0.25, 0.25], seed=0)
    _assert_partition(assignment, clips)
    split_of_session = defaultdict(set)
    for clip in clips:
        split_of_session[clip.meta.session].add(assignment[clip.id])
    assert all(len(s) == 1 for s in split_of_session.values())
    assert set(assignment.values()) == set(SPLITS), "no split left empty"


def test_session_split_needs_enough_sessions(clips):
    one_session = [c for c in clips if c.meta.session == clips[0].meta.session]
    with pytest.raises(ValueError, match="at least 3 recording sessions"):
        session_split(one_session, [0.8, 0.1, 0.1], seed=0)


def test_official_split_reproduces_the_split_files(synthetic_source: Path, clips):
    files = [synthetic_source / f for f in ("train.txt", "val.txt", "test.txt")]
    assignment, problems = read_split_files(files, clips)
    assert problems == []
    for split, file in zip(SPLITS, files, strict=True):
        listed = {
            line.split()[0].removesuffix(".mp4") for line in file.read_text().splitlines() if line.strip()
        }
        assert {cid for cid, s in assignment.items() if s == split} == listed


def test_split_file_problems_are_reported(tmp_path: Path, clips):
    train, val, test = (tmp_path / n for n in ("train.txt", "val.txt", "test.txt"))
    first, second = clips[0], clips[1]
    train.write_text(f"{first.path.name} {first.class_id:02d}\nmissing_clip.mp4 03\nno-class-id\n")
    val.write_text(
        f"{second.path.name} {(second.class_id + 1) % 18:02d}\n{first.path.name} {first.class_id:02d}\n"
    )
    test.write_text("")
    assignment, problems = read_split_files([train, val, test], clips)
    assert assignment == {first.id: "train"}
    reasons = [p.reason for p in problems]
    assert any("missing_clip.mp4 is not among the kept clips" in r for r in reasons)
    assert any("malformed line" in r for r in reasons)
    assert any("disagrees" in r for r in reasons)
    assert any("already listed for train" in r for r in reasons)
