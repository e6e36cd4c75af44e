"""Ensemble arithmetic on known probability vectors: threshold rule and weighted average."""

from __future__ import annotations

import numpy as np
import pytest

from shuttlesense import labels
from shuttlesense.inference.results import probabilities_vector, result_from_probabilities
from shuttlesense.rally.ensemble import check_weights, combine_results, weighted_average


def _vector(peaks: dict[int, float]) -> np.ndarray:
    """18 probabilities: the given ones, the rest shared evenly."""
    probs = np.zeros(labels.NUM_CLASSES)
    for class_id, p in peaks.items():
        probs[class_id] = p
    rest = [i for i in range(labels.NUM_CLASSES) if i not in peaks]
    probs[rest] = (1.0 - sum(peaks.values())) / len(rest)
    return probs


def _combine(qwen: np.ndarray, videomae: np.ndarray | None, threshold: float, weights=(0.6, 0.4)) -> dict:
    return combine_results(
        result_from_probabilities(qwen),
        None if videomae is None else result_from_probabilities(videomae),
        qwen_vl_weight=weights[0],
        videomae_weight=weights[1],
        confidence_threshold=threshold,
    )


def test_weighted_average_is_exact_and_still_a_distribution() -> None:
    q, v = _vector({3: 0.5, 14: 0.3}), _vector({14: 0.9})
    avg = weighted_average(q, v, 0.6, 0.4)
    np.testing.assert_allclose(avg, 0.6 * q + 0.4 * v)
    assert avg.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(weighted_average(q, v, 3, 2), avg)  # weights are normalised


def test_confident_qwen_vl_answer_stands() -> None:
    # Qwen-VL 0.75 on Tap Smash; VideoMAE very sure of Smash: the average would pick Smash.
    q, v = _vector({3: 0.75, 14: 0.2}), _vector({14: 0.99})
    result = _combine(q, v, threshold=0.7)
    assert result["decided_by"] == "qwen_vl"
    assert result["predicted_action"] == labels.by_id(3).en and result["confidence"] == pytest.approx(0.75)
    np.testing.assert_allclose(probabilities_vector(result), q)
    assert result["models"]["videomae"]["predicted_action"] == labels.by_id(14).en


def test_unsure_qwen_vl_is_overruled_by_the_average() -> None:
    q, v = _vector({3: 0.5, 14: 0.3}), _vector({14: 0.9})
    result = _combine(q, v, threshold=0.7)
    # Smash: 0.6 * 0.3 + 0.4 * 0.9 = 0.54; Tap Smash: 0.6 * 0.5 + 0.4 * (0.1 / 17) ~= 0.302
    assert result["decided_by"] == "ensemble"
    assert result["predicted_action"] == labels.by_id(14).en
    assert result["confidence"] == pytest.approx(0.54)
    assert result["top_k"][1]["class_id"] == 3
    assert result["top_k"][1]["probability"] == pytest.approx(0.3 + 0.4 * 0.1 / 17)


def test_threshold_is_inclusive_and_weights_matter() -> None:
    q, v = _vector({3: 0.7}), _vector({14: 1.0})
    assert _combine(q, v, threshold=0.7)["decided_by"] == "qwen_vl"
    assert _combine(q, v, threshold=0.71, weights=(0.9, 0.1))["predicted_action"] == labels.by_id(3).en
    assert _combine(q, v, threshold=0.71, weights=(0.2, 0.8))["predicted_action"] == labels.by_id(14).en


def test_without_videomae_qwen_vl_decides_whatever_its_confidence() -> None:
    q = _vector({5: 0.2})
    result = _combine(q, None, threshold=0.99)
    assert result["decided_by"] == "qwen_vl" and result["class_id"] == 5
    assert result["models"]["videomae"] is None


@pytest.mark.parametrize("weights", [(-0.1, 1.0), (0.0, 0.0)])
def test_bad_weights_are_refused(weights) -> None:
    with pytest.raises(ValueError, match="weights"):
        check_weights(*weights)
