"""`shuttlesense evaluate`: score a recognizer on a dataset split and write metrics, figures, a report.

Output folder: `metrics.json`, `predictions.jsonl` (one line per clip, written as it goes),
`confusion_matrix.png`, `per_class_accuracy.png` and `report.md`. A clip that cannot be decoded or
predicted is recorded in `predictions.jsonl` with its error and counted as `num_failed`; it does
not stop a long run. If the first clips all fail, the run stops early: that is a broken model or
dataset, not a bad clip, and finding out after an hour helps nobody.
"""

# Named `evaluator`, not `evaluate`, so it is never mistaken for (or, when a script is run from
# inside its folder, shadows) the Hugging Face `evaluate` library.
from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm.auto import tqdm

from shuttlesense import labels
from shuttlesense.data.loading import load_split, row_video
from shuttlesense.evaluation.metrics import classification_metrics
from shuttlesense.evaluation.report import (
    plot_confusion_matrix,
    plot_per_class_accuracy,
    read_split_method,
    write_markdown_report,
)
from shuttlesense.inference.model_source import tiny_model_kind
from shuttlesense.inference.recognizer_args import RecognizerArguments
from shuttlesense.inference.results import error_result
from shuttlesense.paths import check_output_dir, claim_output_dir, seal_output_dir

logger = logging.getLogger(__name__)

OUTPUT_FILES = (
    "metrics.json",
    "predictions.jsonl",
    "confusion_matrix.png",
    "per_class_accuracy.png",
    "report.md",
)
FAIL_FAST_AFTER = 5  # stop when this many clips in a row fail right at the start


class ActionRecognizer(Protocol):
    """What evaluation needs from a recognizer (`QwenVLActionRecognizer` or an ensemble)."""

    def recognize_action(self, video: Any) -> dict[str, Any]: ...


@dataclass(kw_only=True)
class EvaluateArguments(RecognizerArguments):
    """Options of `shuttlesense evaluate`."""

    dataset: str = field(
        metadata={
            "help": "Prepared dataset: a `shuttlesense prepare` folder, a save_to_disk folder or a Hub id."
        }
    )
    output_dir: str = field(
        metadata={"help": "Folder for metrics.json, predictions.jsonl, the two PNG figures and report.md."}
    )
    split: str = field(default="test", metadata={"help": "Split to evaluate (test, validation or train)."})
    limit: int | None = field(
        default=None, metadata={"help": "Evaluate only the first N clips of the split (quick checks)."}
    )
    overwrite: bool = field(
        default=False,
        metadata={"help": "Replace an earlier evaluation in --output_dir (only files evaluate wrote)."},
    )
    num_workers: int | None = field(
        default=None,
        metadata={
            "help": "Processes decoding clips while the model scores (0: decode and score in turn; "
            "default: all cores but one, at most 8)."
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_workers is not None and self.num_workers < 0:
            raise ValueError(f"--num_workers must be >= 0; got {self.num_workers}.")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"--limit must be at least 1; got {self.limit}.")


LEGACY_OUTPUT = ("metrics.json", "predictions.jsonl")
"""What an evaluation folder from before the output marker holds: --overwrite may replace it too."""


def probability_vector(result: dict[str, Any]) -> np.ndarray:
    """The 18 class probabilities of a `recognize_action` result, in class-id order."""
    if "predicted_action" in result and result["predicted_action"] is None:  # generate mode, no class named
        raise ValueError(f"The model's answer {result.get('generated_text')!r} names no class.")
    probs = result["probabilities"]
    missing = [name for name in labels.CLASS_NAMES_EN if name not in probs]
    if missing:
        raise ValueError(f"Recognizer result lacks probabilities for {missing}.")
    return np.array([float(probs[name]) for name in labels.CLASS_NAMES_EN])


def _label_id(value: int | str) -> int:
    return int(value) if not isinstance(value, str) else labels.by_name(value).id


def _clips(recognizer: ActionRecognizer, data: Any, num_workers: int) -> Iterator[tuple[int, Any, float]]:
    """(position, what to hand `recognize_action`, seconds spent decoding) for every row, in order.

    A recognizer that says how it samples (`sampling`, `grid`) gets clips decoded ahead by
    `num_workers` processes, with the stored probe; any other reads each row's video itself.
    """
    from shuttlesense.inference.clip_stream import SplitSources, decode_ahead

    sampling, grid = getattr(recognizer, "sampling", None), getattr(recognizer, "grid", None)
    if sampling is None or grid is None:
        for position in range(len(data)):
            yield position, row_video(data[position]), 0.0
        return
    for loaded in decode_ahead(SplitSources(data), sampling, grid, num_workers):
        yield loaded.position, loaded.error or loaded.clip, loaded.decode_s


def _prediction_line(row_id: str, label: int, probs: np.ndarray, seconds: float) -> dict[str, Any]:
    predicted = int(probs.argmax())
    return {
        "id": row_id,
        "label": label,
        "label_name": labels.by_id(label).en,
        "predicted": predicted,
        "predicted_name": labels.by_id(predicted).en,
        "predicted_name_zh": labels.by_id(predicted).zh,
        "correct": predicted == label,
        "confidence": round(float(probs[predicted]), 6),
        "probabilities": {n: round(float(p), 6) for n, p in zip(labels.CLASS_NAMES_EN, probs, strict=True)},
        "seconds": round(seconds, 4),
        "error": None,
    }


def evaluate_model(
    recognizer: ActionRecognizer,
    dataset: str,
    split: str,
    output_dir: str | Path,
    limit: int | None = None,
    *,
    model_name: str | None = None,
    base_model: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    num_workers: int | None = None,
) -> dict[str, Any]:
    """Run `recognizer` over a split, write the five output files and return the metrics dict.

    `model_name` (default: the recognizer's `model_path` attribute) is what the report names and
    inspects to warn about tiny random models. `num_workers` processes decode clips while the
    model scores (None: `default_num_workers()`; 0: in turn); the results are the same.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1; got {limit}.")
    data = load_split(dataset, split)  # a missing dataset or split leaves no output folder behind
    output = claim_output_dir(output_dir, "evaluate", overwrite, [dataset], LEGACY_OUTPUT)
    if limit is not None:
        data = data.select(range(min(limit, len(data))))
    model_name = model_name or str(getattr(recognizer, "model_path", "unknown model"))
    base_model = base_model or getattr(recognizer, "base_model", None)

    ids = data["id"] if "id" in data.column_names else [str(i) for i in range(len(data))]
    row_labels = data["label"]
    from shuttlesense.inference.clip_stream import default_num_workers

    workers = default_num_workers() if num_workers is None else num_workers
    y_true: list[int] = []
    rows_probs: list[np.ndarray] = []
    failures: list[dict[str, Any]] = []
    seconds_total = 0.0
    mismatch_warned = False
    clips = _clips(recognizer, data, workers)
    wall_start = time.perf_counter()
    with (output / "predictions.jsonl").open("w", encoding="utf-8") as out:
        for index, video, decode_s in tqdm(
            clips, total=len(data), desc=f"evaluate {split}", unit="clip", disable=not progress
        ):
            row_id, label = str(ids[index]), _label_id(row_labels[index])
            start = time.perf_counter() - decode_s
            try:
                if isinstance(video, Exception):
                    raise video
                result = recognizer.recognize_action(video)
                probs = probability_vector(result)
            except Exception as err:  # one bad clip must not end a long run; see FAIL_FAST_AFTER
                logger.warning("Clip %s failed: %s: %s", row_id, type(err).__name__, err)
                line = {"id": row_id, "label": label, "label_name": labels.by_id(label).en, "predicted": None}
                line |= error_result(err)
                failures.append(line)
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
                out.flush()
                if not y_true and len(failures) >= FAIL_FAST_AFTER:
                    raise RuntimeError(
                        f"The first {len(failures)} clips all failed; stopping. "
                        f"First error: {failures[0]['error']}"
                    ) from err
                continue
            seconds = time.perf_counter() - start
            seconds_total += seconds
            line = _prediction_line(row_id, label, probs, seconds)
            if not mismatch_warned and result.get("class_id", line["predicted"]) != line["predicted"]:
                logger.warning(
                    "Recognizer's class_id differs from the argmax of its probabilities; using the argmax."
                )
                mismatch_warned = True
            y_true.append(label)
            rows_probs.append(probs)
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            out.flush()

    wall_seconds = time.perf_counter() - wall_start
    if not y_true:
        raise RuntimeError(f"All {len(failures)} clips failed; first error: {failures[0]['error']}")
    metrics = classification_metrics(y_true, np.stack(rows_probs))
    num_total = len(y_true) + len(failures)
    correct = metrics["top1"] * len(y_true)
    metrics = {
        "model": model_name,
        "dataset": dataset,
        "split": split,
        "split_method": read_split_method(dataset),
        "tiny_model": tiny_model_kind(model_name, base_model),
        "num_total": num_total,
        "num_evaluated": len(y_true),
        "num_failed": len(failures),
        "failed_ids": [f["id"] for f in failures],
        "top1_counting_failures_as_wrong": float(round(correct) / num_total),
        "mean_confidence": float(np.mean([p.max() for p in rows_probs])),
        "seconds_per_clip": seconds_total / len(y_true),
        "clips_per_second": num_total / wall_seconds,
        "decode_workers": workers,
        **metrics,
    }
    (output / "metrics.json").write_text(
        json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    plot_confusion_matrix(metrics["confusion_matrix"], output / "confusion_matrix.png")
    plot_per_class_accuracy(metrics, output / "per_class_accuracy.png")
    write_markdown_report(
        metrics,
        output / "report.md",
        model=model_name,
        dataset=dataset,
        split=split,
        split_method=metrics["split_method"],
        base_model=base_model,
    )
    seal_output_dir(output)
    logger.info(
        "%s/%s: top-1 %.2f%%, mean class acc. %.2f%% over %d clips (%d failed)",
        dataset,
        split,
        metrics["top1"] * 100,
        metrics["mean_class_accuracy"] * 100,
        len(y_true),
        len(failures),
    )
    return metrics


def summary_text(metrics: dict[str, Any], output_dir: str | Path) -> str:
    """The few lines the CLI prints at the end."""
    lines = [
        f"Evaluated {metrics['num_evaluated']} clips of {metrics['dataset']} [{metrics['split']}]"
        + (f", {metrics['num_failed']} failed (see predictions.jsonl)" if metrics["num_failed"] else ""),
        f"  top-1 {metrics['top1'] * 100:.2f}%  top-5 {metrics['top5'] * 100:.2f}%  "
        f"mean class acc. {metrics['mean_class_accuracy'] * 100:.2f}%  "
        f"macro-F1 {metrics['macro_f1'] * 100:.2f}%",
        f"Report: {Path(output_dir) / 'report.md'}",
    ]
    if metrics.get("tiny_model") == "random":
        lines.append("WARNING: tiny RANDOM model: these numbers are noise.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    from shuttlesense.cli import parse_dataclass_args

    args = parse_dataclass_args(EvaluateArguments, argv, prog="evaluate", description=__doc__)
    inputs = [args.dataset, args.model_path, args.base_model]
    check_output_dir(
        args.output_dir, "evaluate", args.overwrite, inputs, LEGACY_OUTPUT
    )  # before the model loads
    load_split(args.dataset, args.split)  # the dataset and split exist: said before the model loads
    recognizer = args.build_recognizer()
    metrics = evaluate_model(
        recognizer,
        args.dataset,
        args.split,
        args.output_dir,
        limit=args.limit,
        model_name=args.model_path,
        base_model=args.base_model,
        overwrite=args.overwrite,
        num_workers=args.num_workers,
    )
    print(summary_text(metrics, args.output_dir))
    return 0
