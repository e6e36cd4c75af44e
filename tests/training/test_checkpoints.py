"""Resume from the newest complete checkpoint; an incomplete newer one is passed over, never deleted."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from shuttlesense.training.checkpoints import checkpoint_problem, get_last_checkpoint


def _checkpoint(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(content)
    return folder


COMPLETE = {
    "adapter_model.safetensors": "w",
    "optimizer.pt": "o",
    "scheduler.pt": "s",
    "rng_state.pth": "r",
    "trainer_state.json": json.dumps({"global_step": 10}),
}
DEEPSPEED = {  # ZeRO keeps optimizer and scheduler in its own folder, named by `latest`
    "adapter_model.safetensors": "w",
    "latest": "global_step20",
    "global_step20/mp_rank_00_model_states.pt": "m",
    "rng_state_0.pth": "r",
    "rng_state_1.pth": "r",
    "trainer_state.json": json.dumps({"global_step": 20}),
}


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        (COMPLETE, None),
        (DEEPSPEED, None),
        ({k: v for k, v in COMPLETE.items() if k != "trainer_state.json"}, "trainer_state.json"),
        ({**COMPLETE, "trainer_state.json": '{"global_st'}, "trainer_state.json"),  # killed mid-write
        ({k: v for k, v in COMPLETE.items() if k != "optimizer.pt"}, "optimizer.pt"),
        ({k: v for k, v in COMPLETE.items() if k != "adapter_model.safetensors"}, "weights"),
        ({k: v for k, v in COMPLETE.items() if k != "rng_state.pth"}, "RNG"),
        ({**DEEPSPEED, "latest": "global_step30"}, "global_step30"),
    ],
)
def test_what_a_checkpoint_needs(tmp_path: Path, files, problem):
    found = checkpoint_problem(_checkpoint(tmp_path / "checkpoint-1", files))
    assert found is None if problem is None else problem in found


def test_the_newest_complete_checkpoint_wins_and_the_broken_one_stays(tmp_path: Path, caplog):
    _checkpoint(tmp_path / "checkpoint-9", COMPLETE)
    complete = _checkpoint(tmp_path / "checkpoint-10", COMPLETE)
    broken = _checkpoint(tmp_path / "checkpoint-20", {"adapter_model.safetensors": "w", "optimizer.pt": "o"})
    (tmp_path / "checkpoint-x").mkdir()  # not a checkpoint name
    with caplog.at_level(logging.INFO, logger="shuttlesense.training.checkpoints"):
        assert get_last_checkpoint(tmp_path) == str(complete)
    assert f"Passing over incomplete {broken}" in caplog.text and broken.is_dir()
    assert get_last_checkpoint(tmp_path / "missing") is None
    assert get_last_checkpoint(broken) is None  # no checkpoint-N inside: start fresh
