"""The rally pipeline end to end on synthetic rallies with known hits, with a tiny Qwen-VL."""

from __future__ import annotations

import logging
from pathlib import Path

import decord
import numpy as np
import pytest

from shuttlesense import labels
from shuttlesense.data.video_io import DecodedClip
from shuttlesense.data.video_writer import write_video
from shuttlesense.rally.config import SECTIONS, load_pipeline_config
from shuttlesense.rally.frame_collector import ClipSpec, FrameCollector
from shuttlesense.rally.hits import HitDetectionError, detect_hits
from shuttlesense.rally.pipeline import QwenVLEnhancedDetector, create_qwen_vl_enhanced_detector
from shuttlesense.rally.segments import make_segments
from shuttlesense.rally.timeline import plot_timeline
from shuttlesense.synthetic.match import write_synthetic_rally

NUM_HITS = 4


@pytest.fixture(scope="module")
def rally(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[float]]:
    path = tmp_path_factory.mktemp("rally") / "rally.mp4"
    info = write_synthetic_rally(path, num_hits=NUM_HITS, width=160, height=120, seed=3)
    return path, [hit["time"] for hit in info["hits"]]


@pytest.fixture(scope="module")
def detector(tiny_model_dirs) -> QwenVLEnhancedDetector:
    model = str(tiny_model_dirs["qwen2_5_vl"])
    return create_qwen_vl_enhanced_detector(
        {"qwen_vl": {"model_path": model, "language": "en", "num_frames": 4, "max_pixels": 56 * 56}}
    )


def _check_segment(segment: dict) -> None:
    assert segment["stroke"] in labels.CLASS_NAMES_EN
    assert labels.by_name(segment["stroke"]).zh == segment["stroke_zh"]
    assert 0.0 < segment["confidence"] <= 1.0 and segment["start"] <= segment["hit_time"] < segment["end"]
    top = segment["top_classes"]["qwen_vl"]
    assert top[0]["action"] == segment["stroke"] and top[0]["probability"] == pytest.approx(
        segment["confidence"]
    )
    assert all(a["probability"] >= b["probability"] for a, b in zip(top, top[1:], strict=False))


def test_one_segment_per_hit_with_valid_strokes(detector, rally, tmp_path: Path) -> None:
    path, truth = rally
    report = detector.process_video_with_action_recognition(path, clips_dir=tmp_path / "clips")
    assert report["total_hits"] == NUM_HITS == report["total_segments"]
    assert report["hit_detection"]["method"] == "audio"
    np.testing.assert_allclose(report["hit_detection"]["times"], truth, atol=0.05)
    for segment, hit in zip(report["segments"], report["hit_detection"]["times"], strict=True):
        _check_segment(segment)
        assert segment["hit_time"] == pytest.approx(hit, abs=1e-3)
        assert segment["decided_by"] == "qwen_vl" and segment["top_classes"]["videomae"] is None
        assert Path(segment["clip"]).is_file()
    assert any("tiny RANDOM" in note for note in report["notes"])
    assert any("VideoMAE disabled" in note for note in report["notes"])
    assert report["ensemble"] is False


def _segment_clips(path: Path, models: list) -> list:
    """Every segment's clip per model, as the pipeline's single decoding pass takes them."""
    segments = make_segments(detect_hits(path).times, None)
    specs = [ClipSpec(model.sampling, model.grid) for model in models]
    return [item.clips for item in FrameCollector(path, segments, specs)]


def test_a_segment_is_recognised_from_the_source_frames_its_clip_would_give(detector, rally) -> None:
    path, truth = rally
    report = detector.process_video_with_action_recognition(path)
    recognizer = detector.qwen_vl
    clips = [clips[0] for clips in _segment_clips(path, [recognizer])]
    segment, clip = report["segments"][1], clips[1]
    first = round(segment["start"] * 30)
    assert clip.total_frames == round((segment["end"] - segment["start"]) * 30)
    height, width = clip.frames.shape[1:3]
    reader = decord.VideoReader(str(path), width=width, height=height)  # how training decodes a clip
    source = reader.get_batch([first + i for i in clip.indices]).asnumpy()
    assert np.abs(source.astype(int) - clip.frames).mean() < 1.0
    direct = recognizer.recognize_action(DecodedClip(source, clip.indices, clip.fps, clip.total_frames))
    assert segment["confidence"] == pytest.approx(direct["probabilities"][segment["stroke"]], abs=0.02)
    assert [s["confidence"] for s in report["segments"]] == [
        round(recognizer.recognize_action(c)["confidence"], 6) for c in clips
    ]


def test_silent_rally_falls_back_to_visual_and_says_so(detector, tmp_path: Path) -> None:
    path = tmp_path / "silent.mp4"
    write_synthetic_rally(path, num_hits=3, width=160, height=120, seed=1, with_audio=False)
    report = detector.process_video_with_action_recognition(path)
    assert report["hit_detection"]["method"] == "visual"
    assert any("no audio track" in note and "used visual" in note for note in report["notes"])
    assert report["total_segments"] == report["total_hits"] > 0
    for segment in report["segments"]:
        _check_segment(segment)
        assert segment["clip"] is None  # no clips_dir: clips were temporary


def test_video_without_hits_gives_an_empty_report(detector, tmp_path: Path) -> None:
    frame = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    path = tmp_path / "static.mp4"
    write_video(path, (frame for _ in range(30)), 30)
    report = detector.process_video_with_action_recognition(path)
    assert report["total_hits"] == 0 and report["segments"] == []
    assert "no hit detected: no segments" in report["notes"]
    assert plot_timeline(report, tmp_path / "empty.png").stat().st_size > 0


def test_truncated_rally_is_a_clear_error(detector, rally, tmp_path: Path) -> None:
    broken = tmp_path / "cut_short.mp4"
    broken.write_bytes(rally[0].read_bytes()[:1500])
    with pytest.raises(HitDetectionError, match="cut_short.mp4"):
        detector.process_video_with_action_recognition(broken)


def test_timeline_picture_is_written(detector, rally, tmp_path: Path) -> None:
    report = detector.process_video_with_action_recognition(rally[0])
    png = plot_timeline(report, tmp_path / "timeline.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------- config


def test_missing_sections_use_defaults_with_a_warning(tmp_path: Path, caplog) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("qwen_vl:\n  model_path: some/model\n  confidence_threshold: 0.8\n")
    with caplog.at_level(logging.WARNING):
        config = load_pipeline_config(path)
    assert config.qwen_vl.confidence_threshold == 0.8 and config.videomae.enabled is False
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert str(path) in warning
    for section in SECTIONS[1:]:
        assert section in warning


def test_nested_hit_detection_settings_are_read(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "hit_detection:\n  method: audio\n  audio:\n    min_gap_s: 0.4\nsegmentation:\n  last_tail_s: 2\n"
    )
    config = load_pipeline_config(path)
    assert config.hit_detection.method == "audio" and config.hit_detection.audio.min_gap_s == 0.4
    assert config.segmentation.last_tail_s == 2


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("qwen_vl:\n  model_pth: x\n", r"Unknown key\(s\) \['model_pth'\] in .*config.yaml.qwen_vl"),
        ("qwen_vl: [1, 2]\n", "must be a mapping"),
        ("qwen_vl: {confidence_threshold: 1.5}\n", "confidence_threshold"),
        ("ensemble: {qwen_vl_weight: -1}\n", r"config.yaml.ensemble.qwen_vl_weight must not be negative"),
        ("qwen_vl: {model_path: x\n", "not valid YAML"),
        ("hit_detection: {audio: {min_gap_s: quarter}}\n", r"hit_detection.audio.min_gap_s must be a number"),
        ("top_k: three\n", r"config.yaml.top_k must be a whole number; got 'three'"),
        ("top_k: 0\n", "top_k must be at least 1"),
        ("videomae: {enabled: maybe}\n", r"videomae.enabled must be true or false; got 'maybe'"),
        ("segmentation: {max_length_s: -2}\n", "segmentation.max_length_s must not be negative"),
        ("segmentation: {max_length_s: 0}\n", "max_length_s > 0"),
        ("segmentation: {last_tail_s: -5}\n", "segmentation.last_tail_s must not be negative"),
        ("qwen_vl: {num_frames: 0}\n", "qwen_vl.num_frames must be at least 1"),
        ("qwen_vl: {num_frames: 2.5}\n", "qwen_vl.num_frames must be a whole number"),
        ("qwen_vl: {model_path: 7}\n", "qwen_vl.model_path must be text"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        load_pipeline_config(path)


def test_quoted_booleans_mean_what_they_say(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        'videomae: {enabled: "false"}\nqwen_vl: {use_ensemble: "True", confidence_threshold: 1}\n'
    )
    config = load_pipeline_config(path)
    assert config.videomae.enabled is False and config.qwen_vl.use_ensemble is True
    assert config.qwen_vl.confidence_threshold == 1.0 and isinstance(
        config.qwen_vl.confidence_threshold, float
    )


def test_config_file_not_found() -> None:
    with pytest.raises(FileNotFoundError, match="nowhere.yaml"):
        load_pipeline_config("nowhere.yaml")


def test_a_model_is_required() -> None:
    with pytest.raises(ValueError, match="model_path is not set"):
        create_qwen_vl_enhanced_detector({"qwen_vl": {"enabled": True}})
    with pytest.raises(ValueError, match="Neither model"):
        create_qwen_vl_enhanced_detector({"qwen_vl": {"enabled": False}})


def test_shipped_rally_config_parses_without_warnings(caplog) -> None:
    config_path = Path(__file__).resolve().parents[2] / "recipes" / "rally" / "config.yaml"
    with caplog.at_level(logging.WARNING):
        config = load_pipeline_config(config_path)
    assert caplog.records == []
    assert config.qwen_vl.use_ensemble and config.qwen_vl.confidence_threshold == 0.7


# ----------------------------------------------------------------------------- ensemble with VideoMAE


@pytest.fixture(scope="module")
def tiny_videomae(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from shuttlesense.synthetic.tiny_models import build_tiny_videomae

    return build_tiny_videomae(tmp_path_factory.mktemp("videomae") / "videomae", seed=1)


def test_unsure_qwen_vl_is_ensembled_with_videomae(detector, tiny_videomae, rally, tmp_path: Path) -> None:
    from shuttlesense.inference.results import probabilities_vector
    from shuttlesense.inference.videomae import VideoMAEActionRecognizer
    from shuttlesense.rally.ensemble import weighted_average

    config = load_pipeline_config(
        {
            "qwen_vl": {"model_path": "unused", "confidence_threshold": 0.9},
            "videomae": {"enabled": True, "model_path": str(tiny_videomae)},
            "ensemble": {"qwen_vl_weight": 0.25, "videomae_weight": 0.75},
        }
    )
    videomae = VideoMAEActionRecognizer(str(tiny_videomae))
    both = QwenVLEnhancedDetector(config, qwen_vl=detector.qwen_vl, videomae=videomae)
    report = both.process_video_with_action_recognition(rally[0], clips_dir=tmp_path)
    clips = _segment_clips(rally[0], [detector.qwen_vl, videomae])
    assert report["ensemble"] is True and report["total_segments"] == NUM_HITS
    assert all(Path(s["clip"]).is_file() for s in report["segments"])
    # injected models are described as loaded ones are: both are tiny random models
    assert report["models"] == {"qwen_vl": detector.qwen_vl.model_path, "videomae": str(tiny_videomae)}
    assert both.tiny_kinds == {"qwen_vl": "random", "videomae": "random"}
    assert sum("tiny RANDOM" in note for note in report["notes"]) == 2
    for segment in report["segments"]:
        assert segment["decided_by"] == "ensemble"  # random models are far below 0.9
        qwen_clip, videomae_clip = clips[segment["index"]]
        expected = weighted_average(
            probabilities_vector(detector.qwen_vl.recognize_action(qwen_clip)),
            probabilities_vector(videomae.recognize_action(videomae_clip)),
            0.25,
            0.75,
        )
        assert segment["class_id"] == int(np.argmax(expected))
        assert segment["confidence"] == pytest.approx(expected.max(), abs=1e-6)
        assert segment["top_classes"]["videomae"][0]["action"] in labels.CLASS_NAMES_EN
    alone = both.process_video_with_action_recognition(rally[0], use_ensemble=False)
    assert alone["ensemble"] is False
    assert all(
        s["decided_by"] == "qwen_vl" and s["top_classes"]["videomae"] is None for s in alone["segments"]
    )


@pytest.mark.parametrize(
    "videomae", [{"enabled": True}, {"enabled": True, "model_path": "./no/such/videomae"}]
)
def test_missing_videomae_model_leaves_qwen_vl_alone_and_says_so(tiny_model_dirs, videomae: dict) -> None:
    config = {"qwen_vl": {"model_path": str(tiny_model_dirs["qwen2_5_vl"])}, "videomae": videomae}
    detector = create_qwen_vl_enhanced_detector(config)
    assert detector.videomae is None and not detector.ensemble_active()
    assert any("Qwen-VL alone" in note for note in detector.notes)
