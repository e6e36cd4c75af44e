"""Classification metrics over the 18 strokes, comparable with the VideoBadminton benchmark.

The benchmark (MMAction2) reports top-1 accuracy and *mean class accuracy* (the mean of per-class
recall), which matters here because the classes are strongly imbalanced (Long Serve 990 clips,
Transitional Slice 98): a model that ignores rare strokes can have a fine top-1 and a poor mean
class accuracy. Everything is computed with scikit-learn. The `evaluate` library is not used: its
`evaluate.load("accuracy")` fetches the metric script from the Hugging Face Hub, which fails offline
("Couldn't find a module script ... doesn't exist on the Hugging Face Hub either").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    top_k_accuracy_score,
)

from shuttlesense.labels import CLASS_NAMES_EN, NUM_CLASSES

ALL_LABELS = list(range(NUM_CLASSES))


def classification_metrics(y_true: Sequence[int], probs: np.ndarray) -> dict[str, Any]:
    """Top-1, top-5, mean class accuracy, macro-F1, per-class scores and the confusion matrix.

    `probs` is (N, 18) in class-id order; the prediction is its row argmax. Averages are over the
    classes a small split actually contains, so a class with no clip does not count as a 0:
    mean class accuracy averages recall over classes present in `y_true`; macro-F1 averages over
    classes present in `y_true` or in the predictions (scikit-learn's default label set, so a class
    that is predicted but never true still counts as a false-positive-only 0). On the VideoBadminton
    test split all 18 classes are present and both reduce to the plain 18-class averages.
    Per-class entries cover all 18 classes (support 0 where absent; undefined ratios are 0).
    """
    y_true_arr = np.asarray(y_true, dtype=int)
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 2 or probs.shape[1] != NUM_CLASSES:
        raise ValueError(f"probs must have shape (N, {NUM_CLASSES}); got {probs.shape}.")
    if len(y_true_arr) != len(probs):
        raise ValueError(f"{len(y_true_arr)} labels but {len(probs)} probability rows.")
    if len(y_true_arr) == 0:
        raise ValueError("No predictions to score.")
    if y_true_arr.min() < 0 or y_true_arr.max() >= NUM_CLASSES:
        raise ValueError(f"Labels must be class ids 0-{NUM_CLASSES - 1}.")

    y_pred = probs.argmax(axis=1)
    present = np.unique(y_true_arr)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true_arr, y_pred, labels=ALL_LABELS, zero_division=0
    )
    cm = confusion_matrix(y_true_arr, y_pred, labels=ALL_LABELS)
    return {
        "num_examples": int(len(y_true_arr)),
        "num_classes_present": int(len(present)),
        "top1": float(accuracy_score(y_true_arr, y_pred)),
        "top5": float(top_k_accuracy_score(y_true_arr, probs, k=5, labels=ALL_LABELS)),
        "mean_class_accuracy": float(np.mean(recall[present])),
        "macro_f1": float(f1_score(y_true_arr, y_pred, average="macro", zero_division=0)),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(CLASS_NAMES_EN)
        },
        "class_names": list(CLASS_NAMES_EN),
        "confusion_matrix": cm.astype(int).tolist(),
    }


def row_normalise(cm: np.ndarray | Sequence[Sequence[int]]) -> np.ndarray:
    """Each row divided by its total (share of a true class predicted as each class); empty rows stay 0."""
    cm = np.asarray(cm, dtype=float)
    totals = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)


def top_confusions(cm: np.ndarray | Sequence[Sequence[int]], n: int = 5) -> list[tuple[str, str, int, float]]:
    """The `n` largest off-diagonal cells: (true class, predicted class, count, share of the true class)."""
    counts = np.asarray(cm, dtype=int)
    shares = row_normalise(counts)
    off = [
        (int(counts[i, j]), i, j)
        for i in range(counts.shape[0])
        for j in range(counts.shape[1])
        if i != j and counts[i, j] > 0
    ]
    off.sort(key=lambda t: (-t[0], t[1], t[2]))
    return [(CLASS_NAMES_EN[i], CLASS_NAMES_EN[j], c, float(shares[i, j])) for c, i, j in off[:n]]
