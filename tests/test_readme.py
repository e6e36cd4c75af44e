"""The README's commands cannot drift: every `shuttlesense` and `accelerate launch recipes/...` line parses.

Each command line shown in a README code block is parsed by the real argument parser of that
command (nothing is run), so a renamed or removed option fails here.
"""

import importlib
import re
import shlex
from pathlib import Path

import pytest
from transformers import HfArgumentParser
from trl import SFTConfig, TrlParser

from shuttlesense.cli import COMMANDS, positional_to_option
from shuttlesense.training.config import VideoModelConfig, VideoScriptArguments
from shuttlesense.training.videomae import make_parser as make_videomae_parser

REPO = Path(__file__).resolve().parents[1]
ARGUMENTS = {
    "tiny-model": "TinyModelArguments",
    "synth": "SynthArguments",
    "prepare": "PrepareArguments",
    "predict": "PredictArguments",
    "evaluate": "EvaluateArguments",
    "merge": "MergeArguments",
    "demo": "DemoArguments",
    "analyze": "AnalyzeArguments",
    "serve": "ServeArguments",
}


ENTRY_SCRIPTS = ("recipes/sft_lora.py", "recipes/videomae.py")


def _command_lines() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].split(" > ")[0].strip()
            launches = line.startswith(("accelerate launch", "DS_ACCELERATOR")) and any(
                script in line for script in ENTRY_SCRIPTS
            )
            if (line.startswith("shuttlesense ") or launches) and "..." not in line:
                lines.append(line)
    return lines


LINES = _command_lines()


def test_readme_shows_every_command():
    shown = {shlex.split(line)[1] for line in LINES if line.startswith("shuttlesense ")}
    assert shown >= set(ARGUMENTS) - {"demo"}
    assert set(ARGUMENTS) == set(COMMANDS), "every CLI command has its arguments class listed here"


@pytest.mark.parametrize("line", LINES)
def test_readme_command_parses(line: str, tmp_path: Path):
    words = shlex.split(line.replace("<you>", "someone"))
    if words[0] == "shuttlesense":
        module = importlib.import_module(COMMANDS[words[1]][0])
        parser = HfArgumentParser(getattr(module, ARGUMENTS[words[1]]))
        args = words[2:]
        if hasattr(module, "POSITIONAL"):
            args = positional_to_option(args, module.POSITIONAL)
        parser.parse_args_into_dataclasses(args=args)
    else:  # accelerate launch ... recipes/<entry>.py --config ... [overrides]
        script = next(word for word in words if word in ENTRY_SCRIPTS)
        script_args = words[words.index(script) + 1 :]
        assert (REPO / words[words.index("--config_file") + 1]).is_file(), "accelerate config exists"
        cpu = ["--use_cpu", "true", "--bf16", "false", "--fp16", "false", "--output_dir", str(tmp_path)]
        if script.endswith("videomae.py"):
            parser = make_videomae_parser()
        else:
            parser = TrlParser((VideoScriptArguments, SFTConfig, VideoModelConfig))
        script_args[script_args.index("--config") + 1] = str(
            REPO / script_args[script_args.index("--config") + 1]
        )
        parser.parse_args_and_config(args=script_args + cpu)
