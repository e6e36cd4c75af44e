"""The one result shape every stroke recogniser returns (Qwen-VL, VideoMAE, the ensemble).

Why one builder: the CLI, the rally pipeline, the web page and the ensemble all read the same
fields, so a recogniser only has to produce 18 probabilities in class-id order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from shuttlesense import labels


def probabilities_vector(result: dict[str, Any]) -> np.ndarray:
    """The 18 probabilities of a result, in class-id order (float64)."""
    probs = result["probabilities"]
    return np.array([probs[name] for name in labels.CLASS_NAMES_EN], dtype=np.float64)


def result_from_probabilities(probs: Sequence[float] | np.ndarray | Any, top_k: int = 5) -> dict[str, Any]:
    """Predicted class (English and Chinese), confidence, all 18 probabilities and the top k."""
    probs = np.asarray(probs.tolist() if hasattr(probs, "tolist") else probs, dtype=np.float64)
    if probs.shape != (labels.NUM_CLASSES,):
        raise ValueError(f"Expected {labels.NUM_CLASSES} class probabilities, got shape {probs.shape}.")
    order = np.argsort(-probs, kind="stable").tolist()
    best = labels.by_id(order[0])
    top = [
        {
            "class_id": i,
            "action": labels.by_id(i).en,
            "action_zh": labels.by_id(i).zh,
            "probability": float(probs[i]),
        }
        for i in order[: max(1, top_k)]
    ]
    return {
        "predicted_action": best.en,
        "predicted_action_zh": best.zh,
        "class_id": best.id,
        "confidence": float(probs[best.id]),
        "probabilities": {name: float(p) for name, p in zip(labels.CLASS_NAMES_EN, probs, strict=True)},
        "top_k": top,
    }


def error_result(err: Exception) -> dict[str, Any]:
    """The record that stands in for a result when a clip cannot be classified (errors="record")."""
    return {"error": f"{type(err).__name__}: {err}", "error_type": type(err).__name__}
