"""Each family's tiny model, with the real checkpoint's processor, on clips the size of the real data.

The tiny models differ from `Qwen/*-VL-*-Instruct` only in network size, so what breaks a real
checkpoint breaks here: Qwen3-VL's processor re-sampling frames it is given (IndexError past the
16 frames of a 30-60 frame clip), 32-pixel frame multiples, per-frame timestamps. 1280x960 at
60 fps is how VideoBadminton was filmed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from shuttlesense import cli, labels
from shuttlesense.data.loading import load_split
from shuttlesense.inference.conversation import prompt_text, video_processor_kwargs
from shuttlesense.inference.recognizer import QwenVLActionRecognizer
from shuttlesense.synthetic.tiny_models import FAMILIES

REPO = Path(__file__).resolve().parents[1]
TRAIN = ["--max_steps", "2", "--per_device_train_batch_size", "2", "--num_frames", "16"]
TRAIN += ["--max_pixels", str(448 * 448), "--max_length", "4096", "--eval_strategy", "no"]
TRAIN += ["--save_strategy", "no", "--logging_steps", "1", "--report_to", "none"]


@pytest.fixture(scope="module", params=FAMILIES)
def trained(request, tiny_model_dirs, full_size_dataset, tmp_path_factory) -> tuple[str, Path]:
    """Two LoRA steps on the full-size clips with the tiny recipe (16 frames at a 448x448 budget)."""
    family = request.param
    output = tmp_path_factory.mktemp(f"full-size-{family}")
    command = [sys.executable, str(REPO / "recipes" / "sft_lora.py")]
    command += ["--config", str(REPO / "recipes" / "tiny" / "sft_lora.yaml")]
    command += [
        "--model_name_or_path",
        str(tiny_model_dirs[family]),
        "--dataset_name",
        str(full_size_dataset),
    ]
    command += ["--output_dir", str(output), *TRAIN]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return family, output


def test_trains_two_steps_on_full_size_clips(trained):
    _, adapter = trained
    state = json.loads((adapter / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    assert all(entry["loss"] > 0 for entry in state["log_history"] if "loss" in entry)
    assert (adapter / "adapter_model.safetensors").is_file()


def test_predicts_with_frames_decoded_once_on_the_family_grid(trained, full_size_dataset):
    family, adapter = trained
    recognizer = QwenVLActionRecognizer(str(adapter))
    assert (recognizer.sampling.num_frames, recognizer.language) == (16, "zh")  # from training_config.json
    row = next(r for r in load_split(str(full_size_dataset), "train") if r["num_frames"] >= 40)
    clip = recognizer.load_clip(row["video"]["bytes"])
    assert len(clip.frames) == 16 and clip.total_frames == row["num_frames"] >= 40
    height, width = clip.frames.shape[1:3]
    video = recognizer.processor.video_processor
    assert height % recognizer.grid.multiple == 0 == width % recognizer.grid.multiple
    assert recognizer.grid.multiple == video.patch_size * video.merge_size  # 32 for Qwen3-VL, 28 else
    assert height * width <= 448 * 448

    inputs = recognizer.processor(
        text=[prompt_text(recognizer.processor, "zh")],
        videos=[clip.frames],
        return_tensors="pt",
        **video_processor_kwargs(recognizer.processor, [clip]),
    )
    t, h, w = inputs["video_grid_thw"][0].tolist()
    assert (t, h * video.patch_size, w * video.patch_size) == (8, height, width), "no second resize"
    if family == "qwen3_vl":  # per-frame-pair timestamps from the clip's real fps and frame positions
        text = recognizer.processor.tokenizer.decode(inputs["input_ids"][0])
        stamps = [float(s) for s in re.findall(r"<([0-9.]+) seconds>", text)]
        expected = [(clip.indices[i] + clip.indices[i + 1]) / 2 / clip.fps for i in range(0, 16, 2)]
        assert stamps == pytest.approx(expected, abs=0.051)

    result = recognizer.recognize_action(row["video"]["bytes"])
    assert sum(result["probabilities"].values()) == pytest.approx(1.0)
    assert result["predicted_action_zh"] == labels.by_name(result["predicted_action"]).zh


def test_evaluates_full_size_clips(trained, full_size_dataset, tmp_path, capsys):
    _, adapter = trained
    out = tmp_path / "evaluation"
    argv = ["evaluate", "--model-path", str(adapter), "--dataset", str(full_size_dataset)]
    argv += ["--split", "train", "--output-dir", str(out), "--limit", "2"]
    assert cli.main(argv) == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_evaluated"] == 2 and metrics["num_failed"] == 0
