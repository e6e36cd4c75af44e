"""Merge a LoRA adapter into its base model and save a standalone model (for serving without PEFT)."""

from __future__ import annotations

from pathlib import Path

from peft import PeftConfig, PeftModel
from transformers import AutoModelForImageTextToText, AutoProcessor


def merge_adapter(adapter_dir: str | Path, output_dir: str | Path, base_model: str | None = None) -> Path:
    """Load base + adapter on CPU in the checkpoint dtype, merge the LoRA weights, save model + processor."""
    adapter_dir, output_dir = str(adapter_dir), Path(output_dir)
    base_name = base_model or PeftConfig.from_pretrained(adapter_dir).base_model_name_or_path
    base = AutoModelForImageTextToText.from_pretrained(base_name, dtype="auto")
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    merged.save_pretrained(output_dir)
    AutoProcessor.from_pretrained(adapter_dir).save_pretrained(output_dir)
    return output_dir
