"""Configuration of `recipes/sft_lora.py`: TRL's dataclasses with the fields and defaults we need.

Parsed with `TrlParser((VideoScriptArguments, SFTConfig, VideoModelConfig))`, so a YAML recipe
(`--config`) sets values and command-line flags override them, and `--help` lists every field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import ModelConfig, ScriptArguments

from shuttlesense import labels
from shuttlesense.data.loading import FrameSampling

LORA_SCOPES = ("language", "language+vision", "all")


@dataclass
class ClipLoadingArguments:
    """How training reads clips, shared by the Qwen-VL and VideoMAE recipes."""

    clip_cache_size: int = field(
        default=0,
        metadata={
            "help": "Keep this many decoded clips in memory (per data-loader worker) instead of decoding them "
            "every epoch. Worth it for small datasets and CPU runs; 0 turns it off."
        },
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Use only the first N training clips (quick runs, smoke tests)."}
    )
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Use only the first N evaluation clips."}
    )


@dataclass
class VideoScriptArguments(FrameSampling, ClipLoadingArguments, ScriptArguments):
    """Dataset, prompt and frame-sampling options; it is itself the `FrameSampling` the data module reads."""

    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "A `shuttlesense prepare` output folder, a save_to_disk folder or a Hub dataset id."
        },
    )
    dataset_test_split: str = field(
        default="validation", metadata={"help": "Split evaluated during training (classification accuracy)."}
    )
    language: str = field(
        default="zh",
        metadata={
            "help": "Language of the prompt and the answer (class name).",
            "choices": list(labels.LANGUAGES),
        },
    )
    merge: bool = field(
        default=False,
        metadata={
            "help": "After training, also save the base model with the adapter merged in, under output_dir/merged."
        },
    )


@dataclass
class VideoModelConfig(ModelConfig):
    """TRL's ModelConfig with the LoRA defaults of the original ShuttleSense recipe (r 64, alpha 16, dropout 0.1)."""

    use_peft: bool = field(default=True, metadata={"help": "Train a LoRA adapter (False: full fine-tuning)."})
    lora_r: int = field(default=64, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha (scaling = alpha / r)."})
    lora_dropout: float = field(default=0.1, metadata={"help": "LoRA dropout."})
    lora_scope: str = field(
        default="language",
        metadata={
            "help": "Which modules get LoRA when lora_target_modules is not given: the language model's "
            "projections only (language), also the vision tower and merger (language+vision), or every "
            "linear layer (all).",
            "choices": list(LORA_SCOPES),
        },
    )
