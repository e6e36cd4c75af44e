"""Answer accuracy from teacher-forced logits: shift, masking, -100 padding across eval batches."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn
from transformers import AutoModelForImageTextToText, AutoProcessor, Trainer, TrainingArguments
from transformers.trainer_pt_utils import nested_concat

from shuttlesense.data.loading import FrameSampling, load_split
from shuttlesense.synthetic.tiny_models import build_tiny_model
from shuttlesense.training.collator import IGNORE_INDEX, VideoSFTCollator
from shuttlesense.training.metrics import (
    answer_accuracy,
    compute_answer_accuracy,
    preprocess_logits_for_metrics,
)

X = IGNORE_INDEX
VOCAB = 10


def _logits_predicting(next_tokens: list[list[int]]) -> torch.Tensor:
    """Logits whose argmax at position t is next_tokens[b][t] (the prediction for token t + 1)."""
    return nn.functional.one_hot(torch.tensor(next_tokens), VOCAB).float() * 5 - 1


def _eval_pred(predictions, labels) -> SimpleNamespace:
    return SimpleNamespace(predictions=predictions, label_ids=labels)


def test_predictions_are_shifted_to_line_up_with_labels() -> None:
    logits = _logits_predicting([[3, 1, 4, 2]])
    labels = torch.tensor([[X, 3, 1, 4]])
    predictions = preprocess_logits_for_metrics(logits, labels)
    assert predictions.tolist() == [[X, 3, 1, 4]]
    # Models that return (logits, rope_deltas, ...) get their logits picked out.
    assert preprocess_logits_for_metrics((logits, torch.zeros(1)), labels).tolist() == [[X, 3, 1, 4]]


def test_hand_computed_accuracy_with_one_wrong_token_in_a_multi_token_answer() -> None:
    # Supervised spans: row 0 = 2 tokens (both right), row 1 = 3 tokens (middle one wrong),
    # row 2 = 1 token (right). Unsupervised positions disagree freely and must not matter.
    labels = np.array([[X, X, 5, 9, X], [X, 6, 7, 9, X], [X, X, X, 9, X]])
    predictions = np.array([[1, 2, 5, 9, 0], [X, 6, 8, 9, 3], [4, 4, 4, 9, 4]])
    metrics = compute_answer_accuracy(_eval_pred(predictions, labels))
    assert metrics["accuracy"] == pytest.approx(2 / 3)
    assert metrics["token_accuracy"] == pytest.approx(5 / 6)


def test_from_logits_to_accuracy_end_to_end() -> None:
    # Tokens: prompt 1 2, answer 7 8, end 9. Row 0 predicts everything; row 1 gets token 8 wrong.
    labels = torch.tensor([[X, X, 7, 8, 9], [X, X, 7, 8, 9]])
    logits = _logits_predicting([[0, 7, 8, 9, 0], [0, 7, 3, 9, 0]])
    predictions = preprocess_logits_for_metrics(logits, labels)
    metrics = compute_answer_accuracy(_eval_pred(predictions.numpy(), labels.numpy()))
    assert metrics == {"accuracy": 0.5, "token_accuracy": pytest.approx(5 / 6)}


def test_trainer_style_padding_across_batches_of_different_lengths() -> None:
    # Trainer concatenates eval batches with nested_concat(..., padding_index=-100).
    batch_a = (np.array([[X, 4, 9], [X, 4, 9]]), np.array([[X, 4, 9], [X, 5, 9]]))  # 1 of 2 right
    batch_b = (np.array([[X, X, 6, 7, 9]]), np.array([[X, X, 6, 7, 9]]))  # right, longer
    labels = nested_concat(batch_a[0], batch_b[0], padding_index=X)
    predictions = nested_concat(batch_a[1], batch_b[1], padding_index=X)
    assert labels.shape == (3, 5) and (labels[:2, 3:] == X).all()
    metrics = compute_answer_accuracy(_eval_pred(predictions, labels))
    assert metrics["accuracy"] == pytest.approx(2 / 3)
    assert metrics["token_accuracy"] == pytest.approx(6 / 7)


def test_degenerate_inputs() -> None:
    nothing = answer_accuracy(np.zeros((2, 3), dtype=int), np.full((2, 3), X))
    assert math.isnan(nothing["accuracy"]) and math.isnan(nothing["token_accuracy"])
    with pytest.raises(ValueError, match="preprocess_logits_for_metrics"):
        answer_accuracy(np.zeros((2, 3, VOCAB)), np.zeros((2, 3), dtype=int))
    with pytest.raises(ValueError, match="no labels"):
        compute_answer_accuracy(_eval_pred(np.zeros((1, 2)), None))


class _PeekingModel(nn.Module):
    """Predicts the next input token (an oracle), except where a row asks for one wrong prediction."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor, wrong_at: torch.Tensor) -> dict:
        next_tokens = torch.roll(input_ids, -1, dims=1)
        for row, position in enumerate(wrong_at.tolist()):
            if position >= 0:  # break the prediction *for* token `position`, made at position - 1
                next_tokens[row, position - 1] = (next_tokens[row, position - 1] + 1) % VOCAB
        logits = nn.functional.one_hot(next_tokens, VOCAB).float() + self.weight
        return {"loss": self.weight.sum() * 0, "logits": logits}


def _pad_collate(examples: list[dict]) -> dict[str, torch.Tensor]:
    width = max(len(e["input_ids"]) for e in examples)
    ids = [e["input_ids"] + [0] * (width - len(e["input_ids"])) for e in examples]
    labels = [e["labels"] + [X] * (width - len(e["labels"])) for e in examples]
    return {
        "input_ids": torch.tensor(ids),
        "labels": torch.tensor(labels),
        "wrong_at": torch.tensor([e["wrong_at"] for e in examples]),
    }


def test_real_trainer_evaluate_pads_batches_and_counts_examples(tmp_path: Path) -> None:
    # Batch size 2 over 3 examples of different lengths: the batches differ in width.
    examples = [
        {"input_ids": [1, 2, 5, 9], "labels": [X, X, 5, 9], "wrong_at": -1},  # right
        {"input_ids": [1, 2, 6, 7, 8, 9], "labels": [X, X, 6, 7, 8, 9], "wrong_at": 4},  # one of 4 wrong
        {"input_ids": [1, 2, 3, 4, 6, 7, 8, 9], "labels": [X, X, X, X, 6, 7, 8, 9], "wrong_at": -1},  # right
    ]
    args = TrainingArguments(
        output_dir=str(tmp_path), per_device_eval_batch_size=2, report_to="none", use_cpu=True
    )
    trainer = Trainer(
        model=_PeekingModel(),
        args=args,
        eval_dataset=examples,
        data_collator=_pad_collate,
        compute_metrics=compute_answer_accuracy,
        preprocess_logits_for_metrics=preprocess_logits_for_metrics,
    )
    metrics = trainer.evaluate()
    assert metrics["eval_accuracy"] == pytest.approx(2 / 3)
    assert metrics["eval_token_accuracy"] == pytest.approx(9 / 10)


def test_trainer_evaluate_with_the_video_collator(tmp_path: Path, prepared_dataset: Path) -> None:
    """Collator + metrics through a real Trainer on a tiny random Qwen2.5-VL (second_per_grid_ts)."""
    model_dir = build_tiny_model("qwen2_5_vl", tmp_path / "model")
    processor = AutoProcessor.from_pretrained(model_dir)
    rows = load_split(str(prepared_dataset), "validation").select(range(3))
    collator = VideoSFTCollator(processor, FrameSampling(num_frames=4, max_pixels=112 * 84), language="en")
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"),
        per_device_eval_batch_size=2,
        report_to="none",
        use_cpu=True,
        remove_unused_columns=False,
    )
    trainer = Trainer(
        model=AutoModelForImageTextToText.from_pretrained(model_dir),
        args=args,
        eval_dataset=rows,
        data_collator=collator,
        compute_metrics=compute_answer_accuracy,
        preprocess_logits_for_metrics=preprocess_logits_for_metrics,
    )
    metrics = trainer.evaluate()
    assert math.isfinite(metrics["eval_loss"])
    assert 0.0 <= metrics["eval_accuracy"] <= 1.0 and 0.0 <= metrics["eval_token_accuracy"] <= 1.0
