"""Train/validation/test assignment: the authors' split files, a stratified one, or by session.

The official split is random by clip, so neighbouring shots of one recording session leak
across splits; `session` keeps each session whole and is the honest choice for reporting.
All functions return {clip id: split name} and never look at the videos themselves.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

from shuttlesense.data.scan import ClipRecord, SkippedFile
from shuttlesense.labels import by_id

SPLITS = ("train", "validation", "test")
SPLIT_METHODS = ("official", "stratified", "session")


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"Split fractions must be three non-negative numbers summing to 1, got {fractions}.")
    return tuple(float(f) for f in fractions)  # type: ignore[return-value]


def _counts_for(n: int, fractions: Sequence[float]) -> list[int]:
    """Split n items by fractions with largest-remainder rounding (sums to n exactly)."""
    raw = [n * f for f in fractions]
    counts = [int(r) for r in raw]
    for i in sorted(range(3), key=lambda i: raw[i] - counts[i], reverse=True)[: n - sum(counts)]:
        counts[i] += 1
    return counts


def _class_counts(n: int, fractions: Sequence[float]) -> list[int]:
    """`_counts_for`, but a class with a clip for every wanted split gets at least one in each
    (rounding alone leaves a class of 4 without a test clip at 75/12.5/12.5)."""
    counts = _counts_for(n, fractions)
    wanted = [i for i, f in enumerate(fractions) if f > 0]
    if n >= len(wanted):
        for i in wanted:
            if counts[i] == 0:
                counts[max(wanted, key=lambda j: counts[j])] -= 1
                counts[i] = 1
    return counts


def coverage_warnings(
    assignment: dict[str, str], clips: Sequence[ClipRecord], splits: Sequence[str]
) -> list[str]:
    """What a user must know about the split: empty splits, and classes missing from a split."""
    present: dict[str, set[int]] = {s: set() for s in splits}
    for clip in clips:
        if assignment.get(clip.id) in present:
            present[assignment[clip.id]].add(clip.class_id)
    classes = {clip.class_id for clip in clips}
    warnings = []
    for split in splits:
        if not present[split]:
            warnings.append(f"split {split} has no clips (left out of the dataset)")
        elif missing := sorted(classes - present[split]):
            names = ", ".join(by_id(c).en for c in missing)
            warnings.append(f"split {split} has no clips of {len(missing)} class(es): {names}")
    return warnings


def stratified_split(clips: Sequence[ClipRecord], fractions: Sequence[float], seed: int) -> dict[str, str]:
    """Per-class shuffle, then cut each class by `fractions` (seeded, independent of file order)."""
    fractions = check_fractions(fractions)
    by_class: dict[int, list[str]] = defaultdict(list)
    for clip in clips:
        by_class[clip.class_id].append(clip.id)
    assignment: dict[str, str] = {}
    for class_id in sorted(by_class):
        ids = sorted(by_class[class_id])
        random.Random(f"{seed}-{class_id}").shuffle(ids)
        start = 0
        for split, count in zip(SPLITS, _class_counts(len(ids), fractions), strict=True):
            assignment.update(dict.fromkeys(ids[start : start + count], split))
            start += count
    return assignment


def session_split(clips: Sequence[ClipRecord], fractions: Sequence[float], seed: int) -> dict[str, str]:
    """Whole sessions per split, chosen greedily to keep every class near the target fractions.

    Sessions are placed largest first; each goes to the split where it most reduces the squared
    gap between per-class counts and their targets (with every non-empty split served first).
    """
    fractions = check_fractions(fractions)
    sessions: dict[str, Counter] = defaultdict(Counter)
    for clip in clips:
        sessions[clip.meta.session][clip.class_id] += 1
    wanted_splits = [s for s, f in zip(SPLITS, fractions, strict=True) if f > 0]
    if len(sessions) < len(wanted_splits):
        raise ValueError(
            f"A session split needs at least {len(wanted_splits)} recording sessions; found {len(sessions)}."
        )
    totals = Counter()
    for counts in sessions.values():
        totals.update(counts)
    targets = {s: {c: n * f for c, n in totals.items()} for s, f in zip(SPLITS, fractions, strict=True)}
    placed: dict[str, Counter] = {s: Counter() for s in SPLITS}
    order = sorted(
        sessions, key=lambda s: (-sum(sessions[s].values()), random.Random(f"{seed}-{s}").random())
    )
    session_of: dict[str, str] = {}
    for session in order:
        empty = [s for s in wanted_splits if not placed[s]]
        candidates = empty if empty and len(order) - len(session_of) <= len(empty) else wanted_splits

        def cost(split: str, session: str = session) -> float:
            return sum(
                (placed[split][c] + n - targets[split][c]) ** 2 - (placed[split][c] - targets[split][c]) ** 2
                for c, n in sessions[session].items()
            )

        best = min(candidates, key=lambda s: (cost(s), SPLITS.index(s)))
        placed[best].update(sessions[session])
        session_of[session] = best
    return {clip.id: session_of[clip.meta.session] for clip in clips}


def read_split_files(
    split_files: Sequence[str | Path], clips: Sequence[ClipRecord]
) -> tuple[dict[str, str], list[SkippedFile]]:
    """The authors' split: `<file name> <class id>` lines, one file per split (train, val, test).

    Returns the assignment and the problems found (lines naming a missing clip, malformed lines,
    class ids that disagree with the clip's folder, clips listed twice).
    """
    if len(split_files) != 3:
        raise ValueError(
            f"--split-files needs three files (train, validation, test); got {len(split_files)}."
        )
    by_name = {clip.path.name: clip for clip in clips}
    assignment: dict[str, str] = {}
    problems: list[SkippedFile] = []
    for split, file in zip(SPLITS, split_files, strict=True):
        file = Path(file)
        if not file.is_file():
            raise FileNotFoundError(f"Split file for {split} not found: {file}")
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
            where = f"{file.name}:{number}"
            parts = line.strip().rsplit(maxsplit=1)
            if not parts:
                continue
            if len(parts) != 2 or not parts[1].isdigit():
                problems.append(SkippedFile(where, f"malformed line {line.strip()!r}"))
                continue
            name, class_id = Path(parts[0]).name, int(parts[1])
            clip = by_name.get(name)
            if clip is None:
                problems.append(SkippedFile(where, f"{name} is not among the kept clips"))
            elif clip.class_id != class_id:
                problems.append(SkippedFile(where, f"class id {class_id} disagrees with the clip's folder"))
            elif clip.id in assignment:
                problems.append(SkippedFile(where, f"{name} already listed for {assignment[clip.id]}"))
            else:
                assignment[clip.id] = split
    return assignment, problems


def summarize(assignment: dict[str, str], clips: Sequence[ClipRecord]) -> dict[str, dict[int, int]]:
    """Per split, per class id, the number of clips."""
    class_of = {clip.id: clip.class_id for clip in clips}
    table: dict[str, dict[int, int]] = {s: dict.fromkeys(range(18), 0) for s in SPLITS}
    for clip_id, split in assignment.items():
        table[split][class_of[clip_id]] += 1
    return table
