"""How far confidences are from being calibrated, the temperature that fixes most of it, and a
class-prior correction reported beside the plain numbers.

Temperature scaling (Guo et al., 2017): one number T divides the log-likelihoods before the
softmax and is fitted on the validation split by minimising its negative log-likelihood; the
predicted class does not change, only how sure the model says it is. Expected calibration error
(ECE) is the clip-weighted gap between confidence and accuracy over equal-width confidence bins.

The prior correction divides each clip's probabilities by the class frequencies of the training
split and renormalises (a balanced decision rule for an imbalanced dataset): it trades top-1 for
mean class accuracy, so it is reported beside the plain numbers and never applied silently.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shuttlesense.inference.calibration import CALIBRATION_FILE

NUM_BINS = 15
TEMPERATURE_RANGE = (0.01, 100.0)


def softmax(scores: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of `scores / temperature` (N, C)."""
    scaled = np.asarray(scores, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def negative_log_likelihood(probs: np.ndarray, labels: Sequence[int]) -> float:
    """Mean -log p(true class)."""
    picked = np.asarray(probs)[np.arange(len(labels)), np.asarray(labels)]
    return float(-np.mean(np.log(np.clip(picked, 1e-12, None))))


def fit_temperature(scores: np.ndarray, labels: Sequence[int]) -> float:
    """The T that minimises the NLL of softmax(scores / T) on (`scores`, `labels`)."""
    from scipy.optimize import minimize_scalar

    if len(labels) == 0:
        raise ValueError("Cannot fit a temperature on no clips.")
    lo, hi = np.log(TEMPERATURE_RANGE)
    found = minimize_scalar(
        lambda log_t: negative_log_likelihood(softmax(scores, float(np.exp(log_t))), labels),
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": 1e-5},
    )
    return float(np.exp(found.x))


def reliability(probs: np.ndarray, labels: Sequence[int], num_bins: int = NUM_BINS) -> dict[str, Any]:
    """Per equal-width confidence bin: clips, mean confidence and accuracy; and the ECE."""
    probs = np.asarray(probs)
    confidence, predicted = probs.max(axis=1), probs.argmax(axis=1)
    correct = predicted == np.asarray(labels)
    which = np.minimum((confidence * num_bins).astype(int), num_bins - 1)
    bins, ece = [], 0.0
    for b in range(num_bins):
        inside = which == b
        count = int(inside.sum())
        mean_conf = float(confidence[inside].mean()) if count else None
        accuracy = float(correct[inside].mean()) if count else None
        if count:
            ece += count / len(confidence) * abs(accuracy - mean_conf)
        bins.append({"lower": b / num_bins, "upper": (b + 1) / num_bins, "count": count,
                     "confidence": mean_conf, "accuracy": accuracy})  # fmt: skip
    return {"ece": float(ece), "bins": bins}


def calibration_report(
    scores: np.ndarray, labels: Sequence[int], temperature: float | None
) -> dict[str, Any]:
    """ECE and NLL of softmax(scores) and, with a fitted `temperature`, of softmax(scores / T)."""

    def measured(probs: np.ndarray, when: str) -> dict[str, Any]:
        bins = reliability(probs, labels)
        return {f"ece_{when}": bins["ece"], f"nll_{when}": negative_log_likelihood(probs, labels),
                f"bins_{when}": bins["bins"]}  # fmt: skip

    report = measured(softmax(scores), "before")
    if temperature is not None:
        report |= {"temperature": temperature, **measured(softmax(scores, temperature), "after")}
    return report


def write_calibration(output: Path, temperature: float, fitted_on: dict[str, Any]) -> Path:
    """`calibration.json`: what `--calibration` (or a copy in the model folder) reads."""
    path = output / CALIBRATION_FILE
    record = {"temperature": temperature, "method": "temperature scaling", "fitted_on": fitted_on}
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


def class_priors(labels: Sequence[int], num_classes: int) -> np.ndarray:
    """Class frequencies (add-one smoothed, so a class absent from training is not divided by 0)."""
    counts = np.bincount(np.asarray(labels, dtype=int), minlength=num_classes) + 1.0
    return counts / counts.sum()


def prior_corrected(probs: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """p(c | x) / p(c), renormalised: what a classifier trained on balanced classes would say."""
    corrected = np.asarray(probs) / priors
    return corrected / corrected.sum(axis=1, keepdims=True)
