"""`evaluate_model` / `shuttlesense evaluate` end to end on the prepared synthetic dataset.

Most tests use `ScriptedRecognizer`, a TEST DOUBLE with the interface of
`shuttlesense.inference.recognizer.QwenVLActionRecognizer.recognize_action`: it answers from a table keyed
by the clip's bytes, so the expected metrics are known exactly. One test runs the real recognizer
on a tiny random model, where predictions are noise and only the structure is checked.
"""

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from datasets import Dataset

from shuttlesense import cli
from shuttlesense.data.loading import load_split
from shuttlesense.data.video_io import VideoDecodeError, decode_frames
from shuttlesense.evaluation.evaluator import OUTPUT_FILES, evaluate_model
from shuttlesense.evaluation.metrics import classification_metrics
from shuttlesense.labels import CLASS_NAMES_EN, NUM_CLASSES, by_id
from shuttlesense.paths import OUTPUT_MARKER


def one_hot_ish(class_id: int, confidence: float = 0.7) -> np.ndarray:
    probs = np.full(NUM_CLASSES, (1 - confidence) / (NUM_CLASSES - 1))
    probs[class_id] = confidence
    return probs


class ScriptedRecognizer:
    """Test double: returns a scripted probability row per clip (keyed by bytes); optionally decodes first."""

    def __init__(self, answers: dict[bytes, np.ndarray], decode: bool = False, model_path: str = "scripted"):
        self.answers, self.decode, self.model_path = answers, decode, model_path
        self.calls = 0

    def recognize_action(self, video: Any) -> dict[str, Any]:
        self.calls += 1
        if self.decode:
            decode_frames(video, num_frames=2, max_pixels=56 * 56)  # the real decoder raises on bad bytes
        probs = self.answers[bytes(video)]
        best = int(probs.argmax())
        return {
            "predicted_action": by_id(best).en,
            "predicted_action_zh": by_id(best).zh,
            "class_id": best,
            "confidence": float(probs[best]),
            "probabilities": dict(zip(CLASS_NAMES_EN, probs.tolist(), strict=True)),
            "top_k": [],
            "timing": {"total": 0.0},
        }


class FailingRecognizer:
    """Test double whose every call fails, as a broken model would."""

    def recognize_action(self, video: Any) -> dict[str, Any]:
        raise RuntimeError("shape mismatch in the model")


@pytest.fixture(scope="module")
def test_rows(prepared_dataset: Path) -> list[dict]:
    return list(load_split(str(prepared_dataset), "test"))


def scripted_answers(rows: list[dict]) -> tuple[dict[bytes, np.ndarray], list[int], np.ndarray]:
    """Right on even rows, the next class on odd rows."""
    labels = [row["label"] for row in rows]
    probs = np.stack([one_hot_ish(y if i % 2 == 0 else (y + 1) % NUM_CLASSES) for i, y in enumerate(labels)])
    return {row["video"]["bytes"]: p for row, p in zip(rows, probs, strict=True)}, labels, probs


def test_evaluate_writes_every_file_with_the_expected_metrics(
    prepared_dataset: Path, test_rows: list[dict], tmp_path: Path
):
    answers, labels, probs = scripted_answers(test_rows)
    out = tmp_path / "eval"
    metrics = evaluate_model(ScriptedRecognizer(answers), str(prepared_dataset), "test", out, progress=False)

    assert sorted(p.name for p in out.iterdir()) == sorted([*OUTPUT_FILES, OUTPUT_MARKER])
    n = len(test_rows)
    assert metrics["top1"] == pytest.approx(((n + 1) // 2) / n)
    expected = classification_metrics(labels, probs)
    for key in ("top1", "top5", "mean_class_accuracy", "macro_f1", "per_class", "confusion_matrix"):
        assert (
            metrics[key] == pytest.approx(expected[key])
            if isinstance(expected[key], float)
            else expected[key]
        )
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk["top1"] == pytest.approx(metrics["top1"]) and on_disk["num_failed"] == 0
    assert on_disk["num_evaluated"] == on_disk["num_total"] == n
    assert on_disk["split_method"] == "session" and on_disk["tiny_model"] is None

    lines = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert [x["id"] for x in lines] == [row["id"] for row in test_rows]
    first = lines[0]
    assert first["label"] == labels[0] and first["predicted"] == labels[0] and first["correct"] is True
    assert first["confidence"] == pytest.approx(0.7) and first["error"] is None
    assert set(first["probabilities"]) == set(CLASS_NAMES_EN)
    assert lines[1]["predicted"] == (labels[1] + 1) % NUM_CLASSES and lines[1]["correct"] is False

    report = (out / "report.md").read_text()
    assert "SlowFast" in report and "Split method: **session**" in report


def test_a_clip_that_fails_to_decode_is_recorded_not_fatal(
    prepared_dataset: Path, test_rows: list[dict], tmp_path: Path
):
    rows = test_rows[:3]
    bad = dict(rows[0], id="corrupt-clip", video={"bytes": b"this is not an mp4", "path": "corrupt.mp4"})
    features = load_split(str(prepared_dataset), "test").features
    Dataset.from_list([rows[0], bad, *rows[1:]], features=features).save_to_disk(str(tmp_path / "data"))
    answers, _, _ = scripted_answers(rows)

    metrics = evaluate_model(
        ScriptedRecognizer(answers, decode=True),
        str(tmp_path / "data"),
        "test",
        tmp_path / "out",
        progress=False,
    )
    assert metrics["num_failed"] == 1 and metrics["num_evaluated"] == 3 and metrics["num_total"] == 4
    assert metrics["failed_ids"] == ["corrupt-clip"]
    assert metrics["top1_counting_failures_as_wrong"] == pytest.approx(2 / 4)  # rows 0 and 2 right
    lines = [json.loads(x) for x in (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()]
    assert lines[1]["id"] == "corrupt-clip" and lines[1]["error_type"] == VideoDecodeError.__name__
    assert "failed to decode or predict" in (tmp_path / "out" / "report.md").read_text()


def test_a_broken_model_stops_early(prepared_dataset: Path, tmp_path: Path):
    with pytest.raises(RuntimeError, match="first 5 clips all failed.*shape mismatch"):
        evaluate_model(FailingRecognizer(), str(prepared_dataset), "test", tmp_path / "out", progress=False)
    assert len((tmp_path / "out" / "predictions.jsonl").read_text().splitlines()) == 5


def test_limit_and_output_folder_rules(prepared_dataset: Path, test_rows: list[dict], tmp_path: Path):
    answers, _, _ = scripted_answers(test_rows)
    recognizer = ScriptedRecognizer(answers)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "metrics.json").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        evaluate_model(recognizer, str(prepared_dataset), "test", theirs, limit=2, progress=False)
    with pytest.raises(FileExistsError, match="not written by `shuttlesense evaluate`"):
        evaluate_model(recognizer, str(prepared_dataset), "test", theirs, overwrite=True, progress=False)
    assert [p.name for p in theirs.iterdir()] == ["metrics.json"] and recognizer.calls == 0

    out = tmp_path / "out"
    evaluate_model(recognizer, str(prepared_dataset), "test", out, limit=1, progress=False)
    (out / "notes.txt").write_text("keep me")  # the user's, in an evaluation folder
    metrics = evaluate_model(
        recognizer, str(prepared_dataset), "test", out, limit=2, overwrite=True, progress=False
    )
    assert metrics["num_total"] == 2 and recognizer.calls == 3
    assert (out / "notes.txt").read_text() == "keep me", "--overwrite replaces our files only"
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 2
    with pytest.raises(ValueError, match="at least 1"):
        evaluate_model(recognizer, str(prepared_dataset), "test", tmp_path / "o2", limit=0, progress=False)


def test_cli_help_and_refusal(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["evaluate", "--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    for option in ("--model_path", "--dataset", "--split", "--output_dir", "--limit", "--overwrite"):
        assert option in help_text or option.replace("_", "-") in help_text
    (tmp_path / "x").write_text("x")
    argv = ["evaluate", "--model-path", "m", "--dataset", "d", "--output-dir", str(tmp_path)]
    assert cli.main(argv) == 1
    assert "not empty" in capsys.readouterr().err


def test_cli_with_the_real_recognizer_on_a_tiny_model(
    prepared_dataset: Path,
    tiny_model_dirs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
):
    out = tmp_path / "out"
    argv = [
        "evaluate",
        "--model-path",
        str(tiny_model_dirs["qwen2_5_vl"]),
        "--dataset",
        str(prepared_dataset),
    ]
    argv += ["--split", "test", "--output-dir", str(out), "--limit", "3", "--num-frames", "4"]
    argv += ["--max-pixels", str(56 * 56), "--language", "en"]
    assert cli.main(argv) == 0
    assert "noise" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == sorted([*OUTPUT_FILES, OUTPUT_MARKER])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_evaluated"] == 3 and metrics["num_failed"] == 0 and metrics["tiny_model"] == "random"
    assert 0.0 <= metrics["top1"] <= 1.0 and len(metrics["confusion_matrix"]) == NUM_CLASSES
    for line in (out / "predictions.jsonl").read_text().splitlines():
        probs = json.loads(line)["probabilities"]
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-4)
    assert "noise" in (out / "report.md").read_text()


def test_an_evaluation_inside_the_dataset_is_refused(prepared_dataset: Path, tmp_path: Path, capsys):
    argv = ["evaluate", "--model-path", "never/loaded", "--dataset", str(prepared_dataset)]
    assert cli.main([*argv, "--output-dir", str(prepared_dataset / "eval")]) == 1
    assert "over its input" in capsys.readouterr().err
    assert not (prepared_dataset / "eval").exists()


def test_decoding_ahead_in_workers_gives_the_serial_results(
    prepared_dataset: Path, tiny_model_dirs: dict[str, Path], tmp_path: Path
):
    from shuttlesense.inference.recognizer import QwenVLActionRecognizer

    recognizer = QwenVLActionRecognizer(
        str(tiny_model_dirs["qwen2_5_vl"]), language="en", num_frames=4, max_pixels=56 * 56
    )
    runs = {}
    for workers in (0, 2):
        out = tmp_path / f"workers{workers}"
        metrics = evaluate_model(
            recognizer, str(prepared_dataset), "test", out, limit=6, progress=False, num_workers=workers
        )
        assert metrics["decode_workers"] == workers and metrics["clips_per_second"] > 0
        lines = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
        runs[workers] = [{k: v for k, v in line.items() if k != "seconds"} for line in lines]
    assert len(runs[0]) == 6 and runs[0] == runs[2]


@pytest.mark.parametrize("batch_size", [1, 2])
def test_clips_are_scored_as_they_come_not_after_all_are_read(
    prepared_dataset: Path,
    test_rows: list[dict],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    batch_size: int,
):
    """Decoding ahead overlaps scoring only if the loop takes clips one batch at a time."""
    import shuttlesense.evaluation.split_scoring as split_scoring

    read = []
    original = split_scoring._clips

    def counted(*args, **kwargs):
        for item in original(*args, **kwargs):
            read.append(item[0])
            yield item

    monkeypatch.setattr(split_scoring, "_clips", counted)
    answers, _, _ = scripted_answers(test_rows)
    recognizer = ScriptedRecognizer(answers)
    seen = []
    scripted = recognizer.recognize_action
    recognizer.recognize_action = lambda video: (seen.append(len(read)), scripted(video))[1]
    evaluate_model(recognizer, str(prepared_dataset), "test", tmp_path / "out", limit=4, progress=False,
                   batch_size=batch_size)  # fmt: skip
    assert seen[0] == batch_size and len(read) == 4
