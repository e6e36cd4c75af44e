"""Figures are real PNGs of readable size; the report states baselines, split and tiny-model warnings."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shuttlesense.evaluation.metrics import classification_metrics
from shuttlesense.evaluation.report import (
    plot_confusion_matrix,
    plot_per_class_accuracy,
    read_split_method,
    render_markdown_report,
    write_markdown_report,
)
from shuttlesense.inference.model_source import tiny_model_kind
from shuttlesense.labels import NUM_CLASSES


@pytest.fixture(scope="module")
def realistic_metrics() -> dict:
    """A plausible 18-class result: mostly right, imbalanced, two classes absent."""
    rng = np.random.default_rng(1)
    present = [c for c in range(NUM_CLASSES) if c not in (7, 16)]
    y = rng.choice(present, size=400, p=rng.dirichlet(np.ones(len(present)) * 2))
    logits = rng.normal(size=(len(y), NUM_CLASSES))
    logits[np.arange(len(y)), y] += rng.uniform(0.5, 4.0, size=NUM_CLASSES)[y]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return classification_metrics(y.tolist(), probs)


def assert_png(path: Path, min_size: tuple[int, int]) -> None:
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width >= min_size[0] and image.height >= min_size[1], image.size
        assert image.width <= 3000 and image.height <= 3000, image.size
    assert 10_000 < path.stat().st_size < 2_000_000


def test_figures_are_valid_pngs_of_readable_size(tmp_path: Path, realistic_metrics: dict):
    cm_path = plot_confusion_matrix(realistic_metrics["confusion_matrix"], tmp_path / "figs" / "cm.png")
    bars_path = plot_per_class_accuracy(realistic_metrics, tmp_path / "bars.png")
    assert_png(cm_path, (1000, 900))
    assert_png(bars_path, (900, 600))


def test_report_compares_with_baselines_and_names_the_split(realistic_metrics: dict):
    text = render_markdown_report(realistic_metrics, "out/adapter", "data/vb", "test", "session")
    for baseline in ("SlowFast | official / test | 82.80 | 73.80", "Video Swin", "PoseC3D", "TimeSformer"):
        assert baseline in text
    assert f"**{realistic_metrics['top1'] * 100:.2f}**" in text
    assert "Split method: **session**" in text and "not directly comparable" in text
    assert "16 of 18 classes" in text
    assert "noise" not in text
    assert "Most frequent confusions" in text and "![confusion matrix](confusion_matrix.png)" in text


def test_report_warns_about_tiny_random_models(tmp_path: Path, realistic_metrics: dict):
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    (tiny / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl", "shuttlesense_tiny": True}))
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(tiny)}))
    assert tiny_model_kind(tiny) == "random"
    assert tiny_model_kind(adapter) == "tiny-base"
    assert tiny_model_kind(tmp_path / "nothing-here") is None
    fine_tuned = tmp_path / "fine-tuned"  # a full fine-tune keeps the marker in its config
    shutil.copytree(tiny, fine_tuned)
    (fine_tuned / "training_config.json").write_text("{}")
    assert tiny_model_kind(fine_tuned) == "tiny-base"
    assert tiny_model_kind("Qwen/Qwen2.5-VL-7B-Instruct") is None

    path = write_markdown_report(
        realistic_metrics, tmp_path / "report.md", str(tiny), "d", "test", "official"
    )
    text = path.read_text()
    assert "tiny RANDOMLY initialised" in text and "noise" in text
    assert "Split method: **official**" in text and "the same as the baselines" in text
    adapter_text = render_markdown_report(realistic_metrics, str(adapter), "d", "test", None, "tiny-base")
    assert "tiny random test base" in adapter_text and "Split method: **unknown**" in adapter_text


def test_split_method_comes_from_dataset_stats(prepared_dataset: Path, tmp_path: Path):
    assert read_split_method(prepared_dataset) == "session"
    assert read_split_method(tmp_path) is None
