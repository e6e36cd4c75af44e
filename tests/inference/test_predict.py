"""`shuttlesense predict`: one bad file is reported, the other clips still get predictions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from shuttlesense import cli, labels
from shuttlesense.inference import predict


@pytest.fixture
def clip_dir(tmp_path: Path, synthetic_source: Path) -> Path:
    """Three good clips, one corrupt .mp4 and a .txt."""
    folder = tmp_path / "clips"
    folder.mkdir()
    for i, clip in enumerate(sorted(synthetic_source.rglob("*.mp4"))[:3]):
        shutil.copy(clip, folder / f"good_{i}.mp4")
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50)
    (folder / "notes.txt").write_text("not a video")
    return folder


def _args(model_dir: Path, *extra: str) -> list[str]:
    return ["--model-path", str(model_dir), "--language", "en", "--num-frames", "4", *extra]


def test_json_mode_reports_bad_file_and_predicts_the_rest(tiny_model_dirs, clip_dir, capsys):
    code = predict.main(
        _args(tiny_model_dirs["qwen2_5_vl"], "--video-dir", str(clip_dir), "--json", "--top-k", "2")
    )
    out, err = capsys.readouterr()
    assert code == 0
    records = {Path(r["file"]).name: r for r in map(json.loads, out.strip().splitlines())}
    assert sorted(records) == ["broken.mp4", "good_0.mp4", "good_1.mp4", "good_2.mp4"]
    broken = records.pop("broken.mp4")
    assert broken["error_type"] == "VideoDecodeError" and "broken.mp4" in err
    for record in records.values():
        assert record["error"] is None
        assert record["predicted_action"] in labels.CLASS_NAMES_EN
        assert record["predicted_action_zh"] == labels.by_name(record["predicted_action"]).zh
        assert len(record["top_k"]) == 2 and len(record["probabilities"]) == 18
        assert sum(record["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert "skipped (not a video file)" in err and "notes.txt" in err
    assert "3 of 4 clips predicted, 1 failed, 1 non-video files skipped" in err


def test_table_mode(tiny_model_dirs, clip_dir, capsys):
    code = predict.main(_args(tiny_model_dirs["qwen2_vl"], "--video-dir", str(clip_dir)))
    out, err = capsys.readouterr()
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].split()[:4] == ["file", "stroke", "动作", "confidence"]
    rows = lines[2:]
    assert [row.split()[0] for row in rows] == ["good_0.mp4", "good_1.mp4", "good_2.mp4"]
    assert all(any(zh in row for zh in labels.CLASS_NAMES_ZH) for row in rows)
    assert "broken.mp4" not in out and "error: " in err and "broken.mp4" in err


def test_single_video_through_cli(tiny_model_dirs, clip_dir, capsys):
    code = cli.main(
        ["predict", *_args(tiny_model_dirs["qwen3_vl"], "--video", str(clip_dir / "good_0.mp4"), "--json")]
    )
    record = json.loads(capsys.readouterr().out)
    assert code == 0 and record["file"].endswith("good_0.mp4") and record["error"] is None


def test_exit_code_1_when_nothing_predicted(tiny_model_dirs, clip_dir, capsys):
    for good in clip_dir.glob("good_*.mp4"):
        good.unlink()
    assert predict.main(_args(tiny_model_dirs["qwen2_vl"], "--video-dir", str(clip_dir), "--json")) == 1
    assert "broken.mp4" in capsys.readouterr().out
    (clip_dir / "broken.mp4").unlink()
    assert predict.main(_args(tiny_model_dirs["qwen2_vl"], "--video-dir", str(clip_dir))) == 1
    assert "No video files" in capsys.readouterr().err


def test_bad_inputs_give_clear_errors(tiny_model_dirs, tmp_path, capsys):
    model = str(tiny_model_dirs["qwen2_vl"])
    assert cli.main(["predict", "--model-path", model, "--video", str(tmp_path / "nope.mp4")]) == 1
    assert "Video file not found" in capsys.readouterr().err
    assert cli.main(["predict", "--model-path", model, "--video-dir", str(tmp_path / "nope")]) == 1
    assert "Video folder not found" in capsys.readouterr().err
    assert cli.main(["predict", "--model-path", model]) == 1
    assert "exactly one of --video" in capsys.readouterr().err
    video = tmp_path / "a.mp4"
    video.write_bytes(b"x")
    assert cli.main(["predict", "--model-path", str(tmp_path / "no-model"), "--video", str(video)]) == 1
    assert "Model path not found" in capsys.readouterr().err
    for option, value in (("--num-frames", "0"), ("--num-frames", "-3"), ("--max-pixels", "-5")):
        assert cli.main(["predict", "--model-path", model, "--video", str(video), option, value]) == 1
        err = capsys.readouterr().err
        assert f"{option} must be at least 1 (or left unset); got {value}" in err
        assert len(err.strip().splitlines()) == 1, err


def test_help_lists_options(capsys):
    with pytest.raises(SystemExit):
        predict.main(["--help"])
    text = capsys.readouterr().out
    for option in ("--model-path", "--video-dir", "--json", "--top-k", "--base-model", "--max-pixels"):
        assert option in text
