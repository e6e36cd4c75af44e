"""VideoMAE: the recipe trains and resumes, the recogniser reads its output, wrong models are refused."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import decord
import numpy as np
import pytest
import torch
import yaml
from transformers import AutoConfig, AutoModelForVideoClassification

from shuttlesense import labels
from shuttlesense.data.video_io import VideoDecodeError, decode_frames
from shuttlesense.inference.videomae import VideoMAEActionRecognizer, default_max_pixels
from shuttlesense.synthetic.tiny_models import build_tiny_videomae
from shuttlesense.training.videomae import (
    VideoMAEModelArguments,
    VideoMAEScriptArguments,
    classification_metrics,
    get_collator,
    get_image_processor,
    get_videomae_model,
    make_parser,
)

REPO = Path(__file__).resolve().parents[2]
RECIPES = sorted(REPO.glob("recipes/*/videomae.yaml"))
CPU_OVERRIDES = ["--use_cpu", "true", "--bf16", "false", "--fp16", "false"]  # GPU recipes on a CPU machine
QUICK = [
    "--max_steps", "4", "--save_steps", "2", "--eval_steps", "2", "--logging_steps", "1",
    "--per_device_train_batch_size", "4", "--per_device_eval_batch_size", "8", "--warmup_steps", "0",
]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_videomae(tmp_path_factory) -> Path:
    return build_tiny_videomae(
        tmp_path_factory.mktemp("videomae") / "tiny", seed=0, num_frames=8, image_size=56
    )


@pytest.fixture(scope="module")
def clip_path(synthetic_source: Path) -> Path:
    return sorted(synthetic_source.rglob("*.mp4"))[0]


def _recipe_args(model: Path, dataset: Path, output: Path, *extra: str) -> list[str]:
    return [
        "--config", str(REPO / "recipes" / "tiny" / "videomae.yaml"),
        "--model_name_or_path", str(model),
        "--dataset_name", str(dataset),
        "--output_dir", str(output),
        *QUICK,
        *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_videomae: Path, prepared_dataset: Path) -> Path:
    """The real entry script, run as users run it: 4 steps, checkpoints at 2 and 4, eval every 2."""
    output = tmp_path_factory.mktemp("videomae-run") / "out"
    command = [sys.executable, str(REPO / "recipes" / "videomae.py")]
    command += _recipe_args(tiny_videomae, prepared_dataset, output)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return output


def _load_recipe_module():
    spec = importlib.util.spec_from_file_location("videomae_recipe", REPO / "recipes" / "videomae.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _probs(result: dict) -> np.ndarray:
    return np.array([result["probabilities"][name] for name in labels.CLASS_NAMES_EN])


def test_recipe_trains_saves_and_recognizer_reads_it(trained: Path, tiny_videomae: Path, clip_path: Path):
    for name in (
        "model.safetensors",
        "config.json",
        "preprocessor_config.json",
        "training_config.json",
        "README.md",
        "eval_results.json",
    ):
        assert (trained / name).is_file(), name
    assert json.loads((trained / "trainer_state.json").read_text())["global_step"] == 4
    assert {"eval_accuracy", "eval_mean_class_accuracy"} <= json.loads(
        (trained / "eval_results.json").read_text()
    ).keys()
    config = json.loads((trained / "training_config.json").read_text())
    assert (
        config["model"]["model_name_or_path"] == str(tiny_videomae) and config["training"]["max_steps"] == 4
    )
    card = (trained / "README.md").read_text()
    assert "This is a toy" in card and "recipes/videomae.py" in card and "mean_class_accuracy" in card

    before = AutoModelForVideoClassification.from_pretrained(tiny_videomae).classifier.weight
    after = AutoModelForVideoClassification.from_pretrained(trained).classifier.weight
    assert not torch.equal(before, after), "training must change the weights"

    recognizer = VideoMAEActionRecognizer(trained, device="cpu")
    result = recognizer.recognize_action(clip_path, top_k=3)
    probs = _probs(result)
    assert len(result["probabilities"]) == 18 and probs.sum() == pytest.approx(1.0, abs=1e-9)
    assert result["class_id"] == int(np.argmax(probs))
    assert result["predicted_action"] == labels.CLASS_NAMES_EN[result["class_id"]]
    assert result["predicted_action_zh"] == labels.by_name(result["predicted_action"]).zh
    assert result["confidence"] == pytest.approx(probs.max()) and len(result["top_k"]) == 3
    assert result["model"] == "videomae" and result["timing"]["total_s"] > 0


def test_interrupted_run_resumes_from_last_checkpoint(
    trained: Path, tiny_videomae: Path, prepared_dataset: Path, tmp_path: Path, caplog
):
    output = tmp_path / "out"
    shutil.copytree(trained, output)
    recipe = _load_recipe_module()
    args = make_parser().parse_args_and_config(
        _recipe_args(tiny_videomae, prepared_dataset, output, "--max_steps", "6", "--eval_strategy", "no")
    )
    caplog.set_level(logging.INFO, logger="shuttlesense")
    recipe.main(*args)
    assert f"Resuming from {output / 'checkpoint-4'}" in caplog.text
    assert json.loads((output / "trainer_state.json").read_text())["global_step"] == 6


def _relabel(model_dir: Path, names: list[str]) -> Path:
    config = AutoConfig.from_pretrained(model_dir)
    config.id2label = dict(enumerate(names))
    config.label2id = {name: i for i, name in enumerate(names)}
    config.save_pretrained(model_dir)
    return model_dir


def test_model_with_other_labels_is_refused_and_gets_a_new_head_for_training(tmp_path: Path):
    kinetics = [f"kinetics action {i}" for i in range(18)]
    path = _relabel(build_tiny_videomae(tmp_path / "kinetics"), kinetics)
    with pytest.raises(ValueError, match="not a badminton stroke classifier") as error:
        VideoMAEActionRecognizer(path)
    assert str(path) in str(error.value)
    with pytest.raises(FileNotFoundError, match="not found"):
        VideoMAEActionRecognizer(tmp_path / "missing")

    old_head = AutoModelForVideoClassification.from_pretrained(path).classifier.weight
    model = get_videomae_model(VideoMAEModelArguments(model_name_or_path=str(path)))
    assert [model.config.id2label[i] for i in range(18)] == labels.CLASS_NAMES_EN
    assert not torch.equal(model.classifier.weight, old_head), (
        "a head trained on other labels is re-initialised"
    )

    config = AutoConfig.from_pretrained(path)
    config.id2label = {i: f"other {i}" for i in range(5)}
    config.label2id = {v: k for k, v in config.id2label.items()}
    five = tmp_path / "five"
    AutoModelForVideoClassification.from_config(config).save_pretrained(five)
    get_image_processor(VideoMAEModelArguments(model_name_or_path=str(path))).save_pretrained(five)
    model = get_videomae_model(VideoMAEModelArguments(model_name_or_path=str(five)))
    assert model.classifier.out_features == 18 and model.config.num_labels == 18


def test_shuffled_stroke_labels_are_mapped_by_name(tmp_path: Path, clip_path: Path):
    base = build_tiny_videomae(tmp_path / "base")
    shuffled = build_tiny_videomae(tmp_path / "shuffled")
    order = np.random.default_rng(0).permutation(18)
    state = AutoModelForVideoClassification.from_pretrained(shuffled)
    with torch.no_grad():  # output index i now holds class order[i]
        state.classifier.weight.copy_(state.classifier.weight[order])
        state.classifier.bias.copy_(state.classifier.bias[order])
    state.config.id2label = {i: labels.CLASS_NAMES_ZH[c] for i, c in enumerate(order)}
    state.config.label2id = {v: k for k, v in state.config.id2label.items()}
    state.save_pretrained(shuffled)
    a, b = (_probs(VideoMAEActionRecognizer(p).recognize_action(clip_path)) for p in (base, shuffled))
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_path_bytes_frames_agree(tiny_videomae: Path, clip_path: Path):
    reader = decord.VideoReader(str(clip_path))
    frames = reader.get_batch(list(range(len(reader)))).asnumpy()
    height, width = frames.shape[1:3]
    recognizer = VideoMAEActionRecognizer(tiny_videomae, max_pixels=width * height)  # no scaling: exact
    reference = _probs(recognizer.recognize_action(frames, fps=reader.get_avg_fps()))
    inputs = {
        "path": str(clip_path),
        "pathlib": clip_path,
        "bytes": clip_path.read_bytes(),
        "decoded": decode_frames(clip_path, num_frames=8, max_pixels=None),
        "decoded-more-frames": decode_frames(clip_path, num_frames=len(reader), max_pixels=None),
    }
    for kind, video in inputs.items():
        np.testing.assert_allclose(
            _probs(recognizer.recognize_action(video)), reference, atol=1e-6, err_msg=kind
        )

    default = VideoMAEActionRecognizer(tiny_videomae)
    assert default.max_pixels == 2 * 56 * 56 == default_max_pixels(default.processor)
    assert (
        default.load_clip(frames).frames.shape == default.load_clip(clip_path).frames.shape == (8, 56, 84, 3)
    )


def test_recognize_actions_batches_and_records_errors(
    tiny_videomae: Path, clip_path: Path, synthetic_source: Path
):
    recognizer = VideoMAEActionRecognizer(tiny_videomae)
    clips = sorted(synthetic_source.rglob("*.mp4"))[:3]
    results = recognizer.recognize_actions(
        [clips[0], b"not a video", clips[1], clips[2]], batch_size=2, errors="record"
    )
    assert [("error" in r) for r in results] == [False, True, False, False]
    assert results[1]["error_type"] == "VideoDecodeError"
    for clip, result in zip(clips, [results[0], *results[2:]], strict=True):
        np.testing.assert_allclose(_probs(result), _probs(recognizer.recognize_action(clip)), atol=1e-6)
    with pytest.raises(VideoDecodeError):
        recognizer.recognize_actions([b"not a video"])


def test_collator_names_a_corrupt_clip_and_checks_frames(tiny_videomae: Path, prepared_dataset: Path):
    model_args = VideoMAEModelArguments(model_name_or_path=str(tiny_videomae))
    model, processor = get_videomae_model(model_args), get_image_processor(model_args)
    collator = get_collator(model, processor, VideoMAEScriptArguments(dataset_name=str(prepared_dataset)))
    from shuttlesense.data.loading import load_split

    rows = [load_split(str(prepared_dataset), "train")[i] for i in range(2)]
    batch = collator(rows)
    assert batch["pixel_values"].shape == (2, 8, 3, 56, 56)
    assert batch["labels"].tolist() == [int(r["label"]) for r in rows]
    bad = {**rows[0], "id": "broken-clip-007", "video": {"bytes": b"garbage", "path": None}}
    with pytest.raises(VideoDecodeError, match="broken-clip-007"):
        collator([rows[1], bad])
    with pytest.raises(ValueError, match="exactly 8 frames"):
        get_collator(model, processor, VideoMAEScriptArguments(num_frames=16))


def test_classification_metrics():
    metrics = classification_metrics(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 2, 2]))
    assert metrics["accuracy"] == pytest.approx(5 / 6)
    assert metrics["mean_class_accuracy"] == pytest.approx((1 + 0.5 + 1) / 3)


def test_import_is_light_and_silent():
    code = "import sys, shuttlesense.inference.videomae; print(sorted({'torch', 'transformers'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "[]" and result.stderr == ""


def test_recipes_exist():
    assert {p.parent.name for p in RECIPES} >= {"tiny", "videomae_base"}


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.parent.name)
def test_every_videomae_recipe_parses(recipe: Path, tmp_path: Path):
    script, training, model = make_parser().parse_args_and_config(
        ["--config", str(recipe), "--output_dir", str(tmp_path), *CPU_OVERRIDES]
    )
    raw = yaml.safe_load(recipe.read_text())
    assert model.model_name_or_path == raw["model_name_or_path"]
    assert script.dataset_name == raw["dataset_name"]
    assert isinstance(raw.get("fp16"), bool) and isinstance(raw.get("bf16"), bool)
    assert recipe.read_text().startswith("#") and "Hardware:" in recipe.read_text()
    assert training.max_steps <= 1000 or recipe.parent.name != "tiny", "the CPU recipe must stay short"


def test_unknown_recipe_key_is_refused(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_name_or_path: x\nlora_r: 8\n")
    with pytest.raises(ValueError, match="lora_r"):
        make_parser().parse_args_and_config(
            ["--config", str(bad), "--output_dir", str(tmp_path), *CPU_OVERRIDES]
        )
