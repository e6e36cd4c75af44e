"""Full fine-tuning of a VideoMAE video classifier on VideoBadminton clips (transformers Trainer).

    accelerate launch --config_file accelerate_configs/single_gpu.yaml recipes/videomae.py \
        --config recipes/videomae_base/videomae.yaml [--learning_rate 1e-4 ...]

The same prepared dataset and data module as `recipes/sft_lora.py`; the model takes exactly its
`config.num_frames` frames per clip. A YAML recipe sets the options, command-line flags override
it; `--help` lists them all. Interrupted runs resume from the last checkpoint in output_dir.
"""

from __future__ import annotations

from transformers import TrainingArguments, set_seed

from shuttlesense.training.checkpoints import get_last_checkpoint
from shuttlesense.training.model_utils import get_datasets
from shuttlesense.training.trainer import setup_logging, train_and_evaluate
from shuttlesense.training.videomae import (
    VideoMAEModelArguments,
    VideoMAEScriptArguments,
    build_videomae_trainer,
    finish_videomae_run,
    get_image_processor,
    get_videomae_model,
    logger,
    make_parser,
)


def main(
    script_args: VideoMAEScriptArguments, training_args: TrainingArguments, model_args: VideoMAEModelArguments
) -> None:
    set_seed(training_args.seed)
    setup_logging(training_args)
    last_checkpoint = training_args.resume_from_checkpoint or get_last_checkpoint(training_args.output_dir)

    train_dataset, eval_dataset = get_datasets(script_args, with_eval=training_args.eval_strategy != "no")
    logger.info(
        "Data: %d train clips, %s eval clips", len(train_dataset), len(eval_dataset) if eval_dataset else 0
    )
    image_processor = get_image_processor(model_args)
    model = get_videomae_model(model_args)
    trainer = build_videomae_trainer(
        model, image_processor, train_dataset, eval_dataset, script_args, training_args
    )

    metrics = train_and_evaluate(
        trainer, training_args.output_dir, last_checkpoint, evaluate=eval_dataset is not None
    )
    finish_videomae_run(trainer, image_processor, script_args, training_args, model_args, metrics)


if __name__ == "__main__":
    main(*make_parser().parse_args_and_config())
