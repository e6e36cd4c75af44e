"""`shuttlesense prepare`: VideoBadminton folders -> a Hub-ready `datasets` folder (parquet + card).

The output folder is exactly what goes to the Hub: `data/<split>-NNNNN-of-NNNNN.parquet`,
a `README.md` dataset card and `dataset_stats.json`. `load_dataset(OUT)` loads it with no custom
code. Bad files are skipped and listed with their reason; found = kept + skipped, always.
"""

from __future__ import annotations

import json
import logging
import math
import os
import statistics
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from datasets import ClassLabel, Dataset, Features, Value, Video
from tqdm.auto import tqdm

from shuttlesense import labels
from shuttlesense.data.dataset_card import render_dataset_card
from shuttlesense.data.scan import ClipRecord, SkippedFile, scan_clips
from shuttlesense.data.splits import (
    SPLIT_METHODS,
    SPLITS,
    check_fractions,
    coverage_warnings,
    read_split_files,
    session_split,
    stratified_split,
    summarize,
)
from shuttlesense.data.video_io import VideoDecodeError, VideoInfo, probe_video
from shuttlesense.paths import OUTPUT_MARKER, check_apart, check_output_dir, claim_output_dir, seal_output_dir

logger = logging.getLogger(__name__)

MAX_SHARD_BYTES = 500 * 1024**2  # the same shard size `push_to_hub` aims for

FEATURES = Features(
    {
        "id": Value("string"),
        "video": Video(),
        "label": ClassLabel(names=labels.CLASS_NAMES_EN),
        "label_zh": Value("string"),
        "session": Value("string"),
        "set": Value("int32"),
        "shot": Value("int32"),
        "start_frame": Value("int32"),
        "end_frame": Value("int32"),
        "side": Value("string"),
        "num_frames": Value("int32"),
        "fps": Value("float32"),
        "width": Value("int32"),
        "height": Value("int32"),
        "duration": Value("float32"),
        "file_name": Value("string"),
    }
)


@dataclass
class PrepareArguments:
    """Options of `shuttlesense prepare`."""

    source: str = field(
        metadata={"help": "Folder where VideoBadminton was unzipped (the nested or the inner folder)."}
    )
    output: str = field(
        metadata={"help": "Output folder: parquet shards under data/, README.md, dataset_stats.json."}
    )
    split: str = field(
        default="session",
        metadata={
            "help": "How to split: official (--split-files), stratified (by class) or session (no leakage).",
            "choices": list(SPLIT_METHODS),
        },
    )
    split_files: list[str] | None = field(
        default=None,
        metadata={
            "help": "For --split official: the authors' TRAIN VAL TEST files (`<file name> <class id>` lines)."
        },
    )
    fractions: list[float] = field(
        default_factory=lambda: [0.75, 0.125, 0.125],
        metadata={"help": "Train/validation/test fractions for stratified and session splits."},
    )
    seed: int = field(default=42, metadata={"help": "Seed for the stratified and session splits."})
    num_proc: int = field(default=1, metadata={"help": "Processes used to probe clips."})
    overwrite: bool = field(default=False, metadata={"help": "Replace a non-empty output folder."})
    export_json: str | None = field(
        default=None,
        metadata={
            "help": "Also write the ShareGPT-style train/val/test.json + videos/ for other tools here."
        },
    )
    export_language: str = field(
        default="zh",
        metadata={"help": "Answer language of the exported JSON.", "choices": list(labels.LANGUAGES)},
    )
    push_to_hub: str | None = field(
        default=None, metadata={"help": "Upload the output folder to this Hub dataset repo (user/name)."}
    )
    private: bool = field(default=False, metadata={"help": "Create the Hub repo as private."})
    progress: bool = field(default=True, metadata={"help": "Show progress bars."})

    def __post_init__(self) -> None:
        if self.num_proc < 1:
            raise ValueError(f"--num-proc must be at least 1; got {self.num_proc}.")
        if self.split != "official":
            check_fractions(self.fractions)
            if self.split_files:
                raise ValueError(
                    f"--split-files is only used with --split official, not --split {self.split}."
                )
        elif not self.split_files or len(self.split_files) != 3:
            raise ValueError("--split official needs --split-files TRAIN VAL TEST (three files).")


LEGACY_OUTPUT = ("dataset_stats.json", "README.md", "data")
"""What a `prepare` output from before the output marker holds: --overwrite may replace it too."""


def _probe(path: Path) -> VideoInfo | str:
    """Probe one clip; the reason string if it cannot be used (runs in worker processes)."""
    try:
        return probe_video(path, to_the_end=True)
    except (VideoDecodeError, FileNotFoundError) as err:
        return str(err)


def probe_clips(
    clips: Sequence[ClipRecord], num_proc: int = 1, progress: bool = True
) -> tuple[dict[str, VideoInfo], list[SkippedFile]]:
    """Probe every clip (in parallel with `num_proc`); unreadable ones become skipped entries."""
    paths = [clip.path for clip in clips]
    bar = {"total": len(paths), "desc": "Probing clips", "unit": "clip", "disable": not progress}
    if num_proc > 1:
        with ProcessPoolExecutor(num_proc) as pool:
            results = list(tqdm(pool.map(_probe, paths, chunksize=16), **bar))
    else:
        results = [_probe(p) for p in tqdm(paths, **bar)]
    infos: dict[str, VideoInfo] = {}
    skipped: list[SkippedFile] = []
    for clip, result in zip(clips, results, strict=True):
        if isinstance(result, VideoInfo):
            infos[clip.id] = result
        else:
            skipped.append(SkippedFile(clip.relative_path, f"unreadable video: {result}"))
    return infos, skipped


def assign_splits(
    args: PrepareArguments, clips: Sequence[ClipRecord]
) -> tuple[dict[str, str], list[SkippedFile]]:
    """{clip id: split} by the chosen method, plus split-file problems (official split only)."""
    if args.split == "official":
        return read_split_files(args.split_files, clips)
    if args.split == "stratified":
        return stratified_split(clips, args.fractions, args.seed), []
    if args.split == "session":
        return session_split(clips, args.fractions, args.seed), []
    raise ValueError(f"Unknown split method {args.split!r}; choose one of {SPLIT_METHODS}.")


def _rows(clips: Sequence[ClipRecord], infos: dict[str, VideoInfo]) -> Iterator[dict[str, Any]]:
    for clip in clips:
        info = infos[clip.id]
        yield {
            "id": clip.id,
            "video": {"bytes": clip.path.read_bytes(), "path": clip.path.name},
            "label": clip.class_id,
            "label_zh": labels.by_id(clip.class_id).zh,
            **{k: v for k, v in asdict(clip.meta).items() if k != "class_id"},
            "num_frames": info.num_frames,
            "fps": info.fps,
            "width": info.width,
            "height": info.height,
            "duration": info.duration,
            "file_name": clip.relative_path,
        }


def write_split(
    name: str, clips: Sequence[ClipRecord], infos: dict[str, VideoInfo], output: Path, cache_dir: str
) -> tuple[int, int]:
    """Write one split as parquet shards of at most ~500 MB; returns (rows, bytes)."""
    dataset = Dataset.from_generator(
        _rows, gen_kwargs={"clips": list(clips), "infos": infos}, features=FEATURES, cache_dir=cache_dir
    )
    num_bytes = dataset.data.nbytes
    num_shards = max(1, math.ceil(num_bytes / MAX_SHARD_BYTES))
    for index in range(num_shards):
        shard = dataset.shard(num_shards, index, contiguous=True)
        shard.to_parquet(str(output / "data" / f"{name}-{index:05d}-of-{num_shards:05d}.parquet"))
    return len(dataset), num_bytes


def _private_paths_removed(skipped: SkippedFile, root: Path) -> SkippedFile:
    """The skip record with the source folder's absolute path cut out of its reason."""
    prefix = str(root.resolve()) + os.sep
    return SkippedFile(skipped.file, skipped.reason.replace(prefix, "").replace(str(root) + os.sep, ""))


def _split_stats(clips: Sequence[ClipRecord], infos: dict[str, VideoInfo]) -> dict[str, Any]:
    frames = [infos[c.id].num_frames for c in clips]
    return {
        "num_clips": len(clips),
        "num_sessions": len({c.meta.session for c in clips}),
        "duration_seconds": round(sum(infos[c.id].duration for c in clips), 2),
        "frames": {"min": min(frames), "median": statistics.median(frames), "max": max(frames)}
        if frames
        else None,
    }


def prepare_dataset(args: PrepareArguments) -> dict[str, Any]:
    """Run the whole preparation; returns the stats that are also written to dataset_stats.json."""
    # Before the scan and the probe (minutes on the real dataset): refuse a bad output at once.
    inputs = [args.source, *(args.split_files or [])]
    check_output_dir(args.output, "prepare", args.overwrite, inputs, LEGACY_OUTPUT)
    scan = scan_clips(args.source)
    if not scan.clips:
        raise ValueError(
            f"No usable clips under {scan.root}: {scan.num_found} files found, all skipped "
            f"(first reasons: {[s.reason for s in scan.skipped[:3]]})."
        )
    logger.info("Found %d files under %s: %d candidate clips", scan.num_found, scan.root, len(scan.clips))
    infos, unreadable = probe_clips(scan.clips, args.num_proc, args.progress)
    readable = [c for c in scan.clips if c.id in infos]
    if not readable:
        raise ValueError(f"None of the {len(scan.clips)} clips under {scan.root} could be decoded.")
    assignment, split_problems = assign_splits(args, readable)
    unassigned = [
        SkippedFile(c.relative_path, "not listed in the split files")
        for c in readable
        if c.id not in assignment
    ]
    kept = [c for c in readable if c.id in assignment]
    # dataset_stats.json goes to the Hub with the data: paths relative to the source, no local ones.
    skipped = [_private_paths_removed(s, scan.root) for s in scan.skipped + unreadable + unassigned]

    output = claim_output_dir(args.output, "prepare", args.overwrite, inputs, LEGACY_OUTPUT)
    (output / "data").mkdir()
    by_split = {s: [c for c in kept if assignment[c.id] == s] for s in SPLITS}
    wanted = (
        SPLITS
        if args.split == "official"
        else [s for s, f in zip(SPLITS, args.fractions, strict=True) if f > 0]
    )
    warnings = coverage_warnings(assignment, kept, wanted)
    for warning in warnings:
        logger.warning("%s", warning)
    split_sizes: dict[str, tuple[int, int]] = {}
    with tempfile.TemporaryDirectory(prefix="shuttlesense-prepare-") as cache_dir:
        for name, split_clips in by_split.items():
            if split_clips:
                logger.info("Writing %s: %d clips", name, len(split_clips))
                split_sizes[name] = write_split(name, split_clips, infos, output, cache_dir)

    per_class = {s: t for s, t in summarize(assignment, kept).items() if s in split_sizes}
    stats = {
        "source": scan.root.name,
        "num_found": scan.num_found,
        "num_kept": len(kept),
        "num_skipped": len(skipped),
        "split": {
            "method": args.split,
            "fractions": None if args.split == "official" else list(args.fractions),
            "seed": None if args.split == "official" else args.seed,
            "split_files": [Path(f).name for f in args.split_files] if args.split_files else None,
        },
        "splits": {s: _split_stats(by_split[s], infos) for s in split_sizes},
        "per_class": {s: {labels.by_id(c).en: n for c, n in t.items()} for s, t in per_class.items()},
        "num_sessions": len({c.meta.session for c in kept}),
        "skipped": [s.to_dict() for s in skipped],
        "split_file_problems": [p.to_dict() for p in split_problems],
        "warnings": warnings,
    }
    assert stats["num_found"] == stats["num_kept"] + stats["num_skipped"], "every file is kept or skipped"
    (output / "dataset_stats.json").write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n")
    (output / "README.md").write_text(
        render_dataset_card(FEATURES, split_sizes, per_class, stats), encoding="utf-8"
    )
    seal_output_dir(output)
    return stats


def push_dataset_folder(output: str | Path, repo_id: str, private: bool = False) -> str:
    """Upload the prepared folder as a Hub dataset repo; returns the repo URL."""
    from huggingface_hub import HfApi

    api = HfApi()
    url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    api.upload_folder(
        folder_path=str(output),
        ignore_patterns=[OUTPUT_MARKER],
        repo_id=repo_id,
        repo_type="dataset",
        commit_message="Upload VideoBadminton prepared with shuttlesense",
    )
    return str(url)


def summary_text(stats: dict[str, Any], output: str | Path) -> str:
    lines = [
        f"Prepared {stats['num_kept']} clips ({stats['num_skipped']} skipped of {stats['num_found']} found) "
        f"into {output}, split {stats['split']['method']}:"
    ]
    lines += [
        f"  {s:<10} {v['num_clips']:>6} clips  {v['num_sessions']:>3} sessions"
        for s, v in stats["splits"].items()
    ]
    if stats["skipped"]:
        reasons: dict[str, int] = {}
        for s in stats["skipped"]:
            reasons[s["reason"].split(":")[0]] = reasons.get(s["reason"].split(":")[0], 0) + 1
        lines.append("Skipped: " + "; ".join(f"{n} x {r}" for r, n in sorted(reasons.items())))
    lines += [f"Warning: {warning}" for warning in stats.get("warnings", [])]
    if stats["split_file_problems"]:
        lines.append(f"Split-file problems: {len(stats['split_file_problems'])} (see dataset_stats.json)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    from shuttlesense.cli import parse_dataclass_args
    from shuttlesense.data.export import export_sharegpt

    args = parse_dataclass_args(PrepareArguments, argv, prog="prepare", description=__doc__)
    if args.export_json:  # checked before the long work, like the output folder
        check_apart(args.export_json, [args.output], "prepare --export-json")
        check_output_dir(args.export_json, "prepare --export-json", args.overwrite, inputs=[args.source])
    stats = prepare_dataset(args)
    print(summary_text(stats, args.output))
    if args.export_json:
        claim_output_dir(args.export_json, "prepare --export-json", args.overwrite, inputs=[args.source])
        written = export_sharegpt(args.output, args.export_json, language=args.export_language)
        seal_output_dir(args.export_json)
        print(f"Exported ShareGPT JSON: {', '.join(str(p) for p in written)}")
    if args.push_to_hub:
        print(f"Pushed to {push_dataset_folder(args.output, args.push_to_hub, args.private)}")
    return 0
