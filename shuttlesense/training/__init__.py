"""Training: LoRA fine-tuning of Qwen-VL with TRL's SFTTrainer, and VideoMAE with the Trainer.

The thin entry scripts (`recipes/sft_lora.py`, `recipes/videomae.py`) call these steps in order:
`config` (the recipe dataclasses), `checkpoints` (resume from the newest complete one),
`model_utils` (the `get_*` helpers), `collator` (answer-only labels), `metrics` (eval accuracy),
`trainer` (build, train, save, card, push), `model_card`, `merge`; `videomae` holds the VideoMAE
side. Depends on `data` and `inference`.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "collator": ["VideoSFTCollator"],
        "config": ["ClipLoadingArguments", "VideoModelConfig", "VideoScriptArguments"],
        "merge": ["merge_adapter"],
        "checkpoints": ["get_last_checkpoint"],
        "model_utils": ["get_datasets", "get_model", "get_peft_config", "get_processor"],
        "trainer": ["build_trainer", "train_and_evaluate"],
    },
)
