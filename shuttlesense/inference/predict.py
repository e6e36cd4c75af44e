"""`shuttlesense predict`: the stroke in one clip or in every clip of a folder, as a table or JSON lines.

One bad clip never ends a folder run: files that are not videos (by extension) are listed as
skipped on stderr; a clip that cannot be decoded is reported on stderr (and, with --json, as an
error record) and the others still get predictions. Exit code 0 if at least one clip was
predicted, 1 otherwise.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from shuttlesense.cli import text_table
from shuttlesense.inference.recognizer_args import RecognizerArguments, ThroughputArguments
from shuttlesense.inference.results import error_result
from shuttlesense.paths import VIDEO_EXTENSIONS, require_video_name

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class PredictArguments(ThroughputArguments, RecognizerArguments):
    """Options of `shuttlesense predict`."""

    video: str | None = field(default=None, metadata={"help": "One video file to classify."})
    video_dir: str | None = field(
        default=None, metadata={"help": "Folder of videos to classify (non-video files are skipped)."}
    )
    recursive: bool = field(
        default=False, metadata={"help": "Also look for videos in sub-folders of --video-dir."}
    )
    json: bool = field(
        default=False, metadata={"help": "Print one JSON object per clip (JSON lines) instead of a table."}
    )
    top_k: int = field(default=3, metadata={"help": "How many most likely classes to show per clip."})
    mode: str = field(
        default="score",
        metadata={
            "help": "score: shared-prefix label scoring; naive: the same scores, 18 forwards; "
            "generate: greedy text matched to a class (comparison only).",
            "choices": ["score", "naive", "generate"],
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.top_k < 1:
            raise ValueError(f"--top-k must be at least 1; got {self.top_k}.")


def find_videos(args: PredictArguments) -> tuple[list[Path], list[Path]]:
    """(videos to classify, files skipped as non-videos); clear errors for a missing input."""
    if (args.video is None) == (args.video_dir is None):
        raise ValueError("Give exactly one of --video FILE or --video-dir DIR.")
    if args.video is not None:
        return [require_video_name(args.video)], []
    folder = Path(args.video_dir).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"Video folder not found: {args.video_dir}")
    files = sorted(p for p in (folder.rglob("*") if args.recursive else folder.iterdir()) if p.is_file())
    videos = [p for p in files if p.suffix.lower() in VIDEO_EXTENSIONS]
    skipped = [p for p in files if p.suffix.lower() not in VIDEO_EXTENSIONS]
    return videos, skipped


def prediction_record(path: Path, result: dict[str, Any], top_k: int) -> dict[str, Any]:
    """The JSON-lines record of one clip: the recognizer's result fields plus the file name."""
    return {
        "file": str(path),
        "predicted_action": result["predicted_action"],
        "predicted_action_zh": result["predicted_action_zh"],
        "class_id": result["class_id"],
        "confidence": round(result["confidence"], 6),
        "top_k": [
            {**entry, "probability": round(entry["probability"], 6)} for entry in result["top_k"][:top_k]
        ],
        "probabilities": {name: round(p, 6) for name, p in result["probabilities"].items()},
        **({"generated_text": result["generated_text"]} if "generated_text" in result else {}),
        "timing": {key: round(value, 4) for key, value in result["timing"].items()},
        "mode": result["mode"],
        "error": None,
    }


def error_record(path: Path, err: Exception) -> dict[str, Any]:
    return {"file": str(path), **error_result(err)}


def format_table(records: list[dict[str, Any]], base: Path | None = None) -> str:
    """Aligned table: file, English and Chinese names, confidence, the top-k classes."""
    header = ["file", "stroke", "动作", "confidence", "top-k"]
    rows = []
    for rec in records:
        name = Path(rec["file"]).relative_to(base) if base else Path(rec["file"]).name
        top = ", ".join(f"{e['action']} {e['probability']:.2f}" for e in rec["top_k"])
        rows.append(
            [
                str(name),
                rec["predicted_action"] or "?",
                rec["predicted_action_zh"] or "?",
                f"{rec['confidence']:.3f}",
                top,
            ]
        )
    return text_table(header, rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `shuttlesense predict`."""
    from shuttlesense.cli import parse_dataclass_args
    from shuttlesense.inference.clip_stream import ClipSource, batched, decode_ahead, default_num_workers

    args = parse_dataclass_args(PredictArguments, argv, prog="predict", description=__doc__)
    videos, skipped = find_videos(args)
    for path in skipped:
        print(f"skipped (not a video file): {path}", file=sys.stderr)
    if not videos:
        print(f"No video files found in {args.video_dir}.", file=sys.stderr)
        return 1

    recognizer = args.build_recognizer(mode=args.mode)
    workers = (
        0
        if len(videos) == 1
        else default_num_workers(recognizer.device)
        if args.num_workers is None
        else args.num_workers
    )
    sources = [ClipSource(str(p)) for p in videos]
    clips = decode_ahead(
        sources, recognizer.sampling, recognizer.grid, workers, encode=recognizer.prompt_encoder
    )
    records, failures = [], 0
    progress = tqdm(total=len(videos), desc="predict", unit="clip", disable=len(videos) == 1, file=sys.stderr)
    for batch in batched(clips, args.batch_size):
        good = [loaded for loaded in batch if loaded.error is None]
        try:
            results = iter(recognizer.recognize_actions(
                [loaded.clip for loaded in good], batch_size=args.batch_size, top_k=args.top_k, errors="record"
            ))  # fmt: skip
        except Exception as err:  # the model failed on the whole batch: each of its clips says so
            results = iter([error_record(Path(), err)] * len(good))
        for loaded in batch:
            path = videos[loaded.position]
            result = error_record(path, loaded.error) if loaded.error is not None else next(results)
            if result.get("error") is not None:
                failures += 1
                record = {**result, "file": str(path)}
                progress.write(f"error: {path}: {record['error']}", file=sys.stderr)
            else:  # decoded ahead: the decode time is the worker's
                model_s = result["timing"]["model_s"]
                result["timing"] = {
                    "decode_s": loaded.decode_s,
                    "model_s": model_s,
                    "total_s": loaded.decode_s + model_s,
                }
                record = prediction_record(path, result, args.top_k)
            if args.json:
                print(json.dumps(record, ensure_ascii=False), flush=True)
            elif record["error"] is None:
                records.append(record)
            progress.update()
    progress.close()
    if not args.json and records:
        print(format_table(records, Path(args.video_dir).expanduser() if args.video_dir else None))
    succeeded = len(videos) - failures
    if failures or skipped:
        print(
            f"{succeeded} of {len(videos)} clips predicted, {failures} failed, {len(skipped)} non-video files skipped.",
            file=sys.stderr,
        )
    return 0 if succeeded > 0 else 1
