"""`shuttlesense` command line: one sub-command per task, each configured by a dataclass, and the
plain-text tables commands print.

Sub-commands are imported lazily so `shuttlesense --help` stays fast; each module exposes
`main(argv)` and parses its own options with `parse_dataclass_args` (transformers'
`HfArgumentParser`, so every option's `help` metadata shows in `--help`).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import unicodedata
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

# name -> (module implementing `main(argv)`, one-line description)
COMMANDS: dict[str, tuple[str, str]] = {
    "tiny-model": (
        "shuttlesense.synthetic.tiny_models",
        "write a tiny RANDOM Qwen-VL or VideoMAE model (tests and offline demo only; it knows nothing)",
    ),
    "prepare": (
        "shuttlesense.data.prepare",
        "turn the VideoBadminton folders into a Hub-ready datasets folder (parquet + card + stats)",
    ),
    "demo": (
        "shuttlesense.demo",
        "run the whole workflow offline on CPU: synthetic clips, tiny model, LoRA training, evaluation",
    ),
    "synth": (
        "shuttlesense.synthetic.clips",
        "write synthetic stroke clips in the VideoBadminton layout, or a synthetic rally with hit times",
    ),
    "evaluate": (
        "shuttlesense.evaluation.evaluator",
        "score a model on a dataset split: metrics.json, figures, report.md",
    ),
    "predict": (
        "shuttlesense.inference.predict",
        "recognise the stroke in a clip or a folder of clips (table or JSON lines)",
    ),
    "analyze": (
        "shuttlesense.rally.analyze",
        "find the hits in a rally video and name each stroke: JSON report, timeline picture, clips",
    ),
    "serve": (
        "shuttlesense.web.serve",
        "the web app on 127.0.0.1: recognise a stroke clip or analyse a rally in the browser (Gradio)",
    ),
    "merge": (
        "shuttlesense.training.merge",
        "merge a LoRA adapter into its base model and save a standalone model",
    ),
}


def parse_dataclass_args(cls: type[T], argv: Sequence[str] | None, prog: str, description: str) -> T:
    """Parse `argv` into an instance of dataclass `cls`; `--help` lists every field's help text."""
    from transformers import HfArgumentParser

    parser = HfArgumentParser(cls, prog=f"shuttlesense {prog}", description=description)
    (args,) = parser.parse_args_into_dataclasses(args=list(argv) if argv is not None else None)
    return args


def positional_to_option(argv: Sequence[str], name: str) -> list[str]:
    """Let `command VALUE --opts` mean `command --name VALUE --opts` (dataclass parsers are option-only)."""
    argv = list(argv)
    return [f"--{name}", *argv] if argv and not argv[0].startswith("-") else argv


def display_width(text: str) -> int:
    """Terminal columns of `text` (wide and full-width characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Header, a dashed rule, then the rows; columns padded to their widest cell."""
    table = [list(header), *[list(row) for row in rows]]
    widths = [max(display_width(row[i]) for row in table) for i in range(len(header))]
    lines = [
        "  ".join(
            cell + " " * (w - display_width(cell)) for cell, w in zip(row, widths, strict=True)
        ).rstrip()
        for row in table
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [
        "usage: shuttlesense <command> [options]",
        "",
        "Badminton stroke recognition with LoRA-tuned Qwen-VL models.",
        "",
        "commands:",
    ]
    lines += [f"  {name:<{width}}  {desc}" for name, (_, desc) in COMMANDS.items()]
    lines += [
        "",
        "Run `shuttlesense <command> --help` for a command's options.",
        "Errors end in one line; `shuttlesense --debug <command> ...` (or SHUTTLESENSE_DEBUG=1) shows the traceback.",
    ]
    return "\n".join(lines)


USER_ERRORS = (ValueError, OSError, KeyError)
"""Bad input, missing or unreadable files, unknown names: the message is for the user, not a bug."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; every error ends in one line naming the problem (the traceback with --debug).

    `shuttlesense --debug <command> ...` or `SHUTTLESENSE_DEBUG=1` lets errors raise as they are.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get("SHUTTLESENSE_DEBUG", "") not in ("", "0")
    if argv[:1] == ["--debug"]:
        debug, argv = True, argv[1:]
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"shuttlesense: unknown command {name!r}.\n\n{_usage()}", file=sys.stderr)
        return 2
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    module = importlib.import_module(COMMANDS[name][0])
    try:
        return int(module.main(rest) or 0)
    except Exception as err:
        if debug:
            raise
        message = str(err) or type(err).__name__
        if isinstance(err, OSError) and err.strerror and err.filename:  # not "[Errno 13] ..."
            message = f"{err.filename}: {err.strerror}"
        elif not isinstance(err, USER_ERRORS):
            message = (
                f"{type(err).__name__}: {message} (unexpected; `shuttlesense --debug {name} ...` shows where)"
            )
        print(f"shuttlesense {name}: error: {message.splitlines()[0]}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
