"""Every recipe parses, and the tiny recipe really trains: under `accelerate launch` + DeepSpeed ZeRO-2."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from peft import PeftModel
from transformers import AutoModelForImageTextToText
from trl import SFTConfig, TrlParser

from shuttlesense import labels
from shuttlesense.training.config import VideoModelConfig, VideoScriptArguments

REPO = Path(__file__).resolve().parents[1]
RECIPES = sorted(REPO.glob("recipes/*/sft_lora.yaml"))
CPU_OVERRIDES = ["--use_cpu", "true", "--bf16", "false", "--fp16", "false"]  # GPU recipes on a CPU machine


def _parser() -> TrlParser:
    return TrlParser((VideoScriptArguments, SFTConfig, VideoModelConfig))


def test_recipes_exist_for_every_family():
    names = {p.parent.name for p in RECIPES}
    assert {
        "tiny",
        "qwen2_5_vl_3b",
        "qwen2_5_vl_7b",
        "qwen2_vl_2b",
        "qwen3_vl_2b",
        "qwen3_vl_4b",
        "qwen3_vl_8b",
    } <= names


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.parent.name)
def test_every_recipe_parses(recipe: Path, tmp_path: Path):
    script, training, model = _parser().parse_args_and_config(
        ["--config", str(recipe), "--output_dir", str(tmp_path), *CPU_OVERRIDES]
    )
    raw = yaml.safe_load(recipe.read_text())
    assert model.model_name_or_path == raw["model_name_or_path"]
    assert script.dataset_name == raw["dataset_name"]
    assert training.gradient_checkpointing is True
    assert isinstance(raw.get("fp16"), bool) and isinstance(raw.get("bf16"), bool)
    assert recipe.read_text().startswith("#") and "Hardware:" in recipe.read_text()


def test_unknown_recipe_key_is_refused(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_name_or_path: x\nlora_rank: 8\n")
    with pytest.raises(ValueError, match="lora_rank"):
        _parser().parse_args_and_config(["--config", str(bad), "--output_dir", str(tmp_path), *CPU_OVERRIDES])


def _run_args(model_dir: Path, dataset: Path, output_dir: Path, *extra: str) -> list[str]:
    return [
        str(REPO / "recipes" / "sft_lora.py"),
        "--config", str(REPO / "recipes" / "tiny" / "sft_lora.yaml"),
        "--model_name_or_path", str(model_dir),
        "--dataset_name", str(dataset),
        "--output_dir", str(output_dir),
        *extra,
    ]  # fmt: skip


def _kill_while_saving(checkpoint: Path) -> None:
    """What a kill during the Trainer's checkpoint save leaves: the folder, without its last files."""
    assert checkpoint.is_dir()
    for name in ("trainer_state.json", "rng_state.pth", "rng_state_0.pth", "rng_state_1.pth"):
        (checkpoint / name).unlink(missing_ok=True)


def _deepspeed_launch(config: str, port: int) -> list[str]:
    """`accelerate launch` with an accelerate_configs/ DeepSpeed config on 2 CPU processes (skips without it)."""
    accelerate = Path(sys.executable).parent / "accelerate"
    if shutil.which("accelerate", path=str(accelerate.parent)) is None:
        pytest.skip("accelerate CLI not installed")
    pytest.importorskip("deepspeed")
    return [str(accelerate), "launch", "--config_file", str(REPO / "accelerate_configs" / config),
            "--num_processes", "2", "--main_process_port", str(port)]  # fmt: skip


def _run(command: list[str], env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    result = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


@pytest.mark.slow
def test_accelerate_launch_deepspeed_zero2_two_processes(
    tmp_path: Path, tiny_model_dirs, prepared_dataset: Path
):
    base = tiny_model_dirs["qwen2_5_vl"]
    output = tmp_path / "run"
    command = _deepspeed_launch("zero2.yaml", port=29517)
    command += _run_args(
        base, prepared_dataset, output, "--max_steps", "6", "--eval_steps", "3", "--save_steps", "3"
    )
    result = _run(command, env={"DS_ACCELERATOR": "cpu"})
    assert "Trainable parameters" in result.stdout + result.stderr

    for name in (
        "adapter_model.safetensors",
        "adapter_config.json",
        "training_config.json",
        "README.md",
        "eval_results.json",
    ):
        assert (output / name).is_file(), name
    record = json.loads((output / "training_config.json").read_text())
    assert record["model"]["lora_r"] == 16
    assert record["class_names"] == {"zh": labels.CLASS_NAMES_ZH}  # the table the answers were trained on
    assert "eval_accuracy" in json.loads((output / "eval_results.json").read_text())
    card = (output / "README.md").read_text()
    assert "PeftModel.from_pretrained" in card and "randomly initialised" in card
    state = json.loads((output / "trainer_state.json").read_text())
    assert state["global_step"] == 6

    model = AutoModelForImageTextToText.from_pretrained(base)
    ids = torch.arange(20).unsqueeze(0)
    before = model(input_ids=ids).logits
    adapted = PeftModel.from_pretrained(model, output)
    after = adapted(input_ids=ids).logits
    assert not torch.allclose(before, after), "the adapter must change the model's outputs"

    # Killed while writing checkpoint-6: the same launch resumes from checkpoint-3 and finishes.
    _kill_while_saving(output / "checkpoint-6")
    command[command.index("--max_steps") + 1] = "9"
    resumed = _run(command, env={"DS_ACCELERATOR": "cpu"})
    log = resumed.stdout + resumed.stderr
    assert f"Passing over incomplete {output / 'checkpoint-6'}" in log
    assert f"Resuming from {output / 'checkpoint-3'}" in log
    assert json.loads((output / "trainer_state.json").read_text())["global_step"] == 9


@pytest.mark.slow
def test_accelerate_launch_zero3_two_processes_with_merge(
    tmp_path: Path, tiny_model_dirs, prepared_dataset: Path
):
    """ZeRO-3 partitions the weights: the parameter count must still be right, and `merge: true`
    (main process only, after training) must load plain weights, not wait for the other ranks."""
    base = tiny_model_dirs["qwen2_5_vl"]
    output = tmp_path / "run"
    command = _deepspeed_launch("zero3.yaml", port=29519)
    command += _run_args(base, prepared_dataset, output, "--max_steps", "2", "--eval_strategy", "no")
    command += ["--save_strategy", "no", "--merge", "true"]
    result = _run(command, env={"DS_ACCELERATOR": "cpu"}, timeout=300)
    share = re.search(
        r"Trainable parameters: [0-9,]+ of [0-9,]+ \(([0-9.]+)%\)", result.stdout + result.stderr
    )
    assert share and 0 < float(share.group(1)) < 100, "ZeRO-3 partitions must not read as 100 % trainable"

    ids = torch.arange(20).unsqueeze(0)
    adapted = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(base), output)
    merged = AutoModelForImageTextToText.from_pretrained(output / "merged")
    torch.testing.assert_close(
        merged(input_ids=ids).logits, adapted(input_ids=ids).logits, atol=1e-4, rtol=1e-4
    )


@pytest.mark.slow
def test_interrupted_run_resumes_from_last_checkpoint(
    tmp_path: Path, tiny_model_dirs, prepared_dataset: Path
):
    base = tiny_model_dirs["qwen2_vl"]
    output = tmp_path / "run"
    common = ["--eval_strategy", "no", "--save_steps", "2"]
    _run([sys.executable, *_run_args(base, prepared_dataset, output, "--max_steps", "4", *common)])
    _kill_while_saving(output / "checkpoint-4")
    result = _run(
        [
            sys.executable,
            *_run_args(base, prepared_dataset, output, "--max_steps", "6", "--merge", "true", *common),
        ]
    )
    log = result.stdout + result.stderr
    assert f"Passing over incomplete {output / 'checkpoint-4'}" in log
    assert f"Resuming from {output / 'checkpoint-2'}" in log
    assert json.loads((output / "trainer_state.json").read_text())["global_step"] == 6

    # --merge: the merged model alone gives the same outputs as base + adapter
    ids = torch.arange(20).unsqueeze(0)
    adapted = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(base), output)
    merged = AutoModelForImageTextToText.from_pretrained(output / "merged")
    torch.testing.assert_close(
        merged(input_ids=ids).logits, adapted(input_ids=ids).logits, atol=1e-4, rtol=1e-4
    )
