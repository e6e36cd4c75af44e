"""Which checkpoint a run resumes from: the newest *complete* one.

Spot and preemptible GPUs kill runs at any moment, also while the Trainer is writing a
checkpoint. It writes weights, optimizer, scheduler and RNG state first and `trainer_state.json`
last, so a folder killed half-way has no (or a truncated) `trainer_state.json`; transformers'
`get_last_checkpoint` would still pick it and the resumed run would stop on the missing file.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

logger = logging.getLogger(__name__)

WEIGHT_FILES = (
    "adapter_model.safetensors",
    "adapter_model.bin",
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_problem(folder: str | Path) -> str | None:
    """What `folder` lacks for a resume, or None when it is complete.

    Complete: a readable `trainer_state.json`, RNG state, and either DeepSpeed's state (`latest`
    naming a non-empty `global_step*/` folder, which holds weights, optimizer and scheduler) or
    the weights, `optimizer.pt` and `scheduler.pt` the Trainer writes itself.
    """
    folder = Path(folder)
    try:
        json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "no readable trainer_state.json"
    latest = folder / "latest"
    if latest.is_file():
        tag = latest.read_text(encoding="utf-8").strip()
        if not tag or not (folder / tag).is_dir() or not any((folder / tag).iterdir()):
            return f"DeepSpeed state {tag or '(unnamed)'}/ missing or empty"
    else:
        if not any((folder / name).is_file() for name in WEIGHT_FILES):
            return "no model or adapter weights"
        for name in ("optimizer.pt", "scheduler.pt"):
            if not (folder / name).is_file():
                return f"no {name}"
    if not any(folder.glob("rng_state*.pth")):
        return "no RNG state"
    return None


def get_last_checkpoint(output_dir: str | Path) -> str | None:
    """The newest complete `checkpoint-N` in `output_dir` (None when there is none: start fresh).

    Newer incomplete checkpoints are named in a warning and left as they are (never deleted).
    """
    output = Path(output_dir)
    if not output.is_dir():
        return None
    steps = {int(m.group(1)): p for p in output.iterdir() if p.is_dir() and (m := _CHECKPOINT.match(p.name))}
    for step in sorted(steps, reverse=True):
        problem = checkpoint_problem(steps[step])
        if problem is None:
            logger.info("Resuming from %s", steps[step])
            return str(steps[step])
        logger.warning("Passing over incomplete %s (%s); it is left as it is.", steps[step], problem)
    return None
