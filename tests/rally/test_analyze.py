"""`shuttlesense analyze`: report, timeline and clips from one command; clear one-line errors."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from shuttlesense import cli
from shuttlesense.synthetic.match import write_synthetic_rally


@pytest.fixture(scope="module")
def rally(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rally") / "match point.mp4"
    write_synthetic_rally(path, num_hits=3, width=160, height=120, seed=2)
    return path


def test_analyze_writes_report_timeline_and_clips(
    rally, tiny_model_dirs, tmp_path: Path, capsys, caplog
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "qwen_vl:\n  enabled: true\n  language: en\n  num_frames: 4\n  max_pixels: 3136\n"
        "  use_ensemble: true\n  confidence_threshold: 0.7\n"
    )
    report_path = tmp_path / "out" / "report.json"
    with caplog.at_level(logging.WARNING):
        code = cli.main(
            [
                "analyze",
                str(rally),
                "--config", str(config),
                "--model-path", str(tiny_model_dirs["qwen2_5_vl"]),
                "--output", str(report_path),
                "--clips-dir", str(tmp_path / "clips"),
            ]
        )  # fmt: skip
    assert code == 0
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["total_hits"] == 3 == report["total_segments"]
    assert sorted(p.name for p in (tmp_path / "clips").glob("*.mp4")) == sorted(
        Path(s["clip"]).name for s in report["segments"]
    )
    assert (
        Path(report["timeline"]) == report_path.with_suffix(".png")
        and report_path.with_suffix(".png").is_file()
    )
    out = capsys.readouterr().out
    assert "3 hits (audio)" in out and "动作" in out and "tiny RANDOM" in out
    for segment in report["segments"]:
        assert segment["stroke"] in out
    assert "videomae, ensemble, hit_detection, segmentation" in caplog.text


def test_missing_video_is_one_line_error(capsys) -> None:
    assert cli.main(["analyze", "no_such_rally.mp4", "--model-path", "x"]) == 1
    err = capsys.readouterr().err
    assert "Video file not found: no_such_rally.mp4" in err and "Traceback" not in err


def test_truncated_video_is_one_line_error(rally, tiny_model_dirs, tmp_path: Path, capsys) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(rally.read_bytes()[:1000])
    code = cli.main(
        [
            "analyze",
            str(broken),
            "--model-path",
            str(tiny_model_dirs["qwen2_5_vl"]),
            "--output",
            str(tmp_path / "r.json"),
        ]
    )
    assert code == 1
    assert "broken.mp4" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_a_report_over_the_video_is_refused_before_any_model_loads(rally: Path, tmp_path: Path, capsys):
    video = tmp_path / "rally.mp4"
    video.write_bytes(rally.read_bytes())
    for extra in (
        ["--output", str(video)],
        ["--output", str(tmp_path / "r.json"), "--clips-dir", str(tmp_path)],
    ):
        assert cli.main(["analyze", str(video), "--model-path", "never/loaded", *extra]) == 1
        assert "over its input" in capsys.readouterr().err
    assert video.read_bytes() == rally.read_bytes()


def test_analyze_replaces_only_its_own_outputs_and_only_with_overwrite(
    rally, tiny_model_dirs, tmp_path: Path, capsys
) -> None:
    model = str(tiny_model_dirs["qwen2_5_vl"])
    report, clips = tmp_path / "report.json", tmp_path / "clips"
    run = ["analyze", str(rally), "--model-path", model, "--output", str(report), "--clips-dir", str(clips)]
    assert cli.main(run) == 0
    first = report.read_bytes()
    assert cli.main(run) == 1  # an earlier analyze's outputs: only with --overwrite
    assert "exists; pass --overwrite" in capsys.readouterr().err and report.read_bytes() == first
    (clips / "notes.txt").write_text("mine")
    assert cli.main([*run, "--overwrite"]) == 0
    assert json.loads(report.read_text())["total_hits"] == 3 and len(list(clips.glob("*.mp4"))) == 3
    assert (clips / "notes.txt").read_text() == "mine"  # theirs, though in analyze's folder

    theirs = tmp_path / "theirs"
    theirs.mkdir()
    user_json, user_png, user_clips = theirs / "data.json", theirs / "data.png", theirs / "clips"
    user_json.write_text('{"mine": true}')
    user_png.write_bytes(report.with_suffix(".png").read_bytes()[:100])
    user_clips.mkdir()
    (user_clips / "clip.mp4").write_bytes(b"mine")
    for extra in (
        ["--output", str(user_json)],  # a JSON that is no analyze report
        ["--output", str(theirs / "new.json"), "--timeline", str(user_png)],  # a PNG it did not draw
        ["--output", str(theirs / "new.json"), "--clips-dir", str(user_clips)],  # a folder of theirs
    ):
        assert cli.main(["analyze", str(rally), "--model-path", "never/loaded", "--overwrite", *extra]) == 1
        assert "not written by `shuttlesense analyze`" in capsys.readouterr().err
    assert user_json.read_text() == '{"mine": true}' and (user_clips / "clip.mp4").read_bytes() == b"mine"
    assert len(user_png.read_bytes()) == 100 and not (theirs / "new.json").exists()


def test_sampling_overrides_are_checked_where_they_are_parsed():
    from shuttlesense.rally.config import PipelineArguments

    with pytest.raises(ValueError, match="--num-frames must be at least 1"):
        PipelineArguments(num_frames=0)
    with pytest.raises(ValueError, match="--max-pixels must be at least 1"):
        PipelineArguments(max_pixels=-5)
    with pytest.raises(ValueError, match="Unknown language .xx."):
        PipelineArguments(language="xx").pipeline_config()  # the Python API skips argparse's choices
