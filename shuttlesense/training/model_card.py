"""The README.md model card of a trained adapter, its training_config.json, and the Hub upload.

TRL drafts a generic card at each checkpoint; at the end of a run we replace it with one that
says what a user of this adapter needs: base model, dataset and split, hyper-parameters, the
evaluation numbers, and how to load it with `PeftModel.from_pretrained`.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from huggingface_hub import ModelCard, ModelCardData

HYPER_PARAMETERS = (
    "learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size",
    "gradient_accumulation_steps", "lr_scheduler_type", "warmup_steps", "weight_decay",
    "bf16", "fp16", "gradient_checkpointing", "seed",
)  # fmt: skip


def _json_safe(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return str(value)


def save_training_config(output_dir: str | Path, **configs: Any) -> Path:
    """Every option of the run (script, training, model) as JSON, beside the adapter."""
    content = {
        name: {
            k: _json_safe(v)
            for k, v in (asdict(cfg) if hasattr(cfg, "__dataclass_fields__") else cfg).items()
        }
        for name, cfg in configs.items()
    }
    path = Path(output_dir) / "training_config.json"
    path.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n")
    return path


def dataset_split_note(dataset: str) -> str:
    stats = Path(dataset) / "dataset_stats.json"
    if stats.is_file():
        split = json.loads(stats.read_text()).get("split", {})
        return f"{split.get('method', 'unknown')} split" + (
            f" (seed {split['seed']})" if split.get("seed") is not None else ""
        )
    return "split as published with the dataset"


def render_model_card(
    base_model: str,
    dataset: str,
    output_name: str,
    training_args: Any,
    script_args: Any,
    model_args: Any,
    metrics: dict[str, float],
    is_tiny_random_base: bool = False,
) -> ModelCard:
    """A model card with YAML metadata (base_model, library_name: peft, datasets, tags) and usage."""
    data = ModelCardData(
        base_model=base_model,
        library_name="peft",
        pipeline_tag="video-text-to-text",
        datasets=[dataset] if "/" in dataset and not Path(dataset).exists() else None,
        tags=["shuttlesense", "badminton", "lora", "sft", "trl", "video-classification"],
        license="other",
    )
    hp = "\n".join(
        f"| {k} | {getattr(training_args, k)} |" for k in HYPER_PARAMETERS if hasattr(training_args, k)
    )
    lora = (
        f"r {model_args.lora_r}, alpha {model_args.lora_alpha}, dropout {model_args.lora_dropout}, "
        f"scope `{model_args.lora_scope}`, targets `{model_args.lora_target_modules or 'by scope'}`, "
        f"modules_to_save `{model_args.lora_modules_to_save}`"
    )
    results = "\n".join(
        f"| {k} | {v:.4f} |" for k, v in sorted(metrics.items()) if isinstance(v, int | float)
    )
    warning = (
        "\n> **This adapter was trained on a tiny, randomly initialised base model and synthetic clips "
        "(ShuttleSense's offline demo). It recognises nothing real.**\n"
        if is_tiny_random_base
        else ""
    )
    content = f"""---
{data.to_yaml()}
---

# {output_name}
{warning}
A LoRA adapter for `{base_model}` that names the badminton stroke in a short clip (one of the
18 VideoBadminton classes), trained with ShuttleSense (`recipes/sft_lora.py`,
TRL `SFTTrainer` + PEFT).

- Dataset: `{dataset}`, {dataset_split_note(dataset)}; train split `{script_args.dataset_train_split}`,
  evaluated on `{script_args.dataset_test_split}`.
- Prompt language: `{script_args.language}`; frames: {script_args.num_frames} (fps {script_args.fps}),
  pixel budget {script_args.max_pixels} per frame.
- LoRA: {lora}.

## Evaluation ({script_args.dataset_test_split})

`accuracy` is the share of clips whose full class name greedy decoding would produce
(teacher-forced argmax on every answer token).

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
from peft import PeftModel
from transformers import AutoModelForImageTextToText, AutoProcessor

base = AutoModelForImageTextToText.from_pretrained("{base_model}")
model = PeftModel.from_pretrained(base, "<this repo or folder>")
processor = AutoProcessor.from_pretrained("<this repo or folder>")
```
"""
    return ModelCard(content)


def push_output_dir(
    output_dir: str | Path,
    repo_id: str,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload ShuttleSense LoRA adapter",
) -> str:
    """Upload a run's output folder (without intermediate checkpoints) to a Hub model repo."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    url = api.create_repo(repo_id, private=private, exist_ok=True)
    api.upload_folder(
        folder_path=str(output_dir),
        repo_id=repo_id,
        ignore_patterns=["checkpoint-*", "checkpoint-*/**", "runs/**"],
        commit_message=commit_message,
    )
    return str(url)
