"""What a model path holds, found from its files before any weights load: a LoRA adapter or a full
model, its base, its family, and whether it is one of our tiny test models.

Training, inference, evaluation reports, the rally pipeline and the web page all ask these
questions, so the answers live here, below all of them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from shuttlesense.paths import checked_model_config, looks_local

logger = logging.getLogger(__name__)

SUPPORTED_MODEL_TYPES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe")
MARKER = "shuttlesense_tiny"
"""Config attribute (and model-card tag) that flags a tiny random model (`shuttlesense tiny-model`)."""


def check_model_type(name_or_path: str, revision: str = "main") -> str:
    """The checkpoint's model_type; a clear error before any weights load if it is not a Qwen-VL."""
    requirement = (
        f"; ShuttleSense trains Qwen-VL models only ({', '.join(SUPPORTED_MODEL_TYPES)}), "
        "e.g. Qwen/Qwen2.5-VL-3B-Instruct."
    )
    return checked_model_config(name_or_path, SUPPORTED_MODEL_TYPES, requirement, revision).model_type


_PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json")


@dataclass(frozen=True)
class ModelSource:
    """Where the weights come from: a base (or full) model, optionally with a LoRA adapter on top."""

    model_path: str
    base_model: str
    adapter: str | None
    processor_path: str


def _adapter_base(adapter: str, base_model: str | None) -> str:
    """The base the adapter names (or the override); a clear error if it is missing or unfindable."""
    base = base_model
    if base is None:
        from peft import PeftConfig

        base = PeftConfig.from_pretrained(adapter).base_model_name_or_path
    if not base:
        raise ValueError(
            f"Adapter {adapter} does not name its base model (no base_model_name_or_path in "
            "adapter_config.json); pass base_model='<folder or Hub id>' (CLI: --base-model)."
        )
    hint = (
        f"Pass the base explicitly: QwenVLActionRecognizer({adapter!r}, base_model='<folder or Hub id>') "
        "or --base-model on the command line."
    )
    origin = "given as base_model" if base_model else "named in its adapter_config.json"
    if looks_local(base) and not Path(base).expanduser().exists():
        raise FileNotFoundError(
            f"Adapter {adapter} needs base model {base!r} ({origin}), but that folder does not exist. {hint}"
        )
    try:
        check_model_type(str(Path(base).expanduser()) if looks_local(base) else base)
    except OSError as err:
        raise FileNotFoundError(
            f"Adapter {adapter} needs base model {base!r} ({origin}), which cannot be found locally, in "
            f"the Hugging Face cache or on the Hub ({err}). {hint}"
        ) from err
    return base


def resolve_model_source(model_path: str, base_model: str | None = None) -> ModelSource:
    """Decide whether `model_path` is an adapter (local or Hub) or a full model, and find its base.

    Raises FileNotFoundError for a missing path or an unfindable base, ValueError for a model that
    is not a Qwen-VL (checked from the config, before any weights load).
    """
    path = Path(model_path).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"{model_path} is a file; give an adapter folder, a model folder or a Hub id.")
        if (path / "adapter_config.json").is_file():
            base = _adapter_base(str(path), base_model)
            has_processor = any((path / name).is_file() for name in _PROCESSOR_FILES)
            return ModelSource(model_path, base, str(path), str(path) if has_processor else base)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"{model_path} holds neither adapter_config.json (a LoRA adapter) nor config.json (a model)."
            )
        check_model_type(str(path))
        if base_model:
            logger.warning(
                "%s is a full model, not an adapter: ignoring base_model=%s.", model_path, base_model
            )
        return ModelSource(model_path, str(path), None, str(path))
    if looks_local(model_path):
        raise FileNotFoundError(f"Model path not found: {model_path}")
    try:  # a Hub id: adapter repos have adapter_config.json
        from peft import PeftConfig

        PeftConfig.from_pretrained(model_path)
        is_adapter = True
    except (OSError, ValueError):
        is_adapter = False
    if is_adapter:
        base = _adapter_base(model_path, base_model)
        return ModelSource(model_path, base, model_path, model_path)
    check_model_type(model_path)
    return ModelSource(model_path, model_path, None, model_path)


def is_tiny_model_dir(path: Path) -> bool:
    """True if `path` holds a model written by this module (its config carries the marker)."""
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get(MARKER) is True


def tiny_model_kind(model_path: str | Path, base_model: str | None = None) -> str | None:
    """ "random" for a tiny random model, "tiny-base" for one trained from it (an adapter on one, or a
    fully fine-tuned copy with its `training_config.json`), None otherwise.

    Only local folders are inspected (a Hub id is never a tiny model: those are built offline).
    """
    path = Path(model_path).expanduser()
    if is_tiny_model_dir(path):
        return "tiny-base" if (path / "training_config.json").is_file() else "random"
    base = base_model
    if base is None:
        try:
            adapter = json.loads((path / "adapter_config.json").read_text(encoding="utf-8"))
            base = adapter.get("base_model_name_or_path")
        except (OSError, ValueError):
            base = None
    if base and is_tiny_model_dir(Path(base).expanduser()):
        return "tiny-base"
    return None
