"""What a trained model was trained with, read from the `training_config.json` beside it.

A model answers well only with its training prompt language, frame sampling and class names, so
the recogniser defaults to them. `recipes/sft_lora.py` writes the file; a model without one (a base
model, an adapter from the original ShuttleSense scripts) gets the defaults and the current names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shuttlesense import labels
from shuttlesense.paths import looks_local

DEFAULT_LANGUAGE, DEFAULT_NUM_FRAMES, DEFAULT_MAX_PIXELS = "zh", 16, 448 * 448
"""Used when neither the caller nor the model's training_config.json says otherwise."""
_TRAINED_KEYS = ("language", "num_frames", "fps", "min_frames", "max_frames", "max_pixels")


def read_training_config(model_path: str) -> dict[str, Any] | None:
    """The model's `training_config.json` (local folder or Hub repo), or None if it has none."""
    path = Path(model_path).expanduser() / "training_config.json"
    if not path.is_file() and not looks_local(model_path) and not Path(model_path).expanduser().exists():
        try:
            from huggingface_hub import hf_hub_download

            path = Path(hf_hub_download(model_path, "training_config.json"))
        except Exception:  # no such file in the repo, or the Hub unreachable: defaults apply
            return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def trained_settings(record: dict[str, Any] | None) -> dict[str, Any]:
    """Prompt language and frame sampling from a training record ({} without one)."""
    script = (record or {}).get("script", {})
    return {key: script[key] for key in _TRAINED_KEYS if script.get(key) is not None}


def trained_class_names(record: dict[str, Any] | None, language: str, source: str = "model") -> list[str]:
    """The 18 answers the model was trained to give in `language`, in class-id order.

    Training records its table (`class_names`, per language). A record without one comes from
    before the original ShuttleSense table was adopted: its Chinese answers are
    `labels.LEGACY_CLASS_NAMES_ZH`. No record (a base model, an adapter from the original scripts):
    the current table.
    """
    if record is None:
        return labels.class_names(language)
    recorded = (record.get("class_names") or {}).get(language)
    if recorded is not None:
        return labels.check_name_table(recorded, f"{source}/training_config.json")
    if language == "zh":
        return list(labels.LEGACY_CLASS_NAMES_ZH)
    return labels.class_names(language)
