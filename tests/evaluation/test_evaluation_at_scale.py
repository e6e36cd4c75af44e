"""Evaluation that survives a kill (--resume) and spreads over processes (accelerate launch)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shuttlesense.evaluation.evaluator import evaluate_model
from shuttlesense.evaluation.predictions import PREDICTIONS

TINY = {"language": "en", "num_frames": 4, "max_pixels": 56 * 56}
PER_RUN = ("seconds", "seconds_per_clip", "clips_per_second", "num_processes", "decode_workers")


@pytest.fixture(scope="module")
def recognizer(tiny_model_dirs):
    from shuttlesense.inference.recognizer import QwenVLActionRecognizer

    return QwenVLActionRecognizer(str(tiny_model_dirs["qwen2_5_vl"]), **TINY)


class Killed(KeyboardInterrupt):
    """Stands for the process being killed (not an error of one clip: the run ends)."""


class DiesAfter:
    """The recognizer, killed after `count` clips."""

    def __init__(self, recognizer, count: int) -> None:
        self.inner, self.count, self.calls = recognizer, count, 0
        self.model_path, self.sampling, self.grid = (
            recognizer.model_path,
            recognizer.sampling,
            recognizer.grid,
        )
        self.language, self.mode = recognizer.language, recognizer.mode

    def recognize_action(self, video):
        self.calls += 1
        if self.calls > self.count:
            raise Killed
        return self.inner.recognize_action(video)


def _lines(folder: Path) -> list[dict]:
    lines = [json.loads(text) for text in (folder / PREDICTIONS).read_text().splitlines()]
    return [{k: v for k, v in line.items() if k not in PER_RUN} for line in lines]


def _metrics(folder: Path) -> dict:
    metrics = json.loads((folder / "metrics.json").read_text())
    return {k: v for k, v in metrics.items() if k not in PER_RUN}


def test_a_killed_evaluation_resumes_where_it_stopped(recognizer, prepared_dataset: Path, tmp_path: Path):
    common = {"limit": 6, "progress": False, "num_workers": 0}
    evaluate_model(recognizer, str(prepared_dataset), "test", tmp_path / "whole", **common)

    out = tmp_path / "resumed"
    with pytest.raises(Killed):
        evaluate_model(DiesAfter(recognizer, 3), str(prepared_dataset), "test", out, **common)
    with (out / PREDICTIONS).open("a") as partial:
        partial.write('{"index": 3, "id": "cut sho')  # the kill came in the middle of a line
    again = DiesAfter(recognizer, 100)
    evaluate_model(again, str(prepared_dataset), "test", out, resume=True, **common)
    assert again.calls == 3  # only the clips not done before
    assert _lines(out) == _lines(tmp_path / "whole") and _metrics(out) == _metrics(tmp_path / "whole")
    assert [line["index"] for line in _lines(out)] == list(range(6))

    with pytest.raises(ValueError, match="another run.*limit 6 -> 5"):
        evaluate_model(recognizer, str(prepared_dataset), "test", out, resume=True, **{**common, "limit": 5})
    from shuttlesense.inference.calibration import Calibration

    recognizer.calibration = Calibration(2.0, "test")  # lines at another temperature must not be mixed
    try:
        with pytest.raises(ValueError, match="another run.*temperature None -> 2.0"):
            evaluate_model(recognizer, str(prepared_dataset), "test", out, resume=True, **common)
    finally:
        recognizer.calibration = None


@pytest.mark.slow
def test_two_processes_under_accelerate_launch_give_the_one_process_files(
    prepared_dataset: Path, tiny_model_dirs, tmp_path: Path
):
    accelerate = Path(sys.executable).parent / "accelerate"
    args = [
        "evaluate",
        "--model-path",
        str(tiny_model_dirs["qwen2_5_vl"]),
        "--dataset",
        str(prepared_dataset),
    ]
    args += [
        "--limit",
        "7",
        "--num-workers",
        "1",
        "--language",
        "en",
        "--num-frames",
        "4",
        "--max-pixels",
        "3136",
    ]
    outputs = {}
    for processes in (1, 2):
        out = tmp_path / f"procs{processes}"
        command = [str(accelerate), "launch", "--num_processes", str(processes), "--num_machines", "1"]
        command += ["--multi_gpu"] if processes > 1 else []  # torch's launcher; on CPU they join over gloo
        command += ["--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29533"]
        result = subprocess.run(
            [*command, "-m", "shuttlesense", *args, "--output-dir", str(out)],
            capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-4000:]
        assert result.stdout.count("Evaluated 7 clips") == 1  # one summary, from the main process
        outputs[processes] = out
        assert json.loads((out / "metrics.json").read_text())["num_processes"] == processes
    assert not list(outputs[2].glob("predictions.rank*.jsonl"))
    assert _lines(outputs[2]) == _lines(outputs[1]) and _metrics(outputs[2]) == _metrics(outputs[1])


def test_three_views_are_the_average_of_three_single_view_runs_at_the_same_offsets(
    recognizer, prepared_dataset: Path, tmp_path: Path
):
    import numpy as np

    from shuttlesense.data.loading import load_split, row_info, row_video
    from shuttlesense.data.video_io import decode_frames, view_shifts
    from shuttlesense.labels import CLASS_NAMES_EN

    metrics = evaluate_model(recognizer, str(prepared_dataset), "test", tmp_path / "views", limit=3,
                             progress=False, num_workers=1, num_views=3)  # fmt: skip
    assert metrics["num_views"] == 3 and "Views per clip: 3" in (tmp_path / "views" / "report.md").read_text()
    lines = [json.loads(text) for text in (tmp_path / "views" / PREDICTIONS).read_text().splitlines()]
    rows = list(load_split(str(prepared_dataset), "test").select(range(3)))
    sampling = recognizer.sampling
    for line, row in zip(lines, rows, strict=True):
        info = row_info(row)
        singles = []
        for shift in view_shifts(3):
            clip = decode_frames(row_video(row), sampling.frames_for(info), sampling.max_pixels, recognizer.grid,
                                 info, shift)  # fmt: skip
            result = recognizer.recognize_action(clip)
            singles.append([result["probabilities"][name] for name in CLASS_NAMES_EN])
        averaged = [line["probabilities"][name] for name in CLASS_NAMES_EN]
        np.testing.assert_allclose(averaged, np.mean(singles, axis=0), atol=2e-6)
    assert len({tuple(view) for view in [decode_frames(row_video(rows[0]), 4, 3136, shift=s).indices
                                         for s in view_shifts(3)]}) == 3  # fmt: skip  # three different offsets


def test_several_views_keep_raw_scores_whatever_the_recognizers_temperature(
    recognizer, prepared_dataset: Path, tmp_path: Path
):
    """A line's scores are raw and its temperature is recorded beside them, so the report applies
    it once: with views too, the scores must not already hold it."""
    import numpy as np

    from shuttlesense.inference.calibration import Calibration

    runs = {}
    try:
        for temperature in (1.0, 2.5):
            recognizer.calibration = Calibration(temperature, "test")
            out = tmp_path / f"t{temperature}"
            evaluate_model(
                recognizer, str(prepared_dataset), "test", out, limit=3, progress=False, num_views=3
            )
            runs[temperature] = [json.loads(text) for text in (out / PREDICTIONS).read_text().splitlines()]
    finally:
        recognizer.calibration = None
    for plain, warm in zip(runs[1.0], runs[2.5], strict=True):
        assert warm["temperature"] == 2.5
        np.testing.assert_allclose(warm["scores"], plain["scores"], atol=1e-5)
        assert warm["probabilities"] != plain["probabilities"]


def test_batched_evaluation_gives_the_one_clip_at_a_time_files(
    recognizer, prepared_dataset: Path, tmp_path: Path
):
    runs = {}
    for batch_size in (1, 4):
        out = tmp_path / f"batch{batch_size}"
        evaluate_model(recognizer, str(prepared_dataset), "test", out, limit=6, progress=False,
                       num_workers=1, batch_size=batch_size)  # fmt: skip
        runs[batch_size] = [json.loads(text) for text in (out / PREDICTIONS).read_text().splitlines()]
    for one, batched in zip(runs[1], runs[4], strict=True):
        assert one["predicted"] == batched["predicted"]
        assert max(abs(a - b) for a, b in zip(one["scores"], batched["scores"], strict=True)) < 1e-4


def test_a_failed_clip_reads_the_same_whatever_the_batch_size(prepared_dataset: Path, tmp_path: Path):
    import numpy as np

    from shuttlesense.data.loading import load_split, row_video
    from shuttlesense.inference.results import error_result, result_from_probabilities

    bad = row_video(load_split(str(prepared_dataset), "test")[1])

    class FailsOne:
        def recognize_action(self, video):
            if video == bad:
                raise ValueError("unreadable clip")
            return result_from_probabilities(np.full(18, 1 / 18))

        def recognize_actions(self, videos, batch_size, errors="raise"):
            results = []
            for video in videos:
                try:
                    results.append(self.recognize_action(video))
                except ValueError as err:
                    results.append(error_result(err))
            return results

    failures = {}
    for batch_size in (1, 3):
        out = tmp_path / f"batch{batch_size}"
        evaluate_model(
            FailsOne(), str(prepared_dataset), "test", out, limit=3, progress=False, batch_size=batch_size
        )
        lines = [json.loads(text) for text in (out / PREDICTIONS).read_text().splitlines()]
        failures[batch_size] = [
            (line["index"], line["error"], line["error_type"]) for line in lines if line["error"]
        ]
    assert failures[1] == failures[3] == [(1, "ValueError: unreadable clip", "ValueError")]
