"""QwenVLActionRecognizer: result contract, input kinds, adapter / merged / full models, clear errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import decord
import numpy as np
import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForImageTextToText

from shuttlesense import labels
from shuttlesense.data.video_io import decode_frames, fit_to_pixel_budget
from shuttlesense.inference.conversation import answer_token_ids
from shuttlesense.inference.recognizer import QwenVLActionRecognizer
from shuttlesense.synthetic.tiny_models import FAMILIES, build_tiny_videomae
from shuttlesense.training.merge import main as merge_main
from shuttlesense.training.model_utils import LORA_TARGETS


@pytest.fixture(scope="module")
def clip_path(synthetic_source: Path) -> Path:
    return sorted(synthetic_source.rglob("*.mp4"))[0]


@pytest.fixture(scope="module")
def recognizer(tiny_model_dirs) -> QwenVLActionRecognizer:
    return QwenVLActionRecognizer(str(tiny_model_dirs["qwen2_5_vl"]), language="en", num_frames=8)


def _make_adapter(base: Path, target: Path, with_processor: bool = False) -> Path:
    """A LoRA adapter on `base` whose B matrices are random, so it really changes the model."""
    model = AutoModelForImageTextToText.from_pretrained(base)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=LORA_TARGETS["language"]))
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.5)
    peft_model.save_pretrained(target)
    if with_processor:
        from transformers import AutoProcessor

        AutoProcessor.from_pretrained(base).save_pretrained(target)
    return target


@pytest.fixture(scope="module")
def adapter_dir(tiny_model_dirs, tmp_path_factory) -> Path:
    return _make_adapter(tiny_model_dirs["qwen2_vl"], tmp_path_factory.mktemp("adapter") / "lora")


def test_result_contract(recognizer, clip_path):
    result = recognizer.recognize_action(clip_path, top_k=3)
    probs = result["probabilities"]
    assert list(probs) == labels.CLASS_NAMES_EN
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-9)
    best = max(probs, key=probs.get)
    assert result["predicted_action"] == best
    assert result["class_id"] == labels.CLASS_NAMES_EN.index(best)
    assert result["predicted_action_zh"] == labels.by_name(best).zh
    assert result["confidence"] == pytest.approx(probs[best])
    assert [e["action"] for e in result["top_k"]] == sorted(probs, key=probs.get, reverse=True)[:3]
    assert set(result["timing"]) == {"decode_s", "model_s", "total_s"}
    assert result["mode"] == "score"
    # softmax over the log-likelihoods
    ll = torch.tensor(list(result["log_likelihoods"].values()), dtype=torch.float64)
    np.testing.assert_allclose(torch.softmax(ll, 0).numpy(), list(probs.values()), atol=1e-12)


@pytest.mark.parametrize("family", FAMILIES)
def test_path_bytes_frames_agree(tiny_model_dirs, clip_path, family):
    """A file, its bytes and its frames (+ fps) are the same clip, metadata included (Qwen3-VL)."""
    recognizer = QwenVLActionRecognizer(str(tiny_model_dirs[family]), language="en", num_frames=8)
    reader = decord.VideoReader(str(clip_path))
    frames, fps = reader.get_batch(list(range(len(reader)))).asnumpy(), reader.get_avg_fps()
    inputs = {
        "path": str(clip_path),
        "pathlib": clip_path,
        "bytes": clip_path.read_bytes(),
        "decoded": decode_frames(clip_path, num_frames=8, max_pixels=448 * 448, grid=recognizer.grid),
    }
    reference = np.array(list(recognizer.recognize_action(frames, fps=fps)["probabilities"].values()))
    height, width = frames.shape[1:3]
    # Files are scaled in the decoder, frame arrays by torch: equal when no scaling is needed (sides
    # already on the grid, 112x84 for patch 14), close when it is (Qwen3-VL: 128x96).
    on_grid = fit_to_pixel_budget(width, height, 448 * 448, recognizer.grid.multiple) == (width, height)
    for kind, video in inputs.items():
        probs = np.array(list(recognizer.recognize_action(video)["probabilities"].values()))
        np.testing.assert_allclose(probs, reference, atol=1e-6 if on_grid else 2e-3, err_msg=kind)


def test_frames_are_sampled_and_scaled(recognizer):
    frames = np.random.default_rng(0).integers(0, 255, (30, 240, 320, 3), dtype=np.uint8)
    clip = recognizer.load_clip(frames, fps=60)
    assert clip.frames.shape == (8, 252, 308, 3)  # 8 frames, sides rounded to multiples of 28
    assert clip.fps == 60 and clip.total_frames == 30
    with pytest.raises(ValueError, match="uint8"):
        recognizer.load_clip(frames.astype(np.float32))
    with pytest.raises(TypeError, match="path, bytes"):
        recognizer.load_clip(42)


def test_recognize_actions_records_bad_clips(recognizer, clip_path):
    results = recognizer.recognize_actions([clip_path, b"not a video"], batch_size=4, errors="record")
    assert results[0]["predicted_action"] in labels.CLASS_NAMES_EN
    assert results[1]["error_type"] == "VideoDecodeError"
    with pytest.raises(ValueError):
        recognizer.recognize_actions([b"not a video"])


def test_adapter_loads_and_changes_predictions(tiny_model_dirs, adapter_dir, clip_path):
    base = QwenVLActionRecognizer(str(tiny_model_dirs["qwen2_vl"]), language="en")
    tuned = QwenVLActionRecognizer(str(adapter_dir), language="en")
    assert tuned.base_model == str(tiny_model_dirs["qwen2_vl"])
    assert tuned.source.adapter == str(adapter_dir)
    unmerged = QwenVLActionRecognizer(str(adapter_dir), language="en", merge_lora=False)
    p_base, p_tuned, p_unmerged = (
        np.array(list(r.recognize_action(clip_path)["probabilities"].values()))
        for r in (base, tuned, unmerged)
    )
    assert np.abs(p_tuned - p_base).max() > 1e-3
    np.testing.assert_allclose(p_tuned, p_unmerged, atol=1e-5)


def test_merge_command(adapter_dir, clip_path, tmp_path):
    out = tmp_path / "merged"
    assert merge_main(["--adapter", str(adapter_dir), "--output", str(out)]) == 0
    merged = QwenVLActionRecognizer(str(out), language="en")
    assert merged.source.adapter is None
    tuned = QwenVLActionRecognizer(str(adapter_dir), language="en")
    a, b = (np.array(list(r.recognize_action(clip_path)["probabilities"].values())) for r in (merged, tuned))
    np.testing.assert_allclose(a, b, atol=1e-5)
    with pytest.raises(FileExistsError, match="overwrite"):
        merge_main(["--adapter", str(adapter_dir), "--output", str(out)])
    assert merge_main(["--adapter", str(adapter_dir), "--output", str(out), "--overwrite"]) == 0  # its own
    other = tmp_path / "merged-again"
    assert merge_main(["--adapter", str(adapter_dir), "--output", str(other)]) == 0
    before = sorted(p.name for p in other.iterdir())
    with pytest.raises(ValueError, match="nothing to merge"):  # a full model: the earlier merge stays
        merge_main(["--adapter", str(out), "--output", str(other), "--overwrite"])
    assert sorted(p.name for p in other.iterdir()) == before
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text("{}")
    with pytest.raises(FileExistsError, match="not written by `shuttlesense merge`"):
        merge_main(["--adapter", str(adapter_dir), "--output", str(mine), "--overwrite"])
    with pytest.raises(ValueError, match="over its input"):
        merge_main(["--adapter", str(adapter_dir), "--output", str(adapter_dir / "merged")])
    assert (mine / "config.json").read_text() == "{}" and not (adapter_dir / "merged").exists()


def test_adapter_with_missing_base_is_explained(adapter_dir, tiny_model_dirs, tmp_path):
    moved = tmp_path / "adapter"
    shutil.copytree(adapter_dir, moved)
    config_file = moved / "adapter_config.json"
    config = json.loads(config_file.read_text())
    config["base_model_name_or_path"] = "/nonexistent/qwen2-vl-base"
    config_file.write_text(json.dumps(config))
    with pytest.raises(FileNotFoundError) as info:
        QwenVLActionRecognizer(str(moved))
    message = str(info.value)
    assert "/nonexistent/qwen2-vl-base" in message and "base_model=" in message and "--base-model" in message
    # the override fixes it
    recognizer = QwenVLActionRecognizer(
        str(moved), base_model=str(tiny_model_dirs["qwen2_vl"]), language="en"
    )
    assert recognizer.base_model == str(tiny_model_dirs["qwen2_vl"])


def test_adapter_processor_preferred(tiny_model_dirs, tmp_path):
    adapter = _make_adapter(tiny_model_dirs["qwen3_vl"], tmp_path / "lora", with_processor=True)
    recognizer = QwenVLActionRecognizer(str(adapter), language="zh")
    assert recognizer.source.processor_path == str(adapter)
    assert len(recognizer.candidates) == 18


def test_missing_path_and_bad_models(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        QwenVLActionRecognizer(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="adapter_config.json"):
        QwenVLActionRecognizer(str(tmp_path / "empty"))
    videomae = build_tiny_videomae(tmp_path / "videomae")
    with pytest.raises(ValueError, match="Qwen-VL"):
        QwenVLActionRecognizer(str(videomae))


def test_bad_options(tiny_model_dirs):
    path = str(tiny_model_dirs["qwen2_vl"])
    with pytest.raises(ValueError, match="mode"):
        QwenVLActionRecognizer(path, mode="vote")
    with pytest.raises(ValueError, match="language"):
        QwenVLActionRecognizer(path, language="fr")
    with pytest.raises(ValueError, match="dtype"):
        QwenVLActionRecognizer(path, dtype="float13")


def test_generate_mode(tiny_model_dirs, clip_path):
    recognizer = QwenVLActionRecognizer(str(tiny_model_dirs["qwen2_vl"]), mode="generate", num_frames=4)
    result = recognizer.recognize_action(clip_path)
    assert isinstance(result["generated_text"], str) and result["mode"] == "generate"
    assert sum(result["probabilities"].values()) == pytest.approx(1.0)
    assert result["matched"] == (result["predicted_action"] is not None)


def test_import_is_lazy():
    """`import shuttlesense` stays light; the recognizer (torch, transformers) loads on first access."""
    code = "import sys, shuttlesense; assert 'torch' not in sys.modules; print(shuttlesense.__all__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "QwenVLActionRecognizer" in out.stdout
    import shuttlesense

    assert shuttlesense.QwenVLActionRecognizer is QwenVLActionRecognizer


def test_prompt_and_sampling_default_to_the_adapters_training_config(tiny_model_dirs, tmp_path, clip_path):
    adapter = _make_adapter(tiny_model_dirs["qwen2_5_vl"], tmp_path / "lora")
    trained = {"language": "en", "num_frames": 6, "max_pixels": 56 * 56, "fps": None, "min_frames": 4}
    (adapter / "training_config.json").write_text(json.dumps({"script": trained, "training": {}}))
    recognizer = QwenVLActionRecognizer(str(adapter))
    assert recognizer.language == "en"
    assert (recognizer.sampling.num_frames, recognizer.sampling.max_pixels) == (6, 56 * 56)
    assert len(recognizer.load_clip(clip_path).frames) == 6
    explicit = QwenVLActionRecognizer(str(adapter), language="zh", num_frames=4)
    assert explicit.language == "zh" and explicit.sampling.num_frames == 4
    assert explicit.sampling.max_pixels == 56 * 56  # what was not given still comes from training


def test_without_training_config_the_documented_defaults_apply(tiny_model_dirs):
    recognizer = QwenVLActionRecognizer(str(tiny_model_dirs["qwen2_vl"]))
    assert recognizer.language == "zh"
    assert (recognizer.sampling.num_frames, recognizer.sampling.max_pixels) == (16, 448 * 448)


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (None, labels.CLASS_NAMES_ZH),  # an adapter from the original scripts: the original table
        ({"script": {"language": "zh"}}, labels.LEGACY_CLASS_NAMES_ZH),  # trained before the table
        ({"script": {}, "class_names": {"zh": labels.CLASS_NAMES_ZH}}, labels.CLASS_NAMES_ZH),
    ],
)
def test_scoring_uses_the_class_names_the_adapter_was_trained_on(tiny_model_dirs, tmp_path, record, expected):
    adapter = _make_adapter(tiny_model_dirs["qwen2_5_vl"], tmp_path / "lora")
    if record is not None:
        (adapter / "training_config.json").write_text(json.dumps(record, ensure_ascii=False))
    recognizer = QwenVLActionRecognizer(str(adapter), num_frames=2)
    assert recognizer.class_names == list(expected)
    expected_ids = [answer_token_ids(recognizer.processor, "zh", name) for name in expected]
    assert recognizer.candidates == expected_ids
    english = QwenVLActionRecognizer(str(adapter), num_frames=2, language="en")
    assert english.class_names == labels.CLASS_NAMES_EN


def test_a_recorded_class_table_that_does_not_match_the_classes_is_refused(tiny_model_dirs, tmp_path):
    adapter = _make_adapter(tiny_model_dirs["qwen2_5_vl"], tmp_path / "lora")
    swapped = [labels.CLASS_NAMES_ZH[1], labels.CLASS_NAMES_ZH[0], *labels.CLASS_NAMES_ZH[2:]]
    record = {"script": {}, "class_names": {"zh": swapped}}
    (adapter / "training_config.json").write_text(json.dumps(record, ensure_ascii=False))
    with pytest.raises(ValueError, match=r"training_config.json: '斜线飞行' is not a name of class 00"):
        QwenVLActionRecognizer(str(adapter), num_frames=2)


def test_gpu_half_precision_is_bf16_only_where_it_is_native(monkeypatch):
    from shuttlesense.inference.recognizer import resolve_device_dtype

    # A T4 or V100: torch reports bf16 as supported when emulation counts, and emulation is slow.
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert resolve_device_dtype("cuda", None) == ("cuda", torch.float16)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)  # Ampere+
    assert resolve_device_dtype("cuda:1", None) == ("cuda:1", torch.bfloat16)
    assert resolve_device_dtype("cpu", None) == ("cpu", torch.float32)
