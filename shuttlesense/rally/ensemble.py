"""Combine Qwen-VL and VideoMAE: Qwen-VL decides when sure, a weighted average when not.

Why this rule (the seed's): the fine-tuned Qwen-VL is the stronger model, so a confident answer
stands as it is; when it is unsure, a second model trained differently (VideoMAE sees motion at
the pixel level) breaks the tie through a weighted average of the two probability vectors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shuttlesense.inference.results import probabilities_vector, result_from_probabilities


def check_weights(qwen_vl_weight: float, videomae_weight: float) -> None:
    """Weights must be non-negative with a positive sum (else the average is not a distribution)."""
    if min(qwen_vl_weight, videomae_weight) < 0 or qwen_vl_weight + videomae_weight <= 0:
        raise ValueError(
            "Ensemble weights must be >= 0 with a positive sum; got "
            f"qwen_vl_weight={qwen_vl_weight}, videomae_weight={videomae_weight}."
        )


def weighted_average(
    qwen_vl: np.ndarray, videomae: np.ndarray, qwen_vl_weight: float, videomae_weight: float
) -> np.ndarray:
    """(w_q * p_q + w_v * p_v) / (w_q + w_v): still a probability vector."""
    total = qwen_vl_weight + videomae_weight
    if min(qwen_vl_weight, videomae_weight) < 0 or total <= 0:
        raise ValueError(
            f"Weights must be >= 0 with a positive sum; got {qwen_vl_weight}, {videomae_weight}."
        )
    return (qwen_vl_weight * np.asarray(qwen_vl) + videomae_weight * np.asarray(videomae)) / total


def combine_results(
    qwen_vl: dict[str, Any],
    videomae: dict[str, Any] | None,
    *,
    qwen_vl_weight: float,
    videomae_weight: float,
    confidence_threshold: float,
    top_k: int = 5,
) -> dict[str, Any]:
    """The final result: Qwen-VL's if VideoMAE is absent or Qwen-VL's confidence >= the threshold,
    else the weighted average's. Adds `decided_by` and both models' results under `models`."""
    models = {"qwen_vl": qwen_vl, "videomae": videomae}
    if videomae is None or qwen_vl["confidence"] >= confidence_threshold:
        final = result_from_probabilities(probabilities_vector(qwen_vl), top_k)
        return {**final, "decided_by": "qwen_vl", "models": models}
    probs = weighted_average(
        probabilities_vector(qwen_vl), probabilities_vector(videomae), qwen_vl_weight, videomae_weight
    )
    return {**result_from_probabilities(probs, top_k), "decided_by": "ensemble", "models": models}
