"""`shuttlesense analyze VIDEO`: every hit of a rally or a whole match, the stroke played at it and who played it.

The video is read front to back at most twice (its sound for the hits, or its pictures when it
has none; then the frames each stroke's recogniser samples), with bounded memory, so an hour-long
match works like a rally. Writes the JSON report (`--output`: segments, rallies, a match summary,
and `stopped_at` when the file is damaged), a timeline picture next to it (or at `--timeline`; one
row per rally), the stroke clips only if `--clips-dir` is given, and prints a table. Models,
ensemble, hit detection, segmentation and players come from `--config config.yaml` (missing
sections use defaults, with a warning); `--model-path` and friends override it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shuttlesense.cli import text_table
from shuttlesense.paths import (
    check_output_dir,
    check_output_file,
    claim_output_dir,
    require_video_name,
    seal_output_dir,
)
from shuttlesense.rally.config import PipelineArguments
from shuttlesense.rally.video_stream import VideoStream

POSITIONAL = "video"
"""`shuttlesense analyze VIDEO ...`: the first argument, if not an option, is the video."""


@dataclass(kw_only=True)
class AnalyzeArguments(PipelineArguments):
    """Options of `shuttlesense analyze` (the video may also be given as the first argument)."""

    video: str = field(metadata={"help": "The rally or match video to analyse."})
    output: str = field(default="report.json", metadata={"help": "Where to write the JSON report."})
    clips_dir: str | None = field(
        default=None,
        metadata={
            "help": "Also write each stroke as a clip file into this folder (default: none are written)."
        },
    )
    timeline: str | None = field(
        default=None, metadata={"help": "Timeline PNG path (default: the report's path with .png)."}
    )
    no_ensemble: bool = field(
        default=False, metadata={"help": "Qwen-VL alone even if VideoMAE is configured."}
    )
    overwrite: bool = field(
        default=False,
        metadata={
            "help": "Replace the report, timeline and clips folder of an earlier `analyze` (never other files)."
        },
    )


REPORT_KEYS = ("total_hits", "segments", "hit_detection")
"""Keys every analyze report has (also those of older versions): how --overwrite knows its own."""


def is_report(path: Path) -> bool:
    """True if `path` holds a JSON report written by `analyze`."""
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(report, dict) and all(key in report for key in REPORT_KEYS)


def segments_table(report: dict[str, Any]) -> str:
    """The segments as an aligned table: number, rally, player, window, hit, stroke (en/zh), confidence, decided by."""
    rows = [
        [
            str(seg["index"] + 1),
            str(seg.get("rally", 0) + 1),
            seg.get("player") or "?",
            f"{seg['start']:.2f}-{seg['end']:.2f}",
            f"{seg['hit_time']:.2f}",
            seg.get("stroke") or "?",
            seg.get("stroke_zh") or "?",
            f"{seg['confidence']:.3f}" if seg.get("confidence") is not None else seg.get("error", ""),
            seg.get("decided_by", ""),
        ]
        for seg in report["segments"]
    ]
    return text_table(
        ["#", "rally", "player", "window (s)", "hit (s)", "stroke", "动作", "confidence", "by"], rows
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `shuttlesense analyze`."""
    from shuttlesense.cli import parse_dataclass_args, positional_to_option

    argv = positional_to_option(sys.argv[1:] if argv is None else argv, POSITIONAL)
    args = parse_dataclass_args(AnalyzeArguments, argv, prog="analyze", description=__doc__)
    video = require_video_name(args.video)
    with VideoStream(video) as stream:
        stream.require_video()  # a sound file or a damaged header: said before any model loads
    from shuttlesense.rally.timeline import is_timeline, plot_timeline

    # Before any model loads: nothing of the user's is written over, only an earlier analyze's output.
    inputs = [video, args.config]
    output = check_output_file(args.output, "analyze", args.overwrite, inputs, is_report)
    timeline = Path(args.timeline).expanduser() if args.timeline else output.with_suffix(".png")
    check_output_file(timeline, "analyze", args.overwrite, [*inputs, output], is_timeline)
    if args.clips_dir is not None:
        check_output_dir(args.clips_dir, "analyze", args.overwrite, [*inputs, output, timeline])

    from shuttlesense.rally.pipeline import QwenVLEnhancedDetector

    detector = QwenVLEnhancedDetector(args.pipeline_config())
    clips_dir = None
    if args.clips_dir is not None:
        clips_dir = claim_output_dir(args.clips_dir, "analyze", args.overwrite, [*inputs, output, timeline])
    report = detector.process_video_with_action_recognition(
        video, use_ensemble=not args.no_ensemble, clips_dir=clips_dir
    )
    if clips_dir is not None:
        seal_output_dir(clips_dir)
    report["timeline"] = str(plot_timeline(report, timeline))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    summary = report["summary"]
    print(
        f"{video.name}: {report['total_hits']} hits ({report['hit_detection']['method']}) in "
        f"{summary['rallies']} rallies, {report['timing']['total_s']:.1f} s"
    )
    if report["segments"]:
        print(segments_table(report))
    for player, strokes in summary["strokes_per_player"].items():
        print(f"player {player}: " + ", ".join(f"{name} {count}" for name, count in strokes.items()))
    if report["stopped_at"]:
        print(f"stopped at {report['stopped_at']['time']:.2f} s: {report['stopped_at']['reason']}")
    for note in report["notes"]:
        print(f"note: {note}")
    print(
        f"report: {output}\ntimeline: {timeline}" + (f"\nclips: {args.clips_dir}" if args.clips_dir else "")
    )
    return 0
