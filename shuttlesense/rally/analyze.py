"""`shuttlesense analyze VIDEO`: every hit of a rally and the stroke played at it.

Writes the JSON report (`--output`), a timeline picture next to it (or at `--timeline`), the
stroke clips if `--clips-dir` is given, and prints a table. Models, ensemble and hit detection
come from `--config config.yaml` (sections qwen_vl, videomae, ensemble, hit_detection,
segmentation; missing ones use defaults, with a warning); `--model-path` and friends override it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shuttlesense.cli import text_table
from shuttlesense.paths import check_apart
from shuttlesense.rally.config import PipelineArguments

POSITIONAL = "video"
"""`shuttlesense analyze VIDEO ...`: the first argument, if not an option, is the video."""


@dataclass(kw_only=True)
class AnalyzeArguments(PipelineArguments):
    """Options of `shuttlesense analyze` (the video may also be given as the first argument)."""

    video: str = field(metadata={"help": "The rally video to analyse."})
    output: str = field(default="report.json", metadata={"help": "Where to write the JSON report."})
    clips_dir: str | None = field(
        default=None, metadata={"help": "Keep the cut stroke clips in this folder (default: not kept)."}
    )
    timeline: str | None = field(
        default=None, metadata={"help": "Timeline PNG path (default: the report's path with .png)."}
    )
    no_ensemble: bool = field(
        default=False, metadata={"help": "Qwen-VL alone even if VideoMAE is configured."}
    )


def segments_table(report: dict[str, Any]) -> str:
    """The segments as an aligned table: number, window, hit, stroke (en/zh), confidence, decided by."""
    rows = [
        [
            str(seg["index"] + 1),
            f"{seg['start']:.2f}-{seg['end']:.2f}",
            f"{seg['hit_time']:.2f}",
            seg.get("stroke") or "?",
            seg.get("stroke_zh") or "?",
            f"{seg['confidence']:.3f}" if seg.get("confidence") is not None else seg.get("error", ""),
            seg.get("decided_by", ""),
        ]
        for seg in report["segments"]
    ]
    return text_table(["#", "window (s)", "hit (s)", "stroke", "动作", "confidence", "by"], rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `shuttlesense analyze`."""
    from shuttlesense.cli import parse_dataclass_args, positional_to_option

    argv = positional_to_option(sys.argv[1:] if argv is None else argv, POSITIONAL)
    args = parse_dataclass_args(AnalyzeArguments, argv, prog="analyze", description=__doc__)
    video = Path(args.video).expanduser()
    if not video.is_file():
        raise FileNotFoundError(f"Video file not found: {args.video}")
    output = Path(args.output).expanduser()
    timeline = Path(args.timeline).expanduser() if args.timeline else output.with_suffix(".png")
    for written in (output, timeline, args.clips_dir):  # before any model loads
        if written is not None:
            check_apart(written, [video, args.config], "analyze")

    from shuttlesense.rally.pipeline import QwenVLEnhancedDetector
    from shuttlesense.rally.timeline import plot_timeline

    detector = QwenVLEnhancedDetector(args.pipeline_config())
    report = detector.process_video_with_action_recognition(
        video, use_ensemble=not args.no_ensemble, clips_dir=args.clips_dir
    )
    report["timeline"] = str(plot_timeline(report, timeline))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    print(f"{video.name}: {report['total_hits']} hits ({report['hit_detection']['method']})")
    if report["segments"]:
        print(segments_table(report))
    for note in report["notes"]:
        print(f"note: {note}")
    print(
        f"report: {output}\ntimeline: {timeline}" + (f"\nclips: {args.clips_dir}" if args.clips_dir else "")
    )
    return 0
