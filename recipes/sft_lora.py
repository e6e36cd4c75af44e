"""LoRA fine-tuning of a Qwen-VL model on VideoBadminton clips (TRL SFTTrainer + PEFT).

    accelerate launch --config_file accelerate_configs/zero2.yaml recipes/sft_lora.py \
        --config recipes/qwen2_5_vl_3b/sft_lora.yaml [--learning_rate 5e-5 ...]

A YAML recipe sets the options, command-line flags override it; `--help` lists them all.
Interrupted runs resume from the last checkpoint in output_dir.
"""

from __future__ import annotations

from transformers import set_seed
from trl import SFTConfig, TrlParser

from shuttlesense.training.checkpoints import get_last_checkpoint
from shuttlesense.training.config import VideoModelConfig, VideoScriptArguments
from shuttlesense.training.model_utils import get_datasets, get_model, get_processor
from shuttlesense.training.trainer import (
    build_trainer,
    default_to_gloo_on_cpu,
    finish_run,
    logger,
    setup_logging,
    train_and_evaluate,
)


def main(script_args: VideoScriptArguments, training_args: SFTConfig, model_args: VideoModelConfig) -> None:
    set_seed(training_args.seed)
    setup_logging(training_args)
    last_checkpoint = training_args.resume_from_checkpoint or get_last_checkpoint(training_args.output_dir)

    train_dataset, eval_dataset = get_datasets(script_args, with_eval=training_args.eval_strategy != "no")
    logger.info(
        "Data: %d train clips, %s eval clips", len(train_dataset), len(eval_dataset) if eval_dataset else 0
    )
    processor = get_processor(model_args)
    model = get_model(model_args)
    trainer = build_trainer(
        model, processor, train_dataset, eval_dataset, script_args, training_args, model_args
    )

    metrics = train_and_evaluate(
        trainer, training_args.output_dir, last_checkpoint, evaluate=eval_dataset is not None
    )
    finish_run(trainer, processor, script_args, training_args, model_args, metrics)


if __name__ == "__main__":
    parser = default_to_gloo_on_cpu(TrlParser((VideoScriptArguments, SFTConfig, VideoModelConfig)))
    main(*parser.parse_args_and_config())
