"""Tell a local path from a Hugging Face Hub id, so a missing folder fails as "not found" at once,
and check a checkpoint's kind from its config before any weights load.

Hub ids are `name` or `owner/name`; anything starting with `.`, `/` or `~`, or with more than one
slash, can only be meant as a local path (and must not be sent to the Hub, which retries for ~30 s).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def looks_local(name: str) -> bool:
    """True if `name` can only be a local path, never a Hub id.

    `outputs/run` has the shape of a Hub id (`owner/name`) too; when its first part is a folder
    here, it is read as a local path, so a missing run folder fails at once, not after ~30 s of
    Hub retries.
    """
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        return True
    return name.count("/") == 1 and Path(name).parent.is_dir()


def absolute_if_local(name: str) -> str:
    """An existing local path made absolute (what gets recorded stays valid from any folder); a Hub
    id, or a path that does not exist, unchanged."""
    path = Path(name).expanduser()
    return str(path.resolve()) if path.exists() else name


def checked_model_config(
    name_or_path: str, supported: Sequence[str], requirement: str, revision: str = "main"
) -> Any:
    """The checkpoint's config, read before any weights load; a clear error if it is the wrong kind.

    A missing local folder is FileNotFoundError; a `model_type` not in `supported` is ValueError
    "<name> is a '<type>' model<requirement>".
    """
    from transformers import AutoConfig

    if not Path(name_or_path).expanduser().exists() and looks_local(name_or_path):
        raise FileNotFoundError(f"Model folder not found: {name_or_path}")
    config = AutoConfig.from_pretrained(name_or_path, revision=revision)
    model_type = getattr(config, "model_type", None)
    if model_type not in supported:
        raise ValueError(f"{name_or_path} is a {model_type!r} model{requirement}")
    return config
