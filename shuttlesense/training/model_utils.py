"""Small `get_*` helpers the training entry script calls: model, processor, LoRA config, data.

Every Qwen-VL family goes through the same generic path (`AutoConfig` -> check the family ->
`AutoModelForImageTextToText` / `AutoProcessor`), whether the name is a Hub id or a local folder.
"""

from __future__ import annotations

import logging

import torch
from datasets import Dataset
from peft import LoraConfig
from transformers import (
    AutoModelForImageTextToText,
    AutoProcessor,
    PreTrainedModel,
    ProcessorMixin,
)

from shuttlesense.data.loading import load_split
from shuttlesense.inference.model_source import check_model_type
from shuttlesense.paths import absolute_if_local
from shuttlesense.training.config import VideoModelConfig, VideoScriptArguments

logger = logging.getLogger(__name__)

# Module-name patterns (PEFT full-match regexes). The vision tower reuses language-model names
# (Qwen2.5-VL's ViT has gate/up/down_proj), so targets are anchored on the sub-model.
_LANGUAGE = r".*language_model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)"
_VISION = r".*visual\.blocks\.\d+\.(attn\.(qkv|proj)|mlp\.(fc1|fc2|linear_fc1|linear_fc2|gate_proj|up_proj|down_proj))"
_MERGER = (
    r".*visual\.(merger|deepstack_merger_list\.\d+)\.(mlp\.[02]|linear_fc1|linear_fc2)"  # mlp.1 is the GELU
)
LORA_TARGETS = {
    "language": _LANGUAGE,
    "language+vision": f"({_LANGUAGE})|({_VISION})|({_MERGER})",
    "all": "all-linear",
}


def get_processor(model_args: VideoModelConfig) -> ProcessorMixin:
    processor = AutoProcessor.from_pretrained(
        model_args.model_name_or_path, revision=model_args.model_revision
    )
    processor.tokenizer.padding_side = "right"  # training: labels are aligned from the left
    return processor


def _dtype(name: str | None) -> torch.dtype | str:
    if name in (None, "auto"):
        return "auto"
    return getattr(torch, name)


def get_model(model_args: VideoModelConfig) -> PreTrainedModel:
    """Load the base model in the recipe's dtype (precision of the compute comes from SFTConfig).

    A local folder is loaded by its absolute path, which is what the adapter records as its base:
    a path relative to where training ran would break as soon as the adapter is used elsewhere.
    """
    name = absolute_if_local(model_args.model_name_or_path)
    check_model_type(name, model_args.model_revision)
    return AutoModelForImageTextToText.from_pretrained(
        name,
        revision=model_args.model_revision,
        dtype=_dtype(model_args.dtype),
        attn_implementation=model_args.attn_implementation,
    )


def get_peft_config(model_args: VideoModelConfig) -> LoraConfig | None:
    """LoRA on the language model by default; explicit `lora_target_modules` win over `lora_scope`."""
    if not model_args.use_peft:
        return None
    targets = model_args.lora_target_modules or LORA_TARGETS[model_args.lora_scope]
    if isinstance(targets, list) and len(targets) == 1:
        targets = targets[0]  # a single regex from the command line
    return LoraConfig(
        r=model_args.lora_r,
        lora_alpha=model_args.lora_alpha,
        lora_dropout=model_args.lora_dropout,
        target_modules=targets,
        modules_to_save=model_args.lora_modules_to_save,
        use_rslora=model_args.use_rslora,
        use_dora=model_args.use_dora,
        task_type="CAUSAL_LM",
    )


def _first(data: Dataset, limit: int | None) -> Dataset:
    return data.select(range(min(limit, len(data)))) if limit else data


def get_datasets(script_args: VideoScriptArguments, with_eval: bool = True) -> tuple[Dataset, Dataset | None]:
    """The train split and (optionally) the evaluation split, video bytes undecoded."""
    if not script_args.dataset_name:
        raise ValueError("Set dataset_name (a `shuttlesense prepare` folder or a Hub dataset id).")
    train = _first(
        load_split(script_args.dataset_name, script_args.dataset_train_split), script_args.max_train_samples
    )
    evaluation = None
    if with_eval:
        evaluation = _first(
            load_split(script_args.dataset_name, script_args.dataset_test_split), script_args.max_eval_samples
        )
    return train, evaluation


def count_trainable(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts; ZeRO-3 partitions hold `ds_numel` (their `numel()` is 0)."""

    def size(p: torch.nn.Parameter) -> int:
        return int(getattr(p, "ds_numel", p.numel()))

    trainable = sum(size(p) for p in model.parameters() if p.requires_grad)
    return trainable, sum(size(p) for p in model.parameters())


def _make_output_require_grad(module: torch.nn.Module, inputs: object, output: torch.Tensor) -> None:
    output.requires_grad_(True)


def align_vision_input_grads(model: torch.nn.Module) -> str | None:
    """Give the vision tower an input-gradient hook exactly when something in its blocks trains.

    `enable_input_require_grads` (TRL calls it for PEFT with gradient checkpointing) hooks every
    sub-model's input embeddings. Qwen2/2.5-VL's vision `patch_embed` is one of them, so with LoRA on
    the language model only, backward (and recomputation) runs through the frozen vision tower for
    nothing (its checkpointing is switched off too: there is nothing to recompute). Qwen3-VL's
    vision model exposes none, so under reentrant checkpointing (TRL forces it
    for PEFT + ZeRO-3) vision LoRA silently gets no gradient. Returns "removed", "added" or None.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    visual = getattr(getattr(base, "model", base), "visual", None)
    embed = getattr(visual, "patch_embed", None)
    if embed is None:
        return None
    trains = any(p.requires_grad for name, p in visual.named_parameters() if "merger" not in name)
    # Hooks by function name: `enable_input_require_grads` runs more than once (gradient checkpointing
    # and TRL both call it) and keeps only the last call's handles, so handles cannot find them all.
    names = ("make_inputs_require_grads", _make_output_require_grad.__name__)
    on_embed = [hid for hid, hook in embed._forward_hooks.items() if getattr(hook, "__name__", "") in names]
    lists = [hooks for m in model.modules() if (hooks := m.__dict__.get("_require_grads_hooks"))]
    if on_embed and not trains:
        for hook_id in on_embed:
            del embed._forward_hooks[hook_id]
        for hooks in lists:
            hooks[:] = [handle for handle in hooks if handle.id not in on_embed]
        for layer in visual.modules():  # nothing to recompute where no gradient flows
            if getattr(layer, "gradient_checkpointing", False):
                layer.gradient_checkpointing = False
        return "removed"
    if trains and not on_embed and lists:
        lists[0].append(embed.register_forward_hook(_make_output_require_grad))
        return "added"
    return None


def upcast_trainable_parameters(model: torch.nn.Module) -> int:
    """Trainable fp16 parameters to fp32 (fp16 mixed precision); returns how many were cast.

    The CUDA GradScaler refuses fp16 gradients ("Attempting to unscale FP16 gradients"). PEFT
    upcasts LoRA A/B itself, but `modules_to_save` copies keep the base model's fp16, so a recipe
    with `fp16: true` and saved modules would stop at its first step on a GPU.
    """
    cast = 0
    for parameter in model.parameters():
        if parameter.requires_grad and parameter.dtype == torch.float16:
            parameter.data = parameter.data.float()
            cast += 1
    return cast
