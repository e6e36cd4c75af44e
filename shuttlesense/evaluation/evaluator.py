"""`shuttlesense evaluate`: score a recognizer on a dataset split and write metrics, figures, a report.

Output folder: `metrics.json`, `predictions.jsonl` (one line per clip, written as it goes),
`confusion_matrix.png`, `per_class_accuracy.png`, `reliability_diagram.png`, `report.md` and
`run.json` (what `--resume` checks); with `--calibrate` also `calibration.json` and the validation
split's lines. A clip that cannot be decoded or predicted is recorded in `predictions.jsonl` with
its error and counted as `num_failed`; it does not stop a long run. If the first clips all fail,
the run stops early: that is a broken model or dataset, not a bad clip, and finding out after an
hour helps nobody.
"""

# Named `evaluator`, not `evaluate`, so it is never mistaken for (or, when a script is run from
# inside its folder, shadows) the Hugging Face `evaluate` library.
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shuttlesense import labels
from shuttlesense.data.loading import load_split
from shuttlesense.evaluation.calibration import (
    calibration_report,
    class_priors,
    fit_temperature,
    prior_corrected,
    write_calibration,
)
from shuttlesense.evaluation.metrics import classification_metrics
from shuttlesense.evaluation.predictions import (
    PREDICTIONS,
    RUN_FILE,
    VALIDATION_PREDICTIONS,
    check_same_run,
    line_scores,
)
from shuttlesense.evaluation.report import (
    plot_confusion_matrix,
    plot_per_class_accuracy,
    plot_reliability_diagram,
    read_split_method,
    write_markdown_report,
)
from shuttlesense.evaluation.split_scoring import ActionRecognizer, label_id, score_split
from shuttlesense.inference.model_source import tiny_model_kind
from shuttlesense.inference.recognizer_args import RecognizerArguments, ThroughputArguments
from shuttlesense.inference.results import probabilities_vector
from shuttlesense.paths import check_output_dir, claim_output_dir, seal_output_dir, written_by

logger = logging.getLogger(__name__)

OUTPUT_FILES = (
    "metrics.json",
    "predictions.jsonl",
    "confusion_matrix.png",
    "per_class_accuracy.png",
    "report.md",
    "reliability_diagram.png",
    RUN_FILE,
)


@dataclass(kw_only=True)
class EvaluateArguments(ThroughputArguments, RecognizerArguments):
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
        metadata={"help": "Replace an earlier evaluation in --output-dir (only files evaluate wrote)."},
    )

    calibrate: bool = field(
        default=False,
        metadata={
            "help": "Also score the validation split, fit the temperature that minimises its NLL, and "
            "write calibration.json (use it with --calibration, or copy it into the model folder)."
        },
    )
    num_views: int = field(
        default=1,
        metadata={
            "help": "Temporal views per clip: the frame grid shifted by fractions of the gap between "
            "sampled frames, the probabilities averaged (as video benchmarks report multi-view testing)."
        },
    )
    resume: bool = field(
        default=False,
        metadata={
            "help": "Continue an interrupted evaluation in --output-dir (same model, dataset, split and "
            "options; else an error). Works with any number of processes, then and now."
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.resume and self.overwrite:
            raise ValueError(
                "--resume continues the evaluation in --output-dir; --overwrite replaces it: pick one."
            )
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"--limit must be at least 1; got {self.limit}.")
        if self.num_views < 1:
            raise ValueError(f"--num-views must be at least 1; got {self.num_views}.")


LEGACY_OUTPUT = ("metrics.json", "predictions.jsonl")
"""What an evaluation folder from before the output marker holds: --overwrite may replace it too."""


def _run_record(recognizer: ActionRecognizer, model_name: str, base_model: str | None, dataset: str,
                split: str, limit: int | None) -> dict[str, Any]:  # fmt: skip
    """What makes two evaluations the same run (`--resume` continues only the same one)."""
    sampling = getattr(recognizer, "sampling", None)
    return {
        "model": model_name,
        "base_model": base_model,
        "dataset": dataset,
        "split": split,
        "limit": limit,
        "language": getattr(recognizer, "language", None),
        "mode": getattr(recognizer, "mode", None),
        "num_frames": getattr(sampling, "num_frames", None),
        "fps": getattr(sampling, "fps", None),
        "max_pixels": getattr(sampling, "max_pixels", None),
        # the probabilities in the lines are at this temperature: a resumed run must not mix two
        "temperature": getattr(getattr(recognizer, "calibration", None), "temperature", None),
    }


def _open_output(
    output_dir: str | Path, dataset: str, overwrite: bool, resume: bool, run: dict[str, Any]
) -> Path:
    """The output folder: an earlier evaluation of the same run kept (`resume`), else a fresh one."""
    path = Path(output_dir).expanduser()
    if resume and written_by(path) == "evaluate":
        check_same_run(path, run)
        logger.info("Resuming the evaluation in %s.", path)
        return path
    output = claim_output_dir(path, "evaluate", overwrite, [dataset], LEGACY_OUTPUT)
    (output / RUN_FILE).write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")
    return output


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
    resume: bool = False,
    calibrate: bool = False,
    num_views: int = 1,
    batch_size: int = 1,
) -> dict[str, Any]:
    """Run `recognizer` over a split, write the output files and return the metrics dict.

    `model_name` (default: the recognizer's `model_path` attribute) is what the report names and
    inspects to warn about tiny random models. `num_workers` processes decode clips while the
    model scores (None: `default_num_workers`, none when the model runs on the CPU; 0: in turn);
    the results are the same.

    Under `accelerate launch` each process scores every N-th clip and the lines are gathered, so
    N processes give exactly the one-process files. `resume` continues an interrupted evaluation
    of the same run in `output_dir` (a different one is a clear error). `calibrate` also scores
    the validation split, fits a temperature on it and writes `calibration.json`. `num_views`
    temporal views per clip are scored and their probabilities averaged; `batch_size` clips at a
    time go through the recogniser's `recognize_actions`.
    """
    from shuttlesense.inference.clip_stream import default_num_workers
    from shuttlesense.inference.processes import process_state

    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1; got {limit}.")
    state = process_state()
    data = _limited(load_split(dataset, split), limit)  # a missing dataset or split: no folder made
    validation = _limited(load_split(dataset, "validation"), limit) if calibrate else None
    model_name = model_name or str(getattr(recognizer, "model_path", "unknown model"))
    base_model = base_model or getattr(recognizer, "base_model", None)
    run = _run_record(recognizer, model_name, base_model, dataset, split, limit)
    run |= {"calibrate": calibrate, "num_views": num_views}
    with state.main_process_first():  # the main process makes (or checks) the folder first
        output = _open_output(output_dir, dataset, overwrite, resume, run) if state.is_main_process else None
    output = Path(output_dir).expanduser() if output is None else output
    device = getattr(recognizer, "device", "cpu")
    workers = default_num_workers(device, state.num_processes) if num_workers is None else num_workers
    common = {
        "state": state,
        "num_workers": workers,
        "resume": resume,
        "progress": progress,
        "num_views": num_views,
        "batch_size": batch_size,
    }
    temperature = None
    if validation is not None:
        fitted, _ = score_split(
            recognizer, validation, output, VALIDATION_PREDICTIONS, description="calibrate", **common
        )
        temperature = _fit(fitted, output if state.is_main_process else None, model_name, dataset)
    lines, speed = score_split(
        recognizer, data, output, PREDICTIONS, description=f"evaluate {split}", **common
    )
    metrics = _metrics(list(lines.values()), run, workers, speed)
    metrics |= {"num_processes": state.num_processes, "num_views": num_views, "batch_size": batch_size}
    metrics["calibration"] = _calibration(lines.values(), temperature)
    metrics["prior_corrected"] = _prior_corrected(lines.values(), dataset, split)
    if state.is_main_process:
        _write_outputs(output, metrics, dataset, split, model_name, base_model)
        logger.info(
            "%s/%s: top-1 %.2f%%, mean class acc. %.2f%% over %d clips (%d failed)",
            dataset, split, metrics["top1"] * 100, metrics["mean_class_accuracy"] * 100,
            metrics["num_evaluated"], metrics["num_failed"],
        )  # fmt: skip
    state.wait_for_everyone()
    return metrics


def _limited(data: Any, limit: int | None) -> Any:
    return data.select(range(min(limit, len(data)))) if limit is not None else data


def _scored(lines: Any) -> list[dict[str, Any]]:
    """The lines of the clips that were scored (not failed), in split order."""
    return sorted((line for line in lines if line["error"] is None), key=lambda line: line["index"])


def _scores_and_labels(lines: Any) -> tuple[np.ndarray, list[int]]:
    """(scores, labels) of the lines that were scored, in split order."""
    scored = _scored(lines)
    return np.stack([line_scores(line) for line in scored]), [line["label"] for line in scored]


def _fit(lines: dict[int, dict[str, Any]], output: Path | None, model_name: str, dataset: str) -> float:
    """The temperature fitted on the validation lines; `calibration.json` written into `output`."""
    if not _scored(lines.values()):
        raise RuntimeError(f"--calibrate: all {len(lines)} validation clips failed; nothing to fit.")
    scores, truth = _scores_and_labels(lines.values())
    temperature = fit_temperature(scores, truth)
    if output is not None:
        fitted_on = {"model": model_name, "dataset": dataset, "split": "validation", "num_clips": len(truth)}
        write_calibration(output, temperature, fitted_on)
    logger.info("Fitted temperature %.3f on %d validation clips.", temperature, len(truth))
    return temperature


def _calibration(lines: Any, temperature: float | None) -> dict[str, Any]:
    """ECE and NLL of the raw scores, and with the fitted temperature (or the one the model used)."""
    lines = _scored(lines)
    used = {line.get("temperature") for line in lines} - {None, 1.0}
    if temperature is None and len(used) == 1:  # the recogniser applied a calibration.json of its own
        temperature = used.pop()
    return calibration_report(*_scores_and_labels(lines), temperature)


def _prior_corrected(lines: Any, dataset: str, split: str) -> dict[str, Any] | None:
    """Top-1 and mean class accuracy with the training split's class priors divided out, if it has one."""
    if split == "train":
        return None
    try:
        train_labels = [label_id(value) for value in load_split(dataset, "train")["label"]]
    except (ValueError, OSError):
        return None
    scored = _scored(lines)
    probs = np.stack([probabilities_vector(line) for line in scored])
    corrected = prior_corrected(probs, class_priors(train_labels, labels.NUM_CLASSES))
    metrics = classification_metrics([line["label"] for line in scored], corrected)
    return {
        "top1": metrics["top1"],
        "mean_class_accuracy": metrics["mean_class_accuracy"],
        "priors_from": "train",
    }


def _metrics(lines: list[dict[str, Any]], run: dict[str, Any], workers: int, speed: float) -> dict[str, Any]:
    """metrics.json's content, from the prediction lines alone (one process or many: the same)."""
    scored = _scored(lines)
    failures = sorted((line for line in lines if line["error"] is not None), key=lambda line: line["index"])
    if not scored:
        raise RuntimeError(f"All {len(failures)} clips failed; first error: {failures[0]['error']}")
    probs = np.stack([probabilities_vector(line) for line in scored])
    metrics = classification_metrics([line["label"] for line in scored], probs)
    num_total = len(scored) + len(failures)
    return {
        "model": run["model"],
        "dataset": run["dataset"],
        "split": run["split"],
        "split_method": read_split_method(run["dataset"]),
        "tiny_model": tiny_model_kind(run["model"], run["base_model"]),
        "num_total": num_total,
        "num_evaluated": len(scored),
        "num_failed": len(failures),
        "failed_ids": [line["id"] for line in failures],
        "top1_counting_failures_as_wrong": float(round(metrics["top1"] * len(scored)) / num_total),
        "mean_confidence": float(np.mean(probs.max(axis=1))),
        "seconds_per_clip": float(np.mean([line["seconds"] for line in scored])),
        "clips_per_second": speed,
        "decode_workers": workers,
        **metrics,
    }


def _write_outputs(
    output: Path, metrics: dict[str, Any], dataset: str, split: str, model_name: str, base_model: str | None
) -> None:
    (output / "metrics.json").write_text(
        json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    plot_confusion_matrix(metrics["confusion_matrix"], output / "confusion_matrix.png")
    plot_per_class_accuracy(metrics, output / "per_class_accuracy.png")
    plot_reliability_diagram(metrics["calibration"], output / "reliability_diagram.png")
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
    from shuttlesense.inference.processes import process_state

    args = parse_dataclass_args(EvaluateArguments, argv, prog="evaluate", description=__doc__)
    inputs = [args.dataset, args.model_path, args.base_model]
    if not (args.resume and written_by(args.output_dir) == "evaluate"):  # before the model loads
        check_output_dir(args.output_dir, "evaluate", args.overwrite, inputs, LEGACY_OUTPUT)
    for split in [args.split, *(["validation"] if args.calibrate else [])]:
        load_split(args.dataset, split)  # the dataset and splits exist: said before the model loads
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
        resume=args.resume,
        calibrate=args.calibrate,
        num_views=args.num_views,
        batch_size=args.batch_size,
    )
    if process_state().is_main_process:
        print(summary_text(metrics, args.output_dir))
    return 0
