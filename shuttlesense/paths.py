"""Tell a local path from a Hugging Face Hub id, so a missing folder fails as "not found" at once,
check a checkpoint's kind from its config before any weights load, and keep every command's
outputs away from its inputs (nothing of the user's is ever overwritten or deleted).

Hub ids are `name` or `owner/name`; anything starting with `.`, `/` or `~`, or with more than one
slash, can only be meant as a local path (and must not be sent to the Hub, which retries for ~30 s).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

VIDEO_EXTENSIONS = frozenset(
    {
        ".mp4",
        ".avi",
        ".mov",
        ".mkv",
        ".webm",
        ".m4v",
        ".mpg",
        ".mpeg",
        ".wmv",
        ".flv",
        ".3gp",
        ".ts",
        ".mts",
        ".m2ts",
    }
)
"""File name endings read as videos, by every command: FFmpeg opens almost anything (a text file
as a "tty" video), so a file is only taken for a video when its name says so."""


def require_video_name(path: str | Path) -> Path:
    """`path` if it names an existing video file, else a one-line error saying what is wrong."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not a video file.")
    if not path.is_file():
        raise FileNotFoundError(f"Video file not found: {path}")
    if path.suffix.lower() not in VIDEO_EXTENSIONS:
        raise ValueError(
            f"{path} is not a video file (by its name; videos end in {', '.join(sorted(VIDEO_EXTENSIONS))})."
        )
    return path


def looks_local(name: str) -> bool:
    """True if `name` can only be a local path, never a Hub id.

    `outputs/run` has the shape of a Hub id (`owner/name`) too; when its first part is a folder
    here, it is read as a local path, so a missing run folder fails at once, not after ~30 s of
    Hub retries.
    """
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        return True
    return name.count("/") == 1 and Path(name).parent.is_dir()


def public_name(name: str) -> str:
    """What a page shown to others may say about a model: a Hub id as is, a local folder by its
    name only (the server's paths are nobody's business)."""
    if Path(name).expanduser().exists() or looks_local(name):
        return Path(name).name or name
    return name


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
    _check_parents(Path(output).expanduser())
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


def _check_parents(path: Path) -> None:
    """An output's existing ancestors must be folders (`notes.txt/out` cannot be made)."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(f"Output {path}: {parent} is a file, not a folder.")
            return


def check_output_dir(
    output: str | Path,
    command: str,
    overwrite: bool = False,
    inputs: Iterable[str | Path | None] = (),
    legacy: Sequence[str] | Callable[[Path], bool] = (),
) -> Path:
    """Refuse, before any long work and without touching anything, an output folder `command` may
    not use: one that overlaps an input, is a file, or is non-empty without `overwrite` or not
    written by `command` (its `OUTPUT_MARKER`, or for outputs from before the marker, every file
    named in `legacy`, or `legacy(folder)` true): a folder of the user's is never replaced."""
    path = Path(output).expanduser()
    check_apart(path, inputs, command)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"Output {path} exists and is not a folder.")
    if path.is_dir() and any(path.iterdir()):
        if not overwrite:
            raise FileExistsError(f"Output folder {path} is not empty; pass --overwrite to replace it.")
        if written_by(path) != command and not _is_legacy(path, legacy):
            raise FileExistsError(
                f"Output folder {path} was not written by `shuttlesense {command}`; --overwrite only "
                "replaces such a folder. Choose a new or empty folder."
            )
    return path


def check_output_file(
    output: str | Path,
    command: str,
    overwrite: bool,
    inputs: Iterable[str | Path | None],
    ours: Callable[[Path], bool],
) -> Path:
    """Refuse, before any long work, an output file `command` may not write: one that overlaps an
    input or is a folder, or that exists and is not an earlier output of `command` (`ours` tells,
    from its content) or is one but `overwrite` is not set: a file of the user's is never replaced."""
    path = Path(output).expanduser()
    check_apart(path, inputs, command)
    if path.is_dir():
        raise FileExistsError(f"Output {path} is a folder; give a file name.")
    if path.exists():
        if not ours(path):
            raise FileExistsError(
                f"Output {path} exists and was not written by `shuttlesense {command}`; choose another name."
            )
        if not overwrite:
            raise FileExistsError(f"Output {path} exists; pass --overwrite to replace it.")
    return path


def claim_output_dir(
    output: str | Path,
    command: str,
    overwrite: bool = False,
    inputs: Iterable[str | Path | None] = (),
    legacy: Sequence[str] | Callable[[Path], bool] = (),
) -> Path:
    """`check_output_dir`, then the folder marked as `command`'s, an earlier output's files removed.

    Only files the command wrote are removed: those its marker lists (`seal_output_dir`), or if
    it never got that far, all but the files that were there before it started. Anything else
    (a note the user put there) stays. Outputs from before the marker are replaced whole.
    """
    path = check_output_dir(output, command, overwrite, inputs, legacy)
    if path.is_dir() and any(path.iterdir()):  # checked above: written by this command
        _remove_own_files(path)
    path.mkdir(parents=True, exist_ok=True)
    kept = _files(path)
    _write_marker(path, {"command": command, "kept": kept})
    return path


def seal_output_dir(folder: str | Path) -> None:
    """Record in `folder`'s marker the files its command wrote (all but those kept), so a later
    `--overwrite` removes exactly those and nothing the user adds afterwards."""
    folder = Path(folder)
    marker = _read_marker(folder)
    kept = set(marker.get("kept", []))
    _write_marker(folder, {**marker, "files": [name for name in _files(folder) if name not in kept]})


def written_by(folder: str | Path) -> str | None:
    """The command whose output `folder` is (its marker), or None."""
    return _read_marker(Path(folder)).get("command")


def _is_legacy(folder: Path, legacy: Sequence[str] | Callable[[Path], bool]) -> bool:
    if callable(legacy):
        return legacy(folder)
    return bool(legacy) and all((folder / name).exists() for name in legacy)


def _files(folder: Path) -> list[str]:
    """Every file under `folder` but the marker, as sorted relative POSIX paths."""
    return sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != OUTPUT_MARKER
    )


def _read_marker(folder: Path) -> dict[str, Any]:
    try:
        marker = json.loads((folder / OUTPUT_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return marker if isinstance(marker, dict) else {}


def _write_marker(folder: Path, marker: dict[str, Any]) -> None:
    (folder / OUTPUT_MARKER).write_text(json.dumps(marker) + "\n", encoding="utf-8")


def _remove_own_files(folder: Path) -> None:
    """Remove what the command that marked `folder` wrote (see `claim_output_dir`)."""
    marker = _read_marker(folder)
    if "files" not in marker and "kept" not in marker:  # from before the file lists
        shutil.rmtree(folder)
        return
    kept = set(marker.get("kept", []))
    own = marker["files"] if "files" in marker else [name for name in _files(folder) if name not in kept]
    for name in own:
        target = (folder / name).resolve()
        if folder.resolve() in target.parents and target.is_file():
            target.unlink()
    for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(sub.iterdir()):
            sub.rmdir()
    (folder / OUTPUT_MARKER).unlink(missing_ok=True)
