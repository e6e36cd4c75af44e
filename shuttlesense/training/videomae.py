"""Steps of a VideoMAE fine-tuning run, called in order by `recipes/videomae.py`; kept here so the recipe stays thin.

The run reads the same prepared dataset through the same data module (`load_split`, `load_clip`)
as the Qwen-VL recipe, fine-tunes a `VideoMAEForVideoClassification` in full with the plain
`transformers.Trainer`, and reports top-1 and mean class accuracy (the two numbers of the
VideoBadminton benchmark). A checkpoint trained on other labels (Kinetics) gets a fresh 18-class
head; one that already classifies our 18 strokes keeps its head, in whatever order it lists them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from huggingface_hub import ModelCard, ModelCardData
from transformers import (
    AutoImageProcessor,
    AutoModelForVideoClassification,
    PreTrainedModel,
    Trainer,
    TrainingArguments,
)
from trl import TrlParser

from shuttlesense import labels
from shuttlesense.data.loading import ClipCache, FixedFrameSampling, FrameSampling
from shuttlesense.data.video_io import DecodedClip
from shuttlesense.inference.model_source import MARKER as TINY_MARKER
from shuttlesense.inference.model_source import is_tiny_model_dir
from shuttlesense.inference.videomae import (
    check_video_classifier,
    class_ids_of,
    default_max_pixels,
    resolve_model_path,
)
from shuttlesense.training.config import ClipLoadingArguments
from shuttlesense.training.model_card import (
    HYPER_PARAMETERS,
    dataset_split_note,
    push_output_dir,
    save_training_config,
)
from shuttlesense.training.trainer import default_to_gloo_on_cpu

logger = logging.getLogger(__name__)

DTYPES = ("float32", "bfloat16", "float16", "auto")


@dataclass
class VideoMAEScriptArguments(ClipLoadingArguments):
    """Dataset and frame options of a VideoMAE run (the frame count itself comes from the model)."""

    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "A `shuttlesense prepare` output folder, a save_to_disk folder or a Hub dataset id."
        },
    )
    dataset_train_split: str = field(default="train", metadata={"help": "Split to train on."})
    dataset_test_split: str = field(
        default="validation",
        metadata={"help": "Split evaluated during and after training (accuracy, mean class accuracy)."},
    )
    num_frames: int | None = field(
        default=None,
        metadata={
            "help": "Frames per clip, sampled uniformly. Leave unset: VideoMAE takes exactly its "
            "config.num_frames (16 for videomae-base), and any other value is refused."
        },
    )
    max_pixels: int | None = field(
        default=None,
        metadata={
            "help": "Pixel budget per frame at decode time (frames are scaled in the decoder, then the image "
            "processor resizes and crops). Unset: twice the square of the processor's side (100352 for 224), "
            "the rule VideoMAEActionRecognizer uses too."
        },
    )


@dataclass
class VideoMAEModelArguments:
    """Which checkpoint to fine-tune and how to load it."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "A VideoMAE checkpoint: a Hub id (MCG-NJU/videomae-base-finetuned-kinetics) or a local "
            "folder (`shuttlesense tiny-model --family videomae`). Its head is replaced by an 18-class one "
            "unless it already classifies the 18 strokes."
        },
    )
    model_revision: str = field(
        default="main", metadata={"help": "Branch, tag or commit of a Hub checkpoint."}
    )
    dtype: str = field(
        default="float32",
        metadata={
            "help": "dtype the weights are loaded in. Keep float32 for full fine-tuning and let --bf16/--fp16 "
            "(mixed precision) decide the compute: fp16 weights cannot be trained with the fp16 grad scaler.",
            "choices": list(DTYPES),
        },
    )
    attn_implementation: str | None = field(
        default=None,
        metadata={
            "help": "Attention kernel: sdpa (default when unset) or eager.",
            "choices": ["sdpa", "eager"],
        },
    )


def make_parser() -> TrlParser:
    """`TrlParser` over (script, training, model) arguments: YAML via `--config`, CLI flags override it."""
    return default_to_gloo_on_cpu(
        TrlParser((VideoMAEScriptArguments, TrainingArguments, VideoMAEModelArguments))
    )


def get_image_processor(model_args: VideoMAEModelArguments) -> Any:
    """The checkpoint's own image processor (resize, centre crop, normalisation)."""
    return AutoImageProcessor.from_pretrained(
        resolve_model_path(model_args.model_name_or_path), revision=model_args.model_revision
    )


def _reset_head(model: PreTrainedModel) -> None:
    """Re-initialise an 18-way head that was trained on other labels (same shape, so not replaced on load)."""
    head = model.classifier
    std = getattr(model.config, "initializer_range", 0.02)
    with torch.no_grad():
        head.weight.normal_(mean=0.0, std=std)
        if head.bias is not None:
            head.bias.zero_()


def get_videomae_model(model_args: VideoMAEModelArguments) -> PreTrainedModel:
    """Load the checkpoint as an 18-stroke classifier: keep a head that already is one, else a fresh head."""
    if not model_args.model_name_or_path:
        raise ValueError("Set model_name_or_path (a VideoMAE Hub id or a local model folder).")
    path = resolve_model_path(model_args.model_name_or_path)
    config = check_video_classifier(path, model_args.model_revision)
    kwargs: dict[str, Any] = {"revision": model_args.model_revision}
    if model_args.dtype != "auto":
        kwargs["dtype"] = getattr(torch, model_args.dtype)
    if model_args.attn_implementation:
        kwargs["attn_implementation"] = model_args.attn_implementation
    if class_ids_of(config.id2label) is not None:
        logger.info("%s already classifies the 18 strokes: keeping its head.", path)
        return AutoModelForVideoClassification.from_pretrained(path, **kwargs)
    old_labels = len(config.id2label)
    logger.info("%s has %d other labels: replacing its head with the 18 stroke classes.", path, old_labels)
    model = AutoModelForVideoClassification.from_pretrained(
        path,
        num_labels=labels.NUM_CLASSES,
        id2label=dict(enumerate(labels.CLASS_NAMES_EN)),
        label2id={name: i for i, name in enumerate(labels.CLASS_NAMES_EN)},
        ignore_mismatched_sizes=True,
        **kwargs,
    )
    if old_labels == labels.NUM_CLASSES:
        _reset_head(model)
    return model


@dataclass
class VideoClassificationCollator:
    """Decode each row's clip, run the image processor, and give the label as the model's output index.

    A corrupt clip stops training with an error naming its row id. Labels are mapped through
    `class_to_index` so a head that lists the strokes in another order trains correctly.
    """

    image_processor: Any = field(repr=False)
    sampling: FrameSampling
    class_to_index: list[int]
    cache_size: int = 0  # decoded clips kept in memory, by clip id (0: decode every time)
    _cache: ClipCache | None = field(default=None, init=False, repr=False)

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if not rows:
            raise ValueError("VideoClassificationCollator got an empty batch.")
        clips = [self._decode(row) for row in rows]
        batch = self.image_processor([clip.frames for clip in clips], return_tensors="pt")
        targets = [self.class_to_index[int(row["label"])] for row in rows]
        return {"pixel_values": batch["pixel_values"], "labels": torch.tensor(targets, dtype=torch.long)}

    def _decode(self, row: dict[str, Any]) -> DecodedClip:
        """Decode one clip (or reuse it from the LRU cache); a corrupt one stops training with its id."""
        if self._cache is None:
            self._cache = ClipCache(self.sampling, self.cache_size)
        return self._cache.get(row)


def get_collator(
    model: PreTrainedModel, image_processor: Any, script_args: VideoMAEScriptArguments
) -> VideoClassificationCollator:
    """The collator for `model`: its frame count, the decode budget and its label order."""
    num_frames = int(model.config.num_frames)
    if script_args.num_frames not in (None, num_frames):
        raise ValueError(
            f"num_frames={script_args.num_frames}, but the model takes exactly {num_frames} frames "
            "(config.num_frames); leave num_frames unset."
        )
    max_pixels = script_args.max_pixels or default_max_pixels(image_processor)
    class_ids = class_ids_of(model.config.id2label)
    if class_ids is None:
        raise ValueError("The model's labels are not the 18 stroke classes; load it with get_videomae_model.")
    logger.info("Frames: %d per clip, decoded within %d pixels.", num_frames, max_pixels)
    return VideoClassificationCollator(
        image_processor,
        FixedFrameSampling(num_frames=num_frames, max_pixels=max_pixels),
        class_to_index=np.argsort(class_ids).tolist(),
        cache_size=script_args.clip_cache_size,
    )


def classification_metrics(predictions: np.ndarray, references: np.ndarray) -> dict[str, float]:
    """Top-1 accuracy and mean class accuracy (mean per-class recall over the classes present)."""
    predictions, references = np.asarray(predictions), np.asarray(references)
    if len(references) == 0:
        return {"accuracy": float("nan"), "mean_class_accuracy": float("nan")}
    correct = predictions == references
    per_class = [correct[references == c].mean() for c in np.unique(references)]
    return {"accuracy": float(correct.mean()), "mean_class_accuracy": float(np.mean(per_class))}


def compute_classification_metrics(eval_pred: Any) -> dict[str, float]:
    """`compute_metrics` for the Trainer: argmax of the logits against the labels."""
    logits = eval_pred.predictions
    if isinstance(logits, tuple | list):
        logits = logits[0]
    if eval_pred.label_ids is None:
        raise ValueError("Evaluation produced no labels; the eval collator must return `labels`.")
    return classification_metrics(np.asarray(logits).argmax(axis=-1), eval_pred.label_ids)


def build_videomae_trainer(
    model: PreTrainedModel,
    image_processor: Any,
    train_dataset: Any,
    eval_dataset: Any,
    script_args: VideoMAEScriptArguments,
    training_args: TrainingArguments,
) -> Trainer:
    """A plain `Trainer`: our collator needs the raw `video`/`id` columns, so they are not dropped."""
    training_args.remove_unused_columns = False
    training_args.label_names = ["labels"]
    return Trainer(
        model=model,
        args=training_args,
        data_collator=get_collator(model, image_processor, script_args),
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=image_processor,
        compute_metrics=compute_classification_metrics if eval_dataset is not None else None,
    )


def is_toy(model: PreTrainedModel, model_args: VideoMAEModelArguments) -> bool:
    """True if the base was a tiny random model from `shuttlesense tiny-model`."""
    path = Path(model_args.model_name_or_path or "").expanduser()
    return bool(getattr(model.config, TINY_MARKER, False)) or is_tiny_model_dir(path)


def render_videomae_card(
    base_model: str,
    dataset: str,
    output_name: str,
    training_args: TrainingArguments,
    script_args: VideoMAEScriptArguments,
    num_frames: int,
    max_pixels: int,
    metrics: dict[str, float],
    toy: bool = False,
) -> ModelCard:
    """A model card with YAML metadata (base_model, library_name, datasets, tags), results and usage."""
    tags = ["shuttlesense", "badminton", "videomae", "video-classification"]
    if toy:
        tags += [TINY_MARKER.replace("_", "-"), "random-weights", "toy"]
    data = ModelCardData(
        base_model=base_model if not Path(base_model).exists() else None,
        library_name="transformers",
        pipeline_tag="video-classification",
        datasets=[dataset] if "/" in dataset and not Path(dataset).exists() else None,
        tags=tags,
        license="other",
    )
    hp = "\n".join(
        f"| {k} | {getattr(getattr(training_args, k), 'value', getattr(training_args, k))} |"
        for k in HYPER_PARAMETERS
        if hasattr(training_args, k)
    )
    results = "\n".join(
        f"| {k} | {v:.4f} |"
        for k, v in sorted(metrics.items())
        if isinstance(v, int | float) and ("accuracy" in k or "loss" in k)
    )
    warning = (
        "\n> **This is a toy.** It was fine-tuned from a tiny, randomly initialised VideoMAE built offline by "
        "`shuttlesense tiny-model` (tests and the CPU demo), typically on synthetic clips. It recognises "
        "nothing real: never use its predictions or numbers.\n"
        if toy
        else ""
    )
    content = f"""---
{data.to_yaml()}
---

# {output_name}
{warning}
A VideoMAE video classifier fine-tuned from `{base_model}` to name the badminton stroke in a short
clip (one of the 18 VideoBadminton classes), trained with ShuttleSense (`recipes/videomae.py`,
transformers `Trainer`, full fine-tuning).

- Dataset: `{dataset}`, {dataset_split_note(dataset)}; trained on split `{script_args.dataset_train_split}`,
  evaluated on `{script_args.dataset_test_split}`.
- Frames: {num_frames} per clip, sampled uniformly over the clip, decoded within {max_pixels} pixels per
  frame, then this folder's image processor (resize, centre crop, normalise).
- Labels: `config.id2label` holds the 18 class names (`VideoMAEActionRecognizer` matches them by name).

## Evaluation ({script_args.dataset_test_split})

`accuracy` is top-1 accuracy over clips; `mean_class_accuracy` is the mean of per-class accuracies
(the two numbers the VideoBadminton benchmark reports).

| metric | value |
|---|---|
{results}

## Training hyper-parameters

| parameter | value |
|---|---|
{hp}

All options are in `training_config.json`.

## Use

```python
from shuttlesense.inference.videomae import VideoMAEActionRecognizer

recognizer = VideoMAEActionRecognizer("<this repo or folder>", max_pixels={max_pixels})  # as in training
print(recognizer.recognize_action("clip.mp4")["predicted_action"])
```

or with transformers alone ({num_frames} RGB frames of one clip, uint8 (T, H, W, 3)):

```python
from transformers import AutoImageProcessor, AutoModelForVideoClassification

model = AutoModelForVideoClassification.from_pretrained("<this repo or folder>")
processor = AutoImageProcessor.from_pretrained("<this repo or folder>")
logits = model(**processor([frames], return_tensors="pt")).logits
print(model.config.id2label[int(logits.argmax())])
```
"""
    return ModelCard(content)


def finish_videomae_run(
    trainer: Trainer,
    image_processor: Any,
    script_args: VideoMAEScriptArguments,
    training_args: TrainingArguments,
    model_args: VideoMAEModelArguments,
    metrics: dict[str, float],
) -> None:
    """Save processor, training_config.json and model card (main process), push if asked."""
    if not trainer.accelerator.is_main_process:
        return
    output_dir = Path(training_args.output_dir)
    image_processor.save_pretrained(output_dir)
    save_training_config(output_dir, script=script_args, training=training_args.to_dict(), model=model_args)
    collator = trainer.data_collator
    card = render_videomae_card(
        base_model=model_args.model_name_or_path,
        dataset=script_args.dataset_name,
        output_name=training_args.hub_model_id or output_dir.name,
        training_args=training_args,
        script_args=script_args,
        num_frames=collator.sampling.num_frames,
        max_pixels=collator.sampling.max_pixels,
        metrics=metrics,
        toy=is_toy(trainer.model, model_args),
    )
    card.save(output_dir / "README.md")
    logger.info("Model, image processor, training_config.json and README.md saved to %s", output_dir)
    if training_args.push_to_hub:
        if not training_args.hub_model_id:
            raise ValueError("push_to_hub needs hub_model_id (user/name).")
        url = push_output_dir(
            output_dir,
            training_args.hub_model_id,
            training_args.hub_private_repo,
            training_args.hub_token,
            commit_message="Upload ShuttleSense VideoMAE stroke classifier",
        )
        logger.info("Pushed to %s", url)
