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
from typing import Any, Protocol, TextIO

import numpy as np
from tqdm.auto import tqdm

from shuttlesense import labels
from shuttlesense.data.loading import load_split, row_video
from shuttlesense.evaluation.metrics import classification_metrics
from shuttlesense.evaluation.predictions import (
    RUN_FILE,
    check_same_run,
    error_line,
    line_probabilities,
    part_path,
    prediction_line,
    read_lines,
    write_in_split_order,
)
from shuttlesense.evaluation.report import (
    plot_confusion_matrix,
    plot_per_class_accuracy,
    read_split_method,
    write_markdown_report,
)
from shuttlesense.inference.model_source import tiny_model_kind
from shuttlesense.inference.recognizer_args import RecognizerArguments
from shuttlesense.paths import check_output_dir, claim_output_dir, seal_output_dir, written_by

logger = logging.getLogger(__name__)

OUTPUT_FILES = (
    "metrics.json",
    "predictions.jsonl",
    "confusion_matrix.png",
    "per_class_accuracy.png",
    "report.md",
    RUN_FILE,
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
            "default: the cores shared among the processes, at most 8 each)."
        },
    )

    resume: bool = field(
        default=False,
        metadata={
            "help": "Continue an interrupted evaluation in --output_dir (same model, dataset, split and "
            "options; else an error). Works with any number of processes, then and now."
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.resume and self.overwrite:
            raise ValueError(
                "--resume continues the evaluation in --output_dir; --overwrite replaces it: pick one."
            )
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


def _clips(
    recognizer: ActionRecognizer, data: Any, num_workers: int, positions: list[int]
) -> Iterator[tuple[int, Any, float]]:
    """(position, what to hand `recognize_action`, seconds spent decoding) for the rows at `positions`.

    A recognizer that says how it samples (`sampling`, `grid`) gets clips decoded ahead by
    `num_workers` processes, with the stored probe; any other reads each row's video itself.
    """
    from shuttlesense.inference.clip_stream import SplitSources, decode_ahead

    sampling, grid = getattr(recognizer, "sampling", None), getattr(recognizer, "grid", None)
    if sampling is None or grid is None:
        for position in positions:
            yield position, row_video(data[position]), 0.0
        return
    for loaded in decode_ahead(SplitSources(data), sampling, grid, num_workers, positions):
        yield loaded.position, loaded.error or loaded.clip, loaded.decode_s


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


def _score(
    recognizer: ActionRecognizer,
    data: Any,
    positions: list[int],
    out: TextIO,
    num_workers: int,
    progress: tqdm,
) -> list[dict[str, Any]]:
    """Score the clips at `positions`, appending each line to `out` as it is done; the lines."""
    ids = data["id"] if "id" in data.column_names else [str(i) for i in range(len(data))]
    row_labels = data["label"]
    lines: list[dict[str, Any]] = []
    mismatch_warned = False
    for index, video, decode_s in _clips(recognizer, data, num_workers, positions):
        row_id, label = str(ids[index]), _label_id(row_labels[index])
        start = time.perf_counter() - decode_s
        try:
            if isinstance(video, Exception):
                raise video
            result = recognizer.recognize_action(video)
            line = prediction_line(
                index, row_id, label, probability_vector(result), time.perf_counter() - start
            )
        except Exception as err:  # one bad clip must not end a long run; see FAIL_FAST_AFTER
            logger.warning("Clip %s failed: %s: %s", row_id, type(err).__name__, err)
            line = error_line(index, row_id, label, err)
        else:
            if not mismatch_warned and result.get("class_id", line["predicted"]) != line["predicted"]:
                logger.warning(
                    "Recognizer's class_id differs from the argmax of its probabilities; using the argmax."
                )
                mismatch_warned = True
        lines.append(line)
        out.write(json.dumps(line, ensure_ascii=False) + "\n")
        out.flush()
        progress.update()
        if len(lines) == FAIL_FAST_AFTER and all(item["error"] is not None for item in lines):
            raise RuntimeError(
                f"The first {len(lines)} clips all failed; stopping. First error: {lines[0]['error']}"
            )
    return lines


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
) -> dict[str, Any]:
    """Run `recognizer` over a split, write the five output files and return the metrics dict.

    `model_name` (default: the recognizer's `model_path` attribute) is what the report names and
    inspects to warn about tiny random models. `num_workers` processes decode clips while the
    model scores (None: `default_num_workers()`; 0: in turn); the results are the same.

    Under `accelerate launch` each process scores every N-th clip and the lines are gathered, so
    N processes give exactly the one-process files. `resume` continues an interrupted evaluation
    of the same run in `output_dir` (a different one is a clear error).
    """
    from accelerate.utils import gather_object

    from shuttlesense.inference.clip_stream import default_num_workers
    from shuttlesense.inference.processes import process_state

    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1; got {limit}.")
    state = process_state()
    data = load_split(dataset, split)  # a missing dataset or split leaves no output folder behind
    if limit is not None:
        data = data.select(range(min(limit, len(data))))
    model_name = model_name or str(getattr(recognizer, "model_path", "unknown model"))
    base_model = base_model or getattr(recognizer, "base_model", None)
    run = _run_record(recognizer, model_name, base_model, dataset, split, limit)
    with state.main_process_first():  # the main process makes (or checks) the folder first
        output = _open_output(output_dir, dataset, overwrite, resume, run) if state.is_main_process else None
    output = Path(output_dir).expanduser() if output is None else output
    done = read_lines(output) if resume else {}
    state.wait_for_everyone()  # every process has read what was done before anyone writes
    todo = [index for index in range(len(data)) if index not in done]
    mine = todo[state.process_index :: state.num_processes]
    workers = default_num_workers(state.num_processes) if num_workers is None else num_workers
    wall_start = time.perf_counter()
    bar = tqdm(
        total=len(todo),
        desc=f"evaluate {split}",
        unit="clip",
        disable=not (progress and state.is_main_process),
    )
    with part_path(output, state.process_index, state.num_processes).open("a", encoding="utf-8") as out:
        new = _score(recognizer, data, mine, out, workers, bar)
    bar.close()
    lines = {**done, **{line["index"]: line for line in gather_object(new)}}
    wall_seconds = time.perf_counter() - wall_start
    if state.is_main_process:
        write_in_split_order(output, lines.values())
    metrics = _metrics(list(lines.values()), run, workers, len(todo) / wall_seconds)
    metrics["num_processes"] = state.num_processes
    if state.is_main_process:
        _write_outputs(output, metrics, dataset, split, model_name, base_model)
        logger.info(
            "%s/%s: top-1 %.2f%%, mean class acc. %.2f%% over %d clips (%d failed)",
            dataset, split, metrics["top1"] * 100, metrics["mean_class_accuracy"] * 100,
            metrics["num_evaluated"], metrics["num_failed"],
        )  # fmt: skip
    state.wait_for_everyone()
    return metrics


def _metrics(lines: list[dict[str, Any]], run: dict[str, Any], workers: int, speed: float) -> dict[str, Any]:
    """metrics.json's content, from the prediction lines alone (one process or many: the same)."""
    scored = sorted((line for line in lines if line["error"] is None), key=lambda line: line["index"])
    failures = sorted((line for line in lines if line["error"] is not None), key=lambda line: line["index"])
    if not scored:
        raise RuntimeError(f"All {len(failures)} clips failed; first error: {failures[0]['error']}")
    probs = np.stack([line_probabilities(line) for line in scored])
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
        resume=args.resume,
    )
    if process_state().is_main_process:
        print(summary_text(metrics, args.output_dir))
    return 0
