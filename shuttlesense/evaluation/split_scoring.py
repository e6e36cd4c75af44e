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
from shuttlesense.evaluation.predictions import (
    error_line,
    part_path,
    prediction_line,
    read_lines,
    write_in_split_order,
)

logger = logging.getLogger(__name__)

FAIL_FAST_AFTER = 5  # stop when this many clips in a row fail right at the start


class ActionRecognizer(Protocol):
    """What evaluation needs from a recognizer (`QwenVLActionRecognizer` or an ensemble)."""

    def recognize_action(self, video: Any) -> dict[str, Any]: ...


def probability_vector(result: dict[str, Any]) -> np.ndarray:
    """The 18 class probabilities of a `recognize_action` result, in class-id order."""
    if "predicted_action" in result and result["predicted_action"] is None:  # generate mode, no class named
        raise ValueError(f"The model's answer {result.get('generated_text')!r} names no class.")
    probs = result["probabilities"]
    missing = [name for name in labels.CLASS_NAMES_EN if name not in probs]
    if missing:
        raise ValueError(f"Recognizer result lacks probabilities for {missing}.")
    return np.array([float(probs[name]) for name in labels.CLASS_NAMES_EN])


def score_vector(result: dict[str, Any], probs: np.ndarray) -> np.ndarray:
    """The 18 scores the probabilities came from: log-likelihoods, else log-probabilities."""
    if "log_likelihoods" in result:
        return np.array([float(result["log_likelihoods"][name]) for name in labels.CLASS_NAMES_EN])
    return np.log(np.clip(probs, 1e-12, None))


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
    for loaded in decode_ahead(SplitSources(data), sampling, grid, num_workers, positions, num_views):
        yield loaded.position, loaded.error or loaded.clip, loaded.decode_s


def _score(
    recognizer: ActionRecognizer,
    data: Any,
    positions: list[int],
    out: TextIO,
    num_workers: int,
    progress: tqdm,
    num_views: int,
) -> list[dict[str, Any]]:
    """Score the clips at `positions`, appending each line to `out` as it is done; the lines.

    Several views of a clip are scored one by one and their probabilities averaged.
    """
    ids = data["id"] if "id" in data.column_names else [str(i) for i in range(len(data))]
    row_labels = data["label"]
    lines: list[dict[str, Any]] = []
    mismatch_warned = False
    for index, video, decode_s in _clips(recognizer, data, num_workers, positions, num_views):
        row_id, label = str(ids[index]), label_id(row_labels[index])
        start = time.perf_counter() - decode_s
        try:
            if isinstance(video, Exception):
                raise video
            results = [
                recognizer.recognize_action(view) for view in (video if isinstance(video, tuple) else [video])
            ]
            result = results[0]
            probs = np.mean([probability_vector(one) for one in results], axis=0)
            scores = score_vector(result, probs) if len(results) == 1 else np.log(np.clip(probs, 1e-12, None))
            seconds = time.perf_counter() - start
            line = prediction_line(index, row_id, label, probs, scores, seconds) | {
                "temperature": result.get("temperature", 1.0)
            }
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
        new = _score(recognizer, data, mine, out, num_workers, bar, num_views)
    bar.close()
    lines = {**done, **{line["index"]: line for line in gather_object(new)}}
    speed = len(todo) / max(time.perf_counter() - start, 1e-9)
    if state.is_main_process:
        write_in_split_order(output, lines.values(), name)
    state.wait_for_everyone()
    return lines, speed
