"""Calibrated confidence: a known miscalibration is recovered, and the files and recogniser use it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shuttlesense.data.loading import load_split
from shuttlesense.evaluation.calibration import (
    calibration_report,
    class_priors,
    fit_temperature,
    negative_log_likelihood,
    prior_corrected,
    reliability,
    softmax,
)
from shuttlesense.evaluation.evaluator import evaluate_model
from shuttlesense.inference.calibration import read_calibration
from shuttlesense.labels import CLASS_NAMES_EN, NUM_CLASSES, by_id


def calibrated_scores(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores whose softmax is calibrated by construction: each label is drawn from it."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(0.0, 2.0, (count, NUM_CLASSES))
    scores[np.arange(count), rng.integers(0, NUM_CLASSES, count)] += 3.0  # a clear favourite per clip
    probs = softmax(scores)
    labels = np.array([rng.choice(NUM_CLASSES, p=row) for row in probs])
    return scores, labels


@pytest.mark.parametrize("factor", [0.5, 2.5])
def test_a_known_miscalibration_is_recovered_and_nll_and_ece_go_down(factor: float):
    fit_scores, fit_labels = calibrated_scores(3000, seed=1)
    test_scores, test_labels = calibrated_scores(3000, seed=2)
    temperature = fit_temperature(fit_scores * factor, fit_labels)  # over- (2.5) or underconfident (0.5)
    assert temperature == pytest.approx(factor, rel=0.10)
    report = calibration_report(test_scores * factor, test_labels, temperature)
    assert report["nll_after"] < report["nll_before"] and report["ece_after"] < report["ece_before"]
    assert report["ece_after"] < 0.03
    assert sum(b["count"] for b in report["bins_after"]) == 3000
    before = softmax(test_scores * factor).argmax(axis=1)
    assert (
        softmax(test_scores * factor, temperature).argmax(axis=1) == before
    ).all()  # never changes a class


def test_ece_and_nll_on_hand_made_cases():
    sure_and_right = np.eye(NUM_CLASSES)[:4] * 0.999 + 0.001 / NUM_CLASSES
    assert reliability(sure_and_right, [0, 1, 2, 3])["ece"] == pytest.approx(0.001, abs=1e-3)
    assert reliability(sure_and_right, [1, 2, 3, 0])["ece"] == pytest.approx(0.999, abs=1e-3)
    uniform = np.full((2, NUM_CLASSES), 1 / NUM_CLASSES)
    assert negative_log_likelihood(uniform, [0, 5]) == pytest.approx(np.log(NUM_CLASSES))


def test_the_prior_correction_favours_rare_classes():
    priors = class_priors([0] * 90 + [1] * 10, 2)
    assert prior_corrected(np.array([[0.6, 0.4]]), priors)[0].argmax() == 1
    assert class_priors([], 3) == pytest.approx([1 / 3] * 3)


class Overconfident:
    """A recogniser whose log-likelihoods are right but `factor` times too sharp."""

    def __init__(self, rows: list[dict], factor: float, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.scores = {}
        for row in rows:
            scores = rng.normal(0.0, 1.0, NUM_CLASSES)
            scores[row["label"] if rng.random() < 0.6 else rng.integers(NUM_CLASSES)] += 2.0
            self.scores[row["video"]["bytes"]] = scores * factor
        self.model_path = "overconfident"

    def recognize_action(self, video: Any) -> dict[str, Any]:
        scores = self.scores[bytes(video)]
        probs = softmax(scores[None])[0]
        best = int(probs.argmax())
        return {
            "predicted_action": by_id(best).en,
            "class_id": best,
            "probabilities": dict(zip(CLASS_NAMES_EN, probs.tolist(), strict=True)),
            "log_likelihoods": dict(zip(CLASS_NAMES_EN, scores.tolist(), strict=True)),
        }


def test_evaluate_calibrate_writes_the_temperature_the_diagram_and_the_numbers(
    prepared_dataset: Path, tmp_path: Path
):
    rows = [*load_split(str(prepared_dataset), "validation"), *load_split(str(prepared_dataset), "test")]
    out = tmp_path / "eval"
    metrics = evaluate_model(Overconfident(rows, factor=4.0), str(prepared_dataset), "test", out,
                             progress=False, calibrate=True)  # fmt: skip
    calibration = metrics["calibration"]
    assert read_calibration(out / "calibration.json").temperature == calibration["temperature"] > 1.5
    assert calibration["nll_after"] < calibration["nll_before"]
    assert (out / "validation_predictions.jsonl").is_file() and (out / "reliability_diagram.png").is_file()
    report = (out / "report.md").read_text()
    assert (
        "## Confidence" in report
        and "reliability_diagram.png" in report
        and "Class-prior correction" in report
    )
    saved = json.loads((out / "metrics.json").read_text())
    assert (
        saved["prior_corrected"]["priors_from"] == "train"
        and "mean_class_accuracy" in saved["prior_corrected"]
    )


def test_the_recogniser_takes_a_calibration_file_or_the_one_in_its_model_folder(
    tiny_model_dirs, tmp_path: Path
):
    import shutil

    import torch

    from shuttlesense.inference.recognizer import QwenVLActionRecognizer

    frames = np.random.default_rng(0).integers(0, 255, (4, 56, 56, 3), dtype=np.uint8)
    settings = {"language": "en", "num_frames": 4, "max_pixels": 56 * 56}
    (tmp_path / "calibration.json").write_text(json.dumps({"temperature": 3.0}))
    calibrated = QwenVLActionRecognizer(str(tiny_model_dirs["qwen2_5_vl"]), calibration=tmp_path / "calibration.json", **settings)  # fmt: skip
    result = calibrated.recognize_action(frames)
    scores = torch.tensor([result["log_likelihoods"][name] for name in CLASS_NAMES_EN], dtype=torch.float64)
    expected = torch.softmax(scores / 3.0, dim=0).numpy()
    np.testing.assert_allclose([result["probabilities"][n] for n in CLASS_NAMES_EN], expected, atol=1e-9)
    assert result["temperature"] == 3.0

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dirs["qwen2_5_vl"], model)
    (model / "calibration.json").write_text(json.dumps({"temperature": 0.5}))
    assert QwenVLActionRecognizer(str(model), **settings).calibration.temperature == 0.5
    (tmp_path / "broken.json").write_text("{}")
    with pytest.raises(ValueError, match="broken.json is not a calibration.json"):
        read_calibration(tmp_path / "broken.json")


def test_calibrate_says_so_when_every_validation_clip_failed(prepared_dataset: Path, tmp_path: Path):
    class Broken:
        def recognize_action(self, video):
            raise ValueError("cannot decode")

    with pytest.raises(RuntimeError, match="all 3 validation clips failed"):
        evaluate_model(Broken(), str(prepared_dataset), "test", tmp_path / "eval", limit=3, progress=False,
                       calibrate=True)  # fmt: skip
