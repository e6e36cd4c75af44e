"""Stroke-classification accuracy during Trainer evaluation, without generating.

Generation in the eval loop is slow and needs a second code path; teacher forcing gives the same
answer for free. The collator supervises exactly the class name and its `<|im_end|>`, so an
example whose every supervised token is the argmax prediction is one that greedy decoding would
answer with exactly that class name and then stop: the example accuracy below is the real
classification accuracy of greedy decoding, computed from the eval forward pass alone.

Use with `transformers.Trainer` / TRL's `SFTTrainer`::

    trainer = SFTTrainer(..., compute_metrics=compute_answer_accuracy,
                         preprocess_logits_for_metrics=preprocess_logits_for_metrics)

`preprocess_logits_for_metrics` keeps only argmax ids, so evaluation never accumulates
(batch, length, vocab) logits in memory.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from shuttlesense.training.collator import IGNORE_INDEX

logger = logging.getLogger(__name__)


def preprocess_logits_for_metrics(logits: torch.Tensor | tuple, labels: torch.Tensor | None) -> torch.Tensor:
    """Greedy token predictions aligned with `labels`: position t holds the argmax of logits at t - 1.

    Logits at position t predict token t + 1, so the argmax is shifted right by one; position 0
    (no prediction) gets -100. After the shift predictions and labels have the same shape, so the
    Trainer's -100 padding across eval batches of different lengths pads both alike.
    """
    if isinstance(logits, tuple | list):  # some models return (logits, past_key_values, ...)
        logits = logits[0]
    predictions = torch.full(logits.shape[:2], IGNORE_INDEX, dtype=torch.long, device=logits.device)
    predictions[:, 1:] = logits[:, :-1].argmax(dim=-1)
    return predictions


def answer_accuracy(predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Example accuracy (every supervised token right) and token accuracy over supervised tokens.

    Both arrays are (examples, length), aligned as `preprocess_logits_for_metrics` returns them;
    positions with label -100 (prompt, video, padding) are ignored. Examples without any
    supervised token do not count.
    """
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    if predictions.shape != labels.shape:
        raise ValueError(
            f"Predictions {predictions.shape} and labels {labels.shape} differ in shape; "
            "pass preprocess_logits_for_metrics to the Trainer."
        )
    supervised = labels != IGNORE_INDEX
    correct = (predictions == labels) & supervised
    has_answer = supervised.any(axis=1)
    if not has_answer.any():
        logger.warning("No supervised tokens in the evaluation set; accuracy is undefined.")
        return {"accuracy": float("nan"), "token_accuracy": float("nan")}
    example_right = (correct == supervised).all(axis=1) & has_answer
    return {
        "accuracy": float(example_right.sum() / has_answer.sum()),
        "token_accuracy": float(correct.sum() / supervised.sum()),
    }


def compute_answer_accuracy(eval_pred: Any) -> dict[str, float]:
    """`compute_metrics` for the Trainer: greedy-decoding stroke accuracy under teacher forcing.

    `accuracy` is the fraction of examples whose every supervised token (the class name and its
    `<|im_end|>`; labels != -100, predicted from the previous position) is the argmax: exactly
    the examples greedy decoding would answer with the right class name and then stop. A wrong
    answer token, a missing stop or a different-class prefix counts the example wrong.
    `token_accuracy` is the fraction of supervised tokens predicted right. Needs
    `preprocess_logits_for_metrics` (predictions aligned with labels) and labels in the eval batches.
    """
    predictions, labels = eval_pred.predictions, eval_pred.label_ids
    if labels is None:
        raise ValueError("Evaluation produced no labels; the eval collator must return `labels`.")
    if isinstance(predictions, tuple | list):
        predictions = predictions[0]
    return answer_accuracy(predictions, labels)
