"""Score one split: clips decoded ahead, spread over the processes `accelerate launch` started,
each line on disk as soon as it is done, and everything gathered back in split order.

Why one function for every split: `evaluate` scores its split, and with `--calibrate` the
validation split too; both must survive a kill and give the same lines on one process or many.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, TextIO

import numpy as np
from tqdm.auto import tqdm

from shuttlesense import labels
from shuttlesense.data.loading import row_video
from shuttlesense.evaluation.calibration import softmax
from shuttlesense.evaluation.predictions import (
    error_line,
    log_probabilities,
    part_path,
    prediction_line,
    read_lines,
    write_in_split_order,
)
from shuttlesense.inference.results import probabilities_vector

logger = logging.getLogger(__name__)

FAIL_FAST_AFTER = 5  # stop when this many clips in a row fail right at the start


class ActionRecognizer(Protocol):
    """What evaluation needs from a recognizer (`QwenVLActionRecognizer` or an ensemble)."""

    def recognize_action(self, video: Any) -> dict[str, Any]: ...


def probability_vector(result: dict[str, Any]) -> np.ndarray:
    """The 18 class probabilities of a `recognize_action` result, in class-id order."""
    if "predicted_action" in result and result["predicted_action"] is None:  # generate mode, no class named
        raise ValueError(f"The model's answer {result.get('generated_text')!r} names no class.")
    missing = [name for name in labels.CLASS_NAMES_EN if name not in result["probabilities"]]
    if missing:
        raise ValueError(f"Recognizer result lacks probabilities for {missing}.")
    return probabilities_vector(result)


def score_vector(result: dict[str, Any], probs: np.ndarray) -> np.ndarray:
    """The 18 scores the probabilities came from: log-likelihoods, else log-probabilities."""
    if "log_likelihoods" in result:
        return np.array([float(result["log_likelihoods"][name]) for name in labels.CLASS_NAMES_EN])
    return log_probabilities(probs)


def label_id(value: int | str) -> int:
    """A dataset's label as a class id (prepared datasets store ids; others may store names)."""
    return int(value) if not isinstance(value, str) else labels.by_name(value).id


def _clips(
    recognizer: ActionRecognizer, data: Any, num_workers: int, positions: list[int], num_views: int
) -> Iterator[tuple[int, Any, float]]:
    """(position, what to hand `recognize_action`: a clip or a tuple of views, seconds spent
    decoding) for the rows at `positions`.

    A recognizer that says how it samples (`sampling`, `grid`) gets clips decoded ahead by
    `num_workers` processes, with the stored probe; any other reads each row's video itself.
    """
    from shuttlesense.inference.clip_stream import SplitSources, decode_ahead

    sampling, grid = getattr(recognizer, "sampling", None), getattr(recognizer, "grid", None)
    if sampling is None or grid is None:
        if num_views > 1:
            raise ValueError("Several views need a recogniser that says how it samples frames (`sampling`).")
        for position in positions:
            yield position, row_video(data[position]), 0.0
        return
    encode = getattr(recognizer, "prompt_encoder", None)
    for loaded in decode_ahead(SplitSources(data), sampling, grid, num_workers, positions, num_views, encode):
        yield loaded.position, loaded.error or loaded.clip, loaded.decode_s


def _recognise(
    recognizer: ActionRecognizer, items: list[tuple[int, Any, float]], batch_size: int
) -> list[Any]:
    """Per item: its results (one per view), or what stopped it: the exception, or the error
    record `recognize_actions` made of it (kept as it is, so the line reads the same whatever the
    batch size).

    With `batch_size` > 1 and a recogniser that batches (`recognize_actions`), every view of every
    item goes through one call; a clip that fails there is reported alone.
    """
    views = [
        [] if isinstance(v, Exception) else list(v) if isinstance(v, tuple) else [v] for _, v, _ in items
    ]
    outcome: list[Any] = [v if isinstance(v, Exception) else None for _, v, _ in items]
    flat = [view for item_views in views for view in item_views]
    if batch_size > 1 and hasattr(recognizer, "recognize_actions") and flat:
        try:
            results = iter(recognizer.recognize_actions(flat, batch_size=len(flat), errors="record"))
        except Exception as err:  # the whole batch failed (a broken model): each clip says so
            return [outcome[i] or err for i in range(len(items))]
        for i, item_views in enumerate(views):
            mine = [next(results) for _ in item_views]
            failed = [r for r in mine if "error" in r]
            if outcome[i] is None:
                outcome[i] = failed[0] if failed else mine
        return outcome
    for i, item_views in enumerate(views):
        if outcome[i] is None:
            try:
                outcome[i] = [recognizer.recognize_action(view) for view in item_views]
            except Exception as err:  # one bad clip must not end a long run; see FAIL_FAST_AFTER
                outcome[i] = err
    return outcome


def _line(
    item: tuple[int, Any, float], outcome: Any, ids: Any, row_labels: Any, seconds: float
) -> dict[str, Any]:
    """The prediction line of one clip from its results (views averaged), or its error line."""
    index = item[0]
    row_id, label = str(ids[index]), label_id(row_labels[index])
    if isinstance(outcome, dict):  # an error record of `recognize_actions`
        logger.warning("Clip %s failed: %s", row_id, outcome["error"])
        return error_line(index, row_id, label, outcome)
    try:
        if isinstance(outcome, Exception):
            raise outcome
        views = [probability_vector(result) for result in outcome]
        probs = np.mean(views, axis=0)
        raw = np.stack([score_vector(result, view) for result, view in zip(outcome, views, strict=True)])
        # Scores stay the raw ones (the temperature is the line's own field): several views give
        # the log of their uncalibrated probabilities' mean, so no temperature is applied twice.
        scores = raw[0] if len(outcome) == 1 else log_probabilities(softmax(raw).mean(axis=0))
    except Exception as err:
        logger.warning("Clip %s failed: %s: %s", row_id, type(err).__name__, err)
        return error_line(index, row_id, label, err)
    line = prediction_line(index, row_id, label, probs, scores, seconds)
    if len(outcome) == 1 and outcome[0].get("class_id", line["predicted"]) != line["predicted"]:
        logger.warning("Clip %s: the recognizer's class_id is not the argmax of its probabilities.", row_id)
    return line | {"temperature": outcome[0].get("temperature", 1.0)}


def _score(
    recognizer: ActionRecognizer,
    data: Any,
    positions: list[int],
    out: TextIO,
    num_workers: int,
    progress: tqdm,
    num_views: int,
    batch_size: int,
) -> list[dict[str, Any]]:
    """Score the clips at `positions`, appending each line to `out` as it is done; the lines.

    Clips go to the recogniser `batch_size` at a time; several views of a clip are all scored and
    their probabilities averaged.
    """
    from shuttlesense.inference.clip_stream import batched

    ids = data["id"] if "id" in data.column_names else [str(i) for i in range(len(data))]
    row_labels = data["label"]
    lines: list[dict[str, Any]] = []
    for batch in batched(_clips(recognizer, data, num_workers, positions, num_views), batch_size):
        start = time.perf_counter()
        outcomes = _recognise(recognizer, batch, batch_size)
        share = (time.perf_counter() - start) / len(batch)
        for done, outcome in zip(batch, outcomes, strict=True):
            line = _line(done, outcome, ids, row_labels, done[2] + share)
            lines.append(line)
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            out.flush()
            progress.update()
        if len(lines) >= FAIL_FAST_AFTER and all(item["error"] is not None for item in lines):
            raise RuntimeError(
                f"The first {len(lines)} clips all failed; stopping. First error: {lines[0]['error']}"
            )
    return lines


def score_split(
    recognizer: Any,
    data: Any,
    output: Path,
    name: str,
    state: Any,
    num_workers: int,
    resume: bool,
    description: str,
    progress: bool = True,
    num_views: int = 1,
    batch_size: int = 1,
) -> tuple[dict[int, dict[str, Any]], float]:
    """Every clip of `data` scored into `output/name` (what a resumed run did before is kept);
    the lines by split index, and the clips per second of this run."""
    from accelerate.utils import gather_object

    done = read_lines(output, name) if resume else {}
    state.wait_for_everyone()  # every process has read what was done before anyone writes
    todo = [index for index in range(len(data)) if index not in done]
    mine = todo[state.process_index :: state.num_processes]
    start = time.perf_counter()
    bar = tqdm(
        total=len(todo), desc=description, unit="clip", disable=not (progress and state.is_main_process)
    )
    with part_path(output, state.process_index, state.num_processes, name).open("a", encoding="utf-8") as out:
        new = _score(recognizer, data, mine, out, num_workers, bar, num_views, batch_size)
    bar.close()
    lines = {**done, **{line["index"]: line for line in gather_object(new)}}
    speed = len(todo) / max(time.perf_counter() - start, 1e-9)
    if state.is_main_process:
        write_in_split_order(output, lines.values(), name)
    state.wait_for_everyone()
    return lines, speed
