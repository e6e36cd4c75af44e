"""Merge a LoRA adapter into its base model and save a standalone model (for serving without PEFT).

The merged folder loads with `AutoModelForImageTextToText.from_pretrained` and with
`QwenVLActionRecognizer(model_path=<folder>)`; it holds the processor too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from shuttlesense.inference.model_source import ModelSource, resolve_model_source
from shuttlesense.paths import check_output_dir, claim_output_dir, seal_output_dir

logger = logging.getLogger(__name__)


@contextmanager
def plain_loading():
    """Load full weights in this process alone, even inside a ZeRO-3 run.

    While a ZeRO-3 config is live, `from_pretrained` partitions weights with `zero.Init`, which
    waits for every rank; a merge runs on the main process after training, so it would wait for
    ranks that have finished (CPU: "Connection closed by peer"; NCCL: a hang).
    """
    from transformers.integrations import deepspeed

    ref = deepspeed._hf_deepspeed_config_weak_ref  # transformers has no public getter for it
    live = ref() if ref is not None else None
    deepspeed.unset_hf_deepspeed_config()
    try:
        yield
    finally:
        if live is not None:
            deepspeed.set_hf_deepspeed_config(live)


def merge_adapter(adapter_dir: str | Path, output_dir: str | Path, base_model: str | None = None) -> Path:
    """Load base + adapter on CPU in the checkpoint dtype, merge the LoRA weights, save model + processor.

    The base is the one named in the adapter config unless `base_model` is given; a missing base or
    a non-Qwen-VL model fails with a clear message before any weights load. The processor is the
    adapter's own when it was saved with one (training does), else the base's.
    """
    return _merge(adapter_source(str(adapter_dir), base_model), Path(output_dir))


def adapter_source(adapter: str, base_model: str | None = None) -> ModelSource:
    """The adapter and its base, resolved without loading weights; a full model is refused (there
    is nothing to merge), so `main` can say so before it touches the output folder."""
    source = resolve_model_source(adapter, base_model)
    if source.adapter is None:
        raise ValueError(f"{adapter} is a full model, not a LoRA adapter: there is nothing to merge.")
    return source


def _merge(source: ModelSource, output_dir: Path) -> Path:
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText, AutoProcessor

    with plain_loading():
        base = AutoModelForImageTextToText.from_pretrained(source.base_model, dtype="auto")
        merged = PeftModel.from_pretrained(base, source.adapter).merge_and_unload()
    merged.save_pretrained(output_dir)
    AutoProcessor.from_pretrained(source.processor_path).save_pretrained(output_dir)
    return output_dir


@dataclass
class MergeArguments:
    """Options of `shuttlesense merge`."""

    adapter: str = field(metadata={"help": "LoRA adapter folder or Hub id (as saved by training)."})
    output: str = field(metadata={"help": "Folder to write the merged model and its processor to."})
    base_model: str | None = field(
        default=None,
        metadata={"help": "Base model folder or Hub id, if not the one named in the adapter's config."},
    )
    overwrite: bool = field(
        default=False, metadata={"help": "Replace the output folder of an earlier `shuttlesense merge`."}
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `shuttlesense merge`."""
    from shuttlesense.cli import parse_dataclass_args

    args = parse_dataclass_args(MergeArguments, argv, prog="merge", description=__doc__)
    inputs = [args.adapter, args.base_model]
    check_output_dir(args.output, "merge", args.overwrite, inputs)  # before any weights load
    source = adapter_source(args.adapter, args.base_model)  # nothing to merge: no output touched
    merged = _merge(source, claim_output_dir(args.output, "merge", args.overwrite, inputs))
    seal_output_dir(merged)
    logger.info("Merged %s into its base model: %s", args.adapter, merged)
    print(f"Merged model written to {merged}")
    return 0
