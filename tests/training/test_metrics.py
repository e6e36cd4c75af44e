"""Stroke accuracy during evaluation: exact match of the answer, from the one eval forward pass."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor
from trl import SFTConfig

from shuttlesense.data.loading import load_split
from shuttlesense.training.collator import IGNORE_INDEX, VideoSFTCollator
from shuttlesense.training.config import VideoModelConfig, VideoScriptArguments
from shuttlesense.training.metrics import answer_exact_match
from shuttlesense.training.trainer import build_trainer


def test_an_answer_counts_only_when_every_supervised_token_is_top1() -> None:
    is_top1 = torch.tensor([[0, 1, 1, 0], [0, 1, 0, 1], [1, 1, 1, 1], [0, 0, 0, 0]])
    label_mask = torch.tensor([[0, 1, 1, 0], [0, 1, 1, 1], [0, 0, 0, 0], [0, 0, 1, 1]])
    # right; one of three answer tokens wrong; no answer (left out); both wrong
    assert answer_exact_match(is_top1, label_mask).tolist() == [1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="differ in shape"):
        answer_exact_match(is_top1, label_mask[:, :3])


class _OneRightCollator:
    """Our collator, except that the first clip's answer labels become what the model predicts:
    that clip must count as right, the others (a random model) as wrong. Labels are only targets,
    so changing them leaves the predictions as they were."""

    def __init__(self, collator: VideoSFTCollator, model_dir: Path, right_id: str) -> None:
        self.collator, self.right_id = collator, right_id
        self.model = AutoModelForImageTextToText.from_pretrained(model_dir).eval()

    def __call__(self, rows: list[dict]) -> dict:
        batch = self.collator(rows)
        for i, row in enumerate(rows):
            if row["id"] == self.right_id:
                with torch.no_grad():
                    logits = self.model(**{k: v for k, v in batch.items() if k != "labels"}).logits
                labels = batch["labels"][i, 1:]
                supervised = labels != IGNORE_INDEX
                labels[supervised] = logits[i, :-1].argmax(-1)[supervised]
        return batch


@pytest.fixture(scope="module")
def evaluated(tiny_model_dirs, prepared_dataset: Path, tmp_path_factory) -> tuple:
    """The training entry's trainer (`build_trainer`) evaluating 3 validation clips in batches of 2."""
    model_dir = tiny_model_dirs["qwen2_5_vl"]
    processor = AutoProcessor.from_pretrained(model_dir)
    rows = load_split(str(prepared_dataset), "validation").select(range(3))
    script_args = VideoScriptArguments(dataset_name=str(prepared_dataset), num_frames=4, max_pixels=112 * 84)
    script_args.language = "en"
    args = SFTConfig(
        output_dir=str(tmp_path_factory.mktemp("eval")),
        per_device_eval_batch_size=2,
        report_to="none",
        use_cpu=True,
        bf16=False,
    )
    model_args = VideoModelConfig(model_name_or_path=str(model_dir), lora_r=4)
    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    trainer = build_trainer(model, processor, rows, rows, script_args, args, model_args)
    trainer.data_collator = _OneRightCollator(trainer.data_collator, model_dir, rows[0]["id"])
    forwards = []
    trainer.model.register_forward_hook(lambda *_: forwards.append(1))
    metrics = trainer.evaluate()
    return trainer.data_collator, rows, metrics, len(forwards)


def test_evaluation_runs_one_forward_per_batch(evaluated) -> None:
    _, _, metrics, forwards = evaluated
    assert forwards == 2, "3 clips in batches of 2: two forwards, no second pass for logits"
    assert math.isfinite(metrics["eval_loss"]) and 0.0 <= metrics["eval_accuracy"] <= 1.0


def test_eval_accuracy_is_greedy_decoding_exact_match(evaluated) -> None:
    """The same per-clip verdict as the slow way: full logits, argmax, compare every answer token."""
    collator, rows, metrics, _ = evaluated
    model = collator.model
    verdicts = []
    for start in (0, 2):
        batch = collator([rows[i] for i in range(start, min(start + 2, len(rows)))])
        with torch.no_grad():
            logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
        predicted, labels = logits[:, :-1].argmax(-1), batch["labels"][:, 1:]
        supervised = labels != IGNORE_INDEX
        verdicts += ((predicted == labels) | ~supervised).all(dim=1).float().tolist()
    assert verdicts[0] == 1.0 and metrics["eval_accuracy"] == pytest.approx(sum(verdicts) / len(verdicts))
    assert 0 < metrics["eval_accuracy"] < 1
