"""Tell a local path from a Hugging Face Hub id, so a missing folder fails as "not found" at once,
check a checkpoint's kind from its config before any weights load, and keep every command's
outputs away from its inputs (nothing of the user's is ever overwritten or deleted).

Hub ids are `name` or `owner/name`; anything starting with `.`, `/` or `~`, or with more than one
slash, can only be meant as a local path (and must not be sent to the Hub, which retries for ~30 s).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Sequence
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


OUTPUT_MARKER = ".shuttlesense-output.json"
"""Written into every output folder a command creates: `--overwrite` replaces only such folders."""


def check_apart(output: str | Path, inputs: Iterable[str | Path | None], command: str) -> None:
    """Refuse an output that is, contains or lies inside one of the inputs (or other outputs).

    Paths are compared resolved, whether or not they exist yet; a Hub id never matches a local
    output folder in practice.
    """
    out = Path(output).expanduser().resolve()
    for item in inputs:
        if item is None:
            continue
        source = Path(item).expanduser().resolve()
        if out == source or source in out.parents or out in source.parents:
            raise ValueError(
                f"shuttlesense {command} would write {output} over its input {item}; "
                "choose an output outside the input."
            )


def check_output_dir(
    output: str | Path,
    command: str,
    overwrite: bool = False,
    inputs: Iterable[str | Path | None] = (),
    legacy: Sequence[str] = (),
) -> Path:
    """Refuse, before any long work and without touching anything, an output folder `command` may
    not use: one that overlaps an input, is a file, or is non-empty without `overwrite` or not
    written by `command` (its `OUTPUT_MARKER`, or for outputs from before the marker, every file
    named in `legacy`): a folder of the user's is never replaced."""
    path = Path(output).expanduser()
    check_apart(path, inputs, command)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"Output {path} exists and is not a folder.")
    if path.is_dir() and any(path.iterdir()):
        if not overwrite:
            raise FileExistsError(f"Output folder {path} is not empty; pass --overwrite to replace it.")
        if written_by(path) != command and not (legacy and all((path / name).exists() for name in legacy)):
            raise FileExistsError(
                f"Output folder {path} was not written by `shuttlesense {command}`; --overwrite only "
                "replaces such a folder. Choose a new or empty folder."
            )
    return path


def claim_output_dir(
    output: str | Path,
    command: str,
    overwrite: bool = False,
    inputs: Iterable[str | Path | None] = (),
    legacy: Sequence[str] = (),
) -> Path:
    """`check_output_dir`, then an empty folder marked as `command`'s (a previous one replaced)."""
    path = check_output_dir(output, command, overwrite, inputs, legacy)
    if path.is_dir() and any(path.iterdir()):
        shutil.rmtree(path)  # checked above: written by this command
    path.mkdir(parents=True, exist_ok=True)
    (path / OUTPUT_MARKER).write_text(json.dumps({"command": command}) + "\n", encoding="utf-8")
    return path


def written_by(folder: str | Path) -> str | None:
    """The command whose output `folder` is (its marker), or None."""
    try:
        return json.loads((Path(folder) / OUTPUT_MARKER).read_text(encoding="utf-8")).get("command")
    except (OSError, ValueError, AttributeError):
        return None
