"""`predictions.jsonl`: one line per clip, written as clips finish, by one process or many.

Why lines on disk as they come: an evaluation of thousands of clips on preemptible GPUs must
survive a kill. Each process appends to its own file (`predictions.jsonl` itself when there is
one process, `predictions.rank<N>.jsonl` otherwise), so `--resume` finds what was done, whatever
the number of processes then and now. At the end the lines are written once more as one
`predictions.jsonl` in split order (`index`), and the metrics are computed from those lines, so
one process and many give the same numbers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from shuttlesense import labels
from shuttlesense.inference.results import error_result, probabilities_vector

PREDICTIONS = "predictions.jsonl"
VALIDATION_PREDICTIONS = "validation_predictions.jsonl"
"""The validation split's lines, scored by `evaluate --calibrate` to fit the temperature."""
RUN_FILE = "run.json"
"""What an evaluation folder was made by (model, dataset, split, options): `--resume` checks it."""


def part_path(output: Path, rank: int, world: int, name: str = PREDICTIONS) -> Path:
    """The file this process appends its lines to (`name`, or one per process)."""
    return output / (name if world == 1 else name.replace(".jsonl", f".rank{rank}.jsonl"))


def _parts(output: Path, name: str) -> list[Path]:
    return sorted(output.glob(name.replace(".jsonl", ".rank*.jsonl")))


def prediction_line(
    index: int, row_id: str, label: int, probs: np.ndarray, scores: np.ndarray, seconds: float
) -> dict[str, Any]:
    """The line of a clip that was scored: the label, the prediction, all 18 probabilities, and the
    18 scores (log-likelihoods) they came from, which calibration fits its temperature on."""
    predicted = int(probs.argmax())
    return {
        "index": index,
        "id": row_id,
        "label": label,
        "label_name": labels.by_id(label).en,
        "predicted": predicted,
        "predicted_name": labels.by_id(predicted).en,
        "predicted_name_zh": labels.by_id(predicted).zh,
        "correct": predicted == label,
        "confidence": round(float(probs[predicted]), 6),
        "probabilities": {n: round(float(p), 6) for n, p in zip(labels.CLASS_NAMES_EN, probs, strict=True)},
        "scores": [round(float(score), 6) for score in scores],
        "seconds": round(seconds, 4),
        "error": None,
    }


def error_line(index: int, row_id: str, label: int, err: Exception | dict[str, Any]) -> dict[str, Any]:
    """The line of a clip that could not be decoded or scored (`err`: the exception, or the
    `error_result` record already made of it)."""
    line = {"index": index, "id": row_id, "label": label, "label_name": labels.by_id(label).en}
    return {**line, "predicted": None, **(err if isinstance(err, dict) else error_result(err))}


def log_probabilities(probs: np.ndarray) -> np.ndarray:
    """Scores for probabilities that came without them (a 0 stays finite)."""
    return np.log(np.clip(probs, 1e-12, None))


def line_scores(line: dict[str, Any]) -> np.ndarray:
    """A scored line's 18 scores (log-likelihoods; log-probabilities for lines without them)."""
    if "scores" in line:
        return np.array(line["scores"], dtype=np.float64)
    return log_probabilities(probabilities_vector(line))  # a line holds them as a result does


def read_lines(output: Path, name: str = PREDICTIONS) -> dict[int, dict[str, Any]]:
    """Every line already written into `output/name` (by any number of processes), by split index.

    A line cut short by a kill is not a line: it is dropped and that clip is done again.
    """
    lines: dict[int, dict[str, Any]] = {}
    for path in [output / name, *_parts(output, name)]:
        if not path.is_file():
            continue
        for text in path.read_text(encoding="utf-8").splitlines():
            try:
                line = json.loads(text)
            except ValueError:
                continue
            if isinstance(line, dict) and isinstance(line.get("index"), int):
                lines[line["index"]] = line
    return lines


def write_in_split_order(output: Path, lines: Iterable[dict[str, Any]], name: str = PREDICTIONS) -> Path:
    """`output/name` with every line in split order; the per-process files are removed."""
    path = output / name
    partial = output / (name + ".tmp")
    with partial.open("w", encoding="utf-8") as out:
        for line in sorted(lines, key=lambda item: item["index"]):
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    partial.replace(path)  # whole or not at all: a kill here leaves the old files intact
    for part in _parts(output, name):
        part.unlink()
    return path


def check_same_run(output: Path, run: dict[str, Any]) -> None:
    """Refuse to resume an evaluation that was made by another model, dataset, split or options."""
    try:
        before = json.loads((output / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"--resume: {output} has no readable {RUN_FILE}; it cannot be resumed.") from err
    changed = [f"{key} {before.get(key)!r} -> {run.get(key)!r}" for key in sorted(set(before) | set(run))
               if before.get(key) != run.get(key)]  # fmt: skip
    if changed:
        raise ValueError(
            f"--resume: {output} holds an evaluation of another run ({'; '.join(changed)}); "
            "use a new --output-dir, or run without --resume and with --overwrite to start again."
        )
