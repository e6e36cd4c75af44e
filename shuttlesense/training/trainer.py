"""Steps of a LoRA SFT run that the entry script calls in order; shared so recipes stay thin.

`recipes/sft_lora.py` reads: seed, logging, resume, data, processor, model, trainer, train,
save, evaluate, card, push. Everything a video SFT run needs beyond TRL's defaults lives here:
the settings TRL needs to leave our video rows alone, the collator, the accuracy metric.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import datasets
import torch
import transformers
from transformers import HfArgumentParser
from trl import SFTConfig, SFTTrainer

from shuttlesense import labels
from shuttlesense.inference.model_source import MARKER as TINY_MARKER
from shuttlesense.training.collator import VideoSFTCollator
from shuttlesense.training.config import VideoModelConfig, VideoScriptArguments
from shuttlesense.training.metrics import answer_exact_match
from shuttlesense.training.model_card import push_output_dir, render_model_card, save_training_config
from shuttlesense.training.model_utils import (
    align_vision_input_grads,
    count_trainable,
    get_peft_config,
    upcast_trainable_parameters,
)

logger = logging.getLogger(__name__)


def default_to_gloo_on_cpu(parser: HfArgumentParser) -> HfArgumentParser:
    """Make gloo the default backend for multi-process runs on a machine without a GPU.

    Under `accelerate launch` + DeepSpeed on CPU, accelerate leaves the backend unset and then
    counts one process while DeepSpeed counts all of them ("train_batch_size is not equal to ...").
    A parser default, so a recipe or `--ddp_backend` still wins; it must be set before parsing
    because the training arguments fix their device setup as soon as they are built.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available():
        parser.set_defaults(ddp_backend="gloo")
    return parser


def setup_logging(training_args: SFTConfig) -> None:
    """One log format for our, transformers' and datasets' messages; quieter on non-main ranks."""
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[logging.StreamHandler(sys.stdout)],
        level=logging.INFO,
    )
    level = training_args.get_process_log_level()
    logging.getLogger("shuttlesense").setLevel(logging.INFO if training_args.should_log else logging.WARNING)
    datasets.utils.logging.set_verbosity(level)
    transformers.utils.logging.set_verbosity(level)


def video_sft_config(training_args: SFTConfig) -> SFTConfig:
    """Force the settings a video run needs: TRL must not tokenise, drop or truncate our rows.

    TRL only recognises `image(s)` columns as vision data, so we skip its dataset preparation,
    keep the raw columns for our collator, and name the label column for PEFT-wrapped models.
    """
    training_args.dataset_kwargs = {**(training_args.dataset_kwargs or {}), "skip_prepare_dataset": True}
    training_args.remove_unused_columns = False
    training_args.label_names = ["labels"]
    if training_args.gradient_checkpointing:
        training_args.gradient_checkpointing_kwargs = training_args.gradient_checkpointing_kwargs or {
            "use_reentrant": False
        }
    return training_args


class VideoSFTTrainer(SFTTrainer):
    """SFTTrainer that reports stroke accuracy (`eval_accuracy`) from the evaluation forward itself.

    The eval loss already runs the clip through the model; its fused outputs say which answer
    tokens were the top-1 prediction (`shuttlesense.training.metrics`), so no second forward.
    """

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if model.training:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        seen: list = []
        handle = model.register_forward_hook(lambda _module, _args, output: seen.append(output))
        try:
            result = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        finally:
            handle.remove()
        fused = seen[0] if seen else None
        if getattr(fused, "is_top1", None) is not None:
            right = self.accelerator.gather_for_metrics(answer_exact_match(fused.is_top1, fused.label_mask))
            self._metrics["eval"]["accuracy"].extend(right.tolist())
        return result


def build_trainer(
    model, processor, train_dataset, eval_dataset, script_args, training_args, model_args
) -> VideoSFTTrainer:
    """`VideoSFTTrainer` with our collator, LoRA config and classification accuracy on the eval split."""
    collator = VideoSFTCollator(
        processor,
        sampling=script_args,
        language=script_args.language,
        max_length=training_args.max_length,
        cache_size=script_args.clip_cache_size,
    )
    trainer = VideoSFTTrainer(
        model=model,
        args=video_sft_config(training_args),
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=processor,
        data_collator=collator,
        peft_config=get_peft_config(model_args),
    )
    if change := align_vision_input_grads(trainer.model):
        logger.info("Vision tower input-gradient hook %s to match what the LoRA scope trains.", change)
    if training_args.fp16 and (cast := upcast_trainable_parameters(trainer.model)):
        logger.info("fp16: %d trainable tensors (saved modules) upcast to fp32 for the GradScaler.", cast)
    trainable, total = count_trainable(trainer.model)
    logger.info(
        "Trainable parameters: %s of %s (%.2f%%)", f"{trainable:,}", f"{total:,}", 100 * trainable / total
    )
    return trainer


def train_and_evaluate(trainer, output_dir: str, resume_from: str | None, evaluate: bool) -> dict[str, float]:
    """Train (resuming if a checkpoint is given), save model and state, then evaluate if asked.

    The middle of every entry script (`sft_lora.py`, `videomae.py`): metrics are logged and saved
    as `train_results.json` / `eval_results.json` the way the Trainer's own examples do.
    """
    train_result = trainer.train(resume_from_checkpoint=resume_from)
    trainer.log_metrics("train", train_result.metrics)
    trainer.save_metrics("train", train_result.metrics)
    trainer.save_state()
    trainer.save_model(output_dir)
    if not evaluate:
        return {}
    metrics = trainer.evaluate()
    trainer.log_metrics("eval", metrics)
    trainer.save_metrics("eval", metrics)
    logger.info("Eval metrics: %s", json.dumps(metrics))
    return metrics


def is_tiny_random(model) -> bool:
    """True for the offline tiny models, whose adapters must never be presented as trained."""
    config = getattr(model, "config", None)
    return bool(getattr(config, TINY_MARKER, False))


def finish_run(
    trainer: SFTTrainer,
    processor,
    script_args: VideoScriptArguments,
    training_args: SFTConfig,
    model_args: VideoModelConfig,
    metrics: dict[str, float],
) -> None:
    """Save processor, config and model card (main process), merge and push if asked."""
    output_dir = Path(training_args.output_dir)
    if not trainer.accelerator.is_main_process:
        return
    processor.save_pretrained(output_dir)
    save_training_config(
        output_dir,
        script=script_args,
        training=training_args.to_dict(),
        model=model_args,
        class_names={script_args.language: labels.class_names(script_args.language)},
    )
    card = render_model_card(
        base_model=model_args.model_name_or_path,
        dataset=script_args.dataset_name,
        output_name=training_args.hub_model_id or output_dir.name,
        training_args=training_args,
        script_args=script_args,
        model_args=model_args,
        metrics=metrics,
        is_tiny_random_base=is_tiny_random(trainer.model),
    )
    card.save(output_dir / "README.md")
    logger.info("Adapter, processor, training_config.json and README.md saved to %s", output_dir)
    if script_args.merge:
        from shuttlesense.training.merge import merge_adapter

        merged = merge_adapter(output_dir, output_dir / "merged")
        logger.info("Merged model saved to %s", merged)
    if training_args.push_to_hub:
        if not training_args.hub_model_id:
            raise ValueError("push_to_hub needs hub_model_id (user/name).")
        url = push_output_dir(
            output_dir, training_args.hub_model_id, training_args.hub_private_repo, training_args.hub_token
        )
        logger.info("Pushed to %s", url)
