"""Bad inputs for every command, as one table: each is refused with exit code 1 and ONE stderr line
`shuttlesense <command>: error: ...` naming the file or option and the problem (no traceback), and
every file of the user's is still there, byte for byte.

Each row: an id, a `build` function (its parameters are fixture names: `tmp_path`, conftest's
`synthetic_source`, ...; it writes the inputs under `tmp_path` and returns the values for the
`{placeholders}` of argv), the argv (run from `tmp_path`, so relative paths are under it), the exit
code, a regex the error line must match, and the paths (files or folders, relative to `tmp_path`)
whose every file must be unchanged afterwards. Every refusal here comes before any model loads:
model paths are local-looking paths that do not exist (`./no-model`), so a refusal that came too
late would fail at once with a different message, never wait for the Hub.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from shuttlesense import cli

PROGRESS_BAR = re.compile(r"\d+%\|")
"""A tqdm line (e.g. `datasets` converting a dataset on first load): work shown, not an error."""
NO_MODEL = "./no-model"
"""A model path that can only be local and does not exist: loading it fails at once."""


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[..., dict[str, str] | None]
    argv: tuple[str, ...]
    rc: int
    error: str
    keep: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()  # paths that must not exist afterwards (no half-made output)


@pytest.fixture(scope="module")
def rally_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-hit synthetic rally, 64x48 (a tenth of a second to write). Read-only."""
    from shuttlesense.synthetic.match import write_synthetic_rally

    path = tmp_path_factory.mktemp("rally") / "rally.mp4"
    write_synthetic_rally(path, num_hits=2, width=64, height=48, seed=2)
    return path


# --- builders: each writes what its rows need under tmp_path -----------------------------------


def _text(path: Path, content: str = "mine\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")


def user_file(tmp_path: Path) -> None:
    """`notes.txt`: a file of the user's, where a folder (or a video) is expected."""
    _text(tmp_path / "notes.txt")


def user_folder(tmp_path: Path) -> None:
    """`mine/notes.txt`: a non-empty folder of the user's, where an output folder is expected."""
    _text(tmp_path / "mine" / "notes.txt")


def source(source_copy: Path) -> None:
    """`source/`: a writable copy of the synthetic VideoBadminton tree (conftest's `source_copy`)."""


def source_and_user_file(tmp_path: Path, synthetic_source: Path) -> dict[str, str]:
    user_file(tmp_path)
    return {"src": str(synthetic_source)}


def source_and_export_folder(tmp_path: Path, synthetic_source: Path) -> dict[str, str]:
    """`export/train.json`: the user's own ShareGPT file where `--export-json` would write."""
    _text(tmp_path / "export" / "train.json", "[]\n")
    return {"src": str(synthetic_source)}


def clip(tmp_path: Path) -> None:
    """`clip.mp4`: never decoded by these rows (they are refused before)."""
    (tmp_path / "clip.mp4").write_bytes(b"not decoded: refused before")


def user_file_and_clip(tmp_path: Path) -> None:
    user_file(tmp_path)
    clip(tmp_path)


def readme_run_folder(tmp_path: Path) -> None:
    """`outputs/` exists, `outputs/x` does not: the README's `--model-path outputs/x` form."""
    (tmp_path / "outputs").mkdir()
    clip(tmp_path)


def dataset(tmp_path: Path, prepared_dataset: Path) -> None:
    """`dataset/`: a copy of conftest's prepared dataset."""
    shutil.copytree(prepared_dataset, tmp_path / "dataset", ignore=shutil.ignore_patterns(".complete"))


def dataset_without_validation(tmp_path: Path, synthetic_source: Path) -> None:
    """`dataset/`: prepared with no validation split (fractions 0.5 0 0.5)."""
    from shuttlesense.data.prepare import PrepareArguments, prepare_dataset

    prepare_dataset(PrepareArguments(source=str(synthetic_source), output=str(tmp_path / "dataset"),
                                     split="stratified", fractions=[0.5, 0.0, 0.5], progress=False))  # fmt: skip


def dataset_and_user_file(tmp_path: Path, prepared_dataset: Path) -> None:
    dataset(tmp_path, prepared_dataset)
    user_file(tmp_path)


def dataset_and_user_folder(tmp_path: Path, prepared_dataset: Path) -> None:
    dataset(tmp_path, prepared_dataset)
    user_folder(tmp_path)


def dataset_and_model(tmp_path: Path, prepared_dataset: Path) -> None:
    """`model/config.json`: stands for a model folder (never loaded)."""
    dataset(tmp_path, prepared_dataset)
    _text(tmp_path / "model" / "config.json", '{"model_type": "qwen2_vl"}\n')


def rally(tmp_path: Path, rally_video: Path) -> None:
    """`rally.mp4`: a real rally video with sound."""
    shutil.copyfile(rally_video, tmp_path / "rally.mp4")


def rally_and_user_file(tmp_path: Path, rally_video: Path) -> None:
    rally(tmp_path, rally_video)
    user_file(tmp_path)


def rally_config(yaml_text: str) -> Callable[..., None]:
    """`rally.mp4` and `config.yaml` holding `yaml_text`."""

    def build(tmp_path: Path, rally_video: Path) -> None:
        rally(tmp_path, rally_video)
        _text(tmp_path / "config.yaml", yaml_text)

    return build


def videomae_disabled_by_a_quoted_false(tmp_path: Path, rally_video: Path, monkeypatch) -> None:
    """VideoMAE `enabled: "false"` (and Qwen-VL off): if it counted as enabled, VideoMAE would load."""

    def never(*args, **kwargs):
        raise AssertionError('videomae.enabled: "false" counted as enabled')

    monkeypatch.setattr("shuttlesense.inference.videomae.VideoMAEActionRecognizer", never)
    rally_config('qwen_vl:\n  enabled: false\nvideomae:\n  enabled: "false"\n  model_path: ./videomae\n')(
        tmp_path, rally_video
    )


def user_video(tmp_path: Path, rally_video: Path) -> None:
    """`user.mp4`: a video of the user's where `synth --rally` would write."""
    shutil.copyfile(rally_video, tmp_path / "user.mp4")


def adapter(tmp_path: Path) -> None:
    """`adapter/` (and `base/`): stand for a LoRA adapter and its base model (never loaded)."""
    _text(tmp_path / "adapter" / "adapter_config.json", '{"base_model_name_or_path": "base"}\n')
    _text(tmp_path / "base" / "config.json", '{"model_type": "qwen2_vl"}\n')


def adapter_and_user_file(tmp_path: Path) -> None:
    adapter(tmp_path)
    user_file(tmp_path)


def adapter_and_user_folder(tmp_path: Path) -> None:
    adapter(tmp_path)
    user_folder(tmp_path)


def sound_only(tmp_path: Path) -> None:
    """`sound.mp4`: an mp4 with sound and no video stream (a phone's voice memo, renamed)."""
    import av
    import numpy as np

    with av.open(str(tmp_path / "sound.mp4"), "w") as container:
        stream = container.add_stream("aac", rate=16000, layout="mono")
        for index in range(8):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, index * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def nothing(tmp_path: Path) -> None:
    """No inputs: the options alone are wrong."""


# --- the table ----------------------------------------------------------------------------------

PREPARE = ("prepare", "--no-progress")
PREDICT = ("predict", "--model-path", NO_MODEL)
EVALUATE = ("evaluate", "--model-path", NO_MODEL, "--dataset", "dataset")
ANALYZE = ("analyze", "rally.mp4", "--model-path", NO_MODEL, "--output", "report.json")
ANALYZE_CONFIG = (*ANALYZE, "--config", "config.yaml")
SYNTH = ("synth", "--no-progress", "--clips-per-class", "1", "--width", "32", "--height", "32")
TINY = ("tiny-model", "--family", "qwen2_vl")
OVER_SOURCE = r"would write {} over its input {}"

CASES = [
    # prepare: the output never overlaps the source, is never a file, never a folder of the user's
    Case(
        "prepare-output-is-source",
        source,
        (*PREPARE, "--source", "source", "--output", "source"),
        1,
        OVER_SOURCE.format("source", "source"),
        ("source",),
    ),
    Case(
        "prepare-output-is-source-overwrite",
        source,
        (*PREPARE, "--source", "source", "--output", "source", "--overwrite"),
        1,
        OVER_SOURCE.format("source", "source"),
        ("source",),
    ),
    Case(
        "prepare-output-inside-source-overwrite",
        source,
        (*PREPARE, "--source", "source", "--output", "source/prepared", "--overwrite"),
        1,
        OVER_SOURCE.format("source/prepared", "source"),
        ("source",),
    ),
    Case(
        "prepare-output-contains-source-overwrite",
        source,
        (*PREPARE, "--source", "source", "--output", ".", "--overwrite"),
        1,
        OVER_SOURCE.format(r"\.", "source"),
        ("source",),
    ),
    Case(
        "prepare-output-contains-inner-source-overwrite",
        source,
        (*PREPARE, "--source", "source/VideoBadminton_Dataset", "--output", "source", "--overwrite"),
        1,
        OVER_SOURCE.format("source", "source/VideoBadminton_Dataset"),
        ("source",),
    ),
    Case(
        "prepare-source-is-a-file",
        user_file,
        (*PREPARE, "--source", "notes.txt", "--output", "out"),
        1,
        r"[Ss]ource must be a (directory|folder), got a file: notes\.txt",
        ("notes.txt",),
    ),
    Case(
        "prepare-source-missing",
        nothing,
        (*PREPARE, "--source", "missing", "--output", "out"),
        1,
        r"[Ss]ource directory does not exist: missing",
    ),
    Case(
        "prepare-output-is-a-file",
        source_and_user_file,
        (*PREPARE, "--source", "{src}", "--output", "notes.txt"),
        1,
        r"notes\.txt exists and is not a folder",
        ("notes.txt",),
    ),
    Case(
        "prepare-output-is-a-file-overwrite",
        source_and_user_file,
        (*PREPARE, "--source", "{src}", "--output", "notes.txt", "--overwrite"),
        1,
        r"notes\.txt exists and is not a folder",
        ("notes.txt",),
    ),
    Case(
        "prepare-output-under-a-file",
        source_and_user_file,
        (*PREPARE, "--source", "{src}", "--output", "notes.txt/out"),
        1,
        r"notes\.txt is a file, not a folder",
        ("notes.txt",),
    ),
    Case(
        "prepare-export-json-into-a-user-folder",
        source_and_export_folder,
        (*PREPARE, "--source", "{src}", "--output", "out", "--export-json", "export"),
        1,
        r"[Oo]utput folder export is not empty; pass --overwrite",
        ("export",),
    ),
    Case(
        "prepare-export-json-into-a-user-folder-overwrite",
        source_and_export_folder,
        (*PREPARE, "--source", "{src}", "--output", "out", "--export-json", "export", "--overwrite"),
        1,
        r"export was not written by `shuttlesense prepare --export-json`",
        ("export",),
    ),
    Case(
        "prepare-export-json-is-a-file",
        source_and_export_folder,
        (*PREPARE, "--source", "{src}", "--output", "out", "--export-json", "export/train.json"),
        1,
        r"export/train\.json exists and is not a folder",
        ("export",),
    ),
    Case(
        "prepare-export-json-inside-source",
        source,
        (*PREPARE, "--source", "source", "--output", "out", "--export-json", "source/json", "--overwrite"),
        1,
        OVER_SOURCE.format("source/json", "source"),
        ("source",),
    ),
    Case(
        "prepare-export-json-is-the-output",
        source,
        (*PREPARE, "--source", "source", "--output", "out", "--export-json", "out"),
        1,
        OVER_SOURCE.format("out", "out"),
        ("source",),
    ),
    Case(
        "prepare-bad-fractions",
        source,
        (*PREPARE, "--source", "source", "--output", "out", "--fractions", "0.5", "0.6", "-0.1"),
        1,
        r"fractions must be three non-negative numbers summing to 1, got \[0\.5, 0\.6, -0\.1\]",
        ("source",),
    ),
    # predict: inputs and sampling options are checked before the model loads
    Case(
        "predict-video-missing",
        nothing,
        (*PREDICT, "--video", "missing.mp4"),
        1,
        r"Video file not found: missing\.mp4",
    ),
    Case(
        "predict-video-dir-is-a-file",
        user_file,
        (*PREDICT, "--video-dir", "notes.txt"),
        1,
        r"Video folder not found: notes\.txt",
        ("notes.txt",),
    ),
    Case(
        "predict-readme-run-folder-missing",
        readme_run_folder,
        ("predict", "--model-path", "outputs/x", "--video", "clip.mp4"),
        1,
        r"[Mm]odel (path|folder) not found: outputs/x",
        ("clip.mp4",),
    ),
    Case(
        "predict-model-path-is-a-file",
        user_file_and_clip,
        ("predict", "--model-path", "notes.txt", "--video", "clip.mp4"),
        1,
        r"notes\.txt is a file; give an adapter folder, a model folder or a Hub id",
        ("notes.txt",),
    ),
    *(
        Case(
            f"predict-{option[2:]}-{value}",
            clip,
            (*PREDICT, "--video", "clip.mp4", option, value),
            1,
            rf"{option[2:].replace('-', '[-_]')} must be at least 1 .*got {value}\b",
            ("clip.mp4",),
        )
        for option, value in (
            ("--num-frames", "0"),
            ("--num-frames", "-3"),
            ("--max-pixels", "0"),
            ("--max-pixels", "-5"),
        )
    ),
    Case(
        "predict-top-k-0",
        clip,
        (*PREDICT, "--video", "clip.mp4", "--top-k", "0"),
        1,
        r"--top-k must be at least 1; got 0",
        ("clip.mp4",),
    ),
    # evaluate: the output folder is refused before the model loads
    Case(
        "evaluate-output-inside-dataset",
        dataset,
        (*EVALUATE, "--output-dir", "dataset/eval"),
        1,
        OVER_SOURCE.format("dataset/eval", "dataset"),
        ("dataset",),
    ),
    Case(
        "evaluate-output-is-dataset-overwrite",
        dataset,
        (*EVALUATE, "--output-dir", "dataset", "--overwrite"),
        1,
        OVER_SOURCE.format("dataset", "dataset"),
        ("dataset",),
    ),
    Case(
        "evaluate-output-inside-model",
        dataset_and_model,
        ("evaluate", "--model-path", "model", "--dataset", "dataset", "--output-dir", "model/eval"),
        1,
        OVER_SOURCE.format("model/eval", "model"),
        ("dataset", "model"),
    ),
    Case(
        "evaluate-output-is-a-file",
        dataset_and_user_file,
        (*EVALUATE, "--output-dir", "notes.txt"),
        1,
        r"notes\.txt exists and is not a (folder|directory)",
        ("dataset", "notes.txt"),
    ),
    Case(
        "evaluate-output-is-a-file-overwrite",
        dataset_and_user_file,
        (*EVALUATE, "--output-dir", "notes.txt", "--overwrite"),
        1,
        r"notes\.txt exists and is not a (folder|directory)",
        ("dataset", "notes.txt"),
    ),
    Case(
        "evaluate-output-is-a-user-folder",
        dataset_and_user_folder,
        (*EVALUATE, "--output-dir", "mine"),
        1,
        r"[Oo]utput folder mine is not empty; pass --overwrite",
        ("dataset", "mine"),
    ),
    Case(
        "evaluate-output-is-a-user-folder-overwrite",
        dataset_and_user_folder,
        (*EVALUATE, "--output-dir", "mine", "--overwrite"),
        1,
        r"mine was not written by `shuttlesense evaluate`",
        ("dataset", "mine"),
    ),
    *(
        Case(
            f"evaluate-limit-{value}",
            dataset,
            (*EVALUATE, "--output-dir", "eval", "--limit", value),
            1,
            rf"limit must be at least 1; got {value}\b",
            ("dataset",),
        )
        for value in ("0", "-2")
    ),
    Case(
        "evaluate-num-frames-0",
        dataset,
        (*EVALUATE, "--output-dir", "eval", "--num-frames", "0"),
        1,
        r"num[-_]frames must be at least 1 .*got 0\b",
        ("dataset",),
    ),
    # analyze: the video and the config are never written over; config values are checked by key
    Case(
        "analyze-output-is-the-video",
        rally,
        ("analyze", "rally.mp4", "--model-path", NO_MODEL, "--output", "rally.mp4"),
        1,
        OVER_SOURCE.format(r"rally\.mp4", r"rally\.mp4"),
        ("rally.mp4",),
    ),
    Case(
        "analyze-timeline-is-the-video",
        rally,
        (*ANALYZE, "--timeline", "rally.mp4"),
        1,
        OVER_SOURCE.format(r"rally\.mp4", r"rally\.mp4"),
        ("rally.mp4",),
    ),
    Case(
        "analyze-clips-dir-holds-the-video",
        rally,
        (*ANALYZE, "--clips-dir", "."),
        1,
        OVER_SOURCE.format(r"\.", r"rally\.mp4"),
        ("rally.mp4",),
    ),
    Case(
        "analyze-output-is-the-config",
        rally_config("top_k: 3\n"),
        (
            "analyze",
            "rally.mp4",
            "--model-path",
            NO_MODEL,
            "--config",
            "config.yaml",
            "--output",
            "config.yaml",
        ),
        1,
        OVER_SOURCE.format(r"config\.yaml", r"config\.yaml"),
        ("rally.mp4", "config.yaml"),
    ),
    Case(
        "analyze-output-is-a-user-file",
        rally_and_user_file,
        ("analyze", "rally.mp4", "--model-path", NO_MODEL, "--output", "notes.txt", "--overwrite"),
        1,
        r"notes\.txt exists and was not written by `shuttlesense analyze`",
        ("rally.mp4", "notes.txt"),
    ),
    Case(
        "analyze-video-missing",
        nothing,
        ("analyze", "missing.mp4", "--model-path", NO_MODEL),
        1,
        r"Video file not found: missing\.mp4",
    ),
    Case(
        "analyze-config-missing",
        rally,
        (*ANALYZE, "--config", "missing.yaml"),
        1,
        r"Config file not found: missing\.yaml",
        ("rally.mp4",),
    ),
    Case(
        "analyze-config-not-yaml",
        rally_config("qwen_vl:\n  model_path: [\n"),
        ANALYZE_CONFIG,
        1,
        r"config\.yaml is not valid YAML",
        ("rally.mp4", "config.yaml"),
    ),
    Case(
        "analyze-config-min-gap-s-text",
        rally_config('hit_detection:\n  audio:\n    min_gap_s: "quarter"\n'),
        ANALYZE_CONFIG,
        1,
        r"config\.yaml\.hit_detection\.audio\.min_gap_s must be a number; got 'quarter'",
        ("rally.mp4", "config.yaml"),
    ),
    Case(
        "analyze-config-visual-min-gap-s-negative",
        rally_config("hit_detection:\n  visual:\n    min_gap_s: -0.5\n"),
        ANALYZE_CONFIG,
        1,
        r"config\.yaml\.hit_detection\.visual\.min_gap_s must not be negative; got -0\.5",
        ("rally.mp4", "config.yaml"),
    ),
    Case(
        "analyze-config-top-k-text",
        rally_config('top_k: "three"\n'),
        ANALYZE_CONFIG,
        1,
        r"config\.yaml\.top_k must be a whole number; got 'three'",
        ("rally.mp4", "config.yaml"),
    ),
    Case(
        "analyze-config-top-k-0",
        rally_config("top_k: 0\n"),
        ANALYZE_CONFIG,
        1,
        r"config\.yaml.*top_k must be at least 1; got 0",
        ("rally.mp4", "config.yaml"),
    ),
    Case(
        "analyze-config-videomae-enabled-quoted-false",
        videomae_disabled_by_a_quoted_false,
        ANALYZE_CONFIG,
        1,
        r"Neither model is available",
        ("rally.mp4", "config.yaml"),
    ),
    Case(
        "analyze-config-videomae-enabled-maybe",
        rally_config('videomae:\n  enabled: "maybe"\n'),
        ANALYZE_CONFIG,
        1,
        r"config\.yaml\.videomae\.enabled must be true or false; got 'maybe'",
        ("rally.mp4", "config.yaml"),
    ),
    Case(
        "analyze-config-max-length-s-negative",
        rally_config("segmentation:\n  max_length_s: -2\n"),
        ANALYZE_CONFIG,
        1,
        r"config\.yaml\.segmentation\.max_length_s must not be negative; got -2",
        ("rally.mp4", "config.yaml"),
    ),
    Case(
        "analyze-config-last-tail-s-negative",
        rally_config("segmentation:\n  last_tail_s: -5\n"),
        ANALYZE_CONFIG,
        1,
        r"config\.yaml\.segmentation\.last_tail_s must not be negative; got -5",
        ("rally.mp4", "config.yaml"),
    ),
    Case(
        "analyze-config-last-tail-s-at-top-level",
        rally_config("last_tail_s: -5\n"),
        ANALYZE_CONFIG,
        1,
        r"Unknown key\(s\) \['last_tail_s'\] in config\.yaml",
        ("rally.mp4", "config.yaml"),
    ),
    Case(
        "analyze-config-num-frames-0",
        rally_config("qwen_vl:\n  num_frames: 0\n"),
        ANALYZE_CONFIG,
        1,
        r"config\.yaml.*qwen_vl\.num_frames must be at least 1",
        ("rally.mp4", "config.yaml"),
    ),
    Case(
        "analyze-config-rally-gap-s-0",
        rally_config("segmentation:\n  rally_gap_s: 0\n"),
        ANALYZE_CONFIG,
        1,
        r"config\.yaml.*segmentation\.rally_gap_s must be > 0",
        ("rally.mp4", "config.yaml"),
    ),
    Case(
        "analyze-config-section-is-a-list",
        rally_config("qwen_vl: [1, 2]\n"),
        ANALYZE_CONFIG,
        1,
        r"config\.yaml\.qwen_vl must be a mapping, got list",
        ("rally.mp4", "config.yaml"),
    ),
    Case(
        "analyze-num-frames-0",
        rally,
        (*ANALYZE, "--num-frames", "0"),
        1,
        r"num[-_]frames must be at least 1.*got 0\b",
        ("rally.mp4",),
    ),
    Case(
        "analyze-max-pixels-negative",
        rally,
        (*ANALYZE, "--max-pixels", "-5"),
        1,
        r"max[-_]pixels must be at least 1.*got -5\b",
        ("rally.mp4",),
    ),
    # synth: never writes over a file or a folder of the user's; counts are checked where parsed
    Case(
        "synth-output-is-a-file",
        user_file,
        (*SYNTH, "--output", "notes.txt"),
        1,
        r"notes\.txt exists and is not a folder",
        ("notes.txt",),
    ),
    Case(
        "synth-output-is-a-file-overwrite",
        user_file,
        (*SYNTH, "--output", "notes.txt", "--overwrite"),
        1,
        r"notes\.txt exists and is not a folder",
        ("notes.txt",),
    ),
    Case(
        "synth-output-under-a-file",
        user_file,
        (*SYNTH, "--output", "notes.txt/synthetic"),
        1,
        r"notes\.txt is a file, not a folder",
        ("notes.txt",),
    ),
    Case(
        "synth-output-is-a-user-folder-overwrite",
        user_folder,
        (*SYNTH, "--output", "mine", "--overwrite"),
        1,
        r"mine was not written by `shuttlesense synth`",
        ("mine",),
    ),
    Case(
        "synth-rally-over-a-user-video-overwrite",
        user_video,
        ("synth", "--rally", "--output", "user.mp4", "--overwrite"),
        1,
        r"user\.mp4 exists and was not written by `shuttlesense synth`",
        ("user.mp4",),
    ),
    *(
        Case(
            f"synth{mode.replace('--', '-')}{option[1:]}-{value}",
            nothing,
            ("synth", "--output", "out", *(mode.split()), option, value),
            1,
            rf"{option} must be at least 1, got {value}\b",
        )
        for mode, option, value in (
            ("", "--clips-per-class", "0"),
            ("", "--clips-per-class", "-2"),
            ("", "--num-sessions", "0"),
            ("", "--num-workers", "0"),
            ("--rally", "--num-hits", "0"),
            ("--rally", "--num-hits", "-1"),
            ("--rally", "--sample-rate", "0"),
            ("--match", "--num-rallies", "0"),
        )
    ),
    Case(
        "synth-match-minutes--1",
        nothing,
        ("synth", "--match", "--output", "out", "--minutes", "-1"),
        1,
        r"--minutes .*>= 0.*-1",
    ),
    Case(
        "synth-fps-0",
        nothing,
        ("synth", "--output", "out", "--fps", "0"),
        1,
        r"--fps must be > 0",
    ),
    # tiny-model: never writes over a file or a folder of the user's
    Case(
        "tiny-model-output-is-a-file",
        user_file,
        (*TINY, "--output", "notes.txt"),
        1,
        r"notes\.txt exists and is not a folder",
        ("notes.txt",),
    ),
    Case(
        "tiny-model-output-is-a-file-overwrite",
        user_file,
        (*TINY, "--output", "notes.txt", "--overwrite"),
        1,
        r"notes\.txt exists and is not a folder",
        ("notes.txt",),
    ),
    Case(
        "tiny-model-output-under-a-file",
        user_file,
        (*TINY, "--output", "notes.txt/model"),
        1,
        r"notes\.txt is a file, not a folder",
        ("notes.txt",),
    ),
    Case(
        "tiny-model-output-is-a-user-folder",
        user_folder,
        (*TINY, "--output", "mine"),
        1,
        r"[Oo]utput folder mine is not empty; pass --overwrite",
        ("mine",),
    ),
    Case(
        "tiny-model-output-is-a-user-folder-overwrite",
        user_folder,
        (*TINY, "--output", "mine", "--overwrite"),
        1,
        r"mine was not written by `shuttlesense tiny-model`",
        ("mine",),
    ),
    # merge: the merged model never goes over the adapter or the base, a file or a user's folder
    Case(
        "merge-output-is-the-adapter",
        adapter,
        ("merge", "--adapter", "adapter", "--output", "adapter"),
        1,
        OVER_SOURCE.format("adapter", "adapter"),
        ("adapter", "base"),
    ),
    Case(
        "merge-output-is-the-adapter-overwrite",
        adapter,
        ("merge", "--adapter", "adapter", "--output", "adapter", "--overwrite"),
        1,
        OVER_SOURCE.format("adapter", "adapter"),
        ("adapter", "base"),
    ),
    Case(
        "merge-output-inside-the-adapter",
        adapter,
        ("merge", "--adapter", "adapter", "--output", "adapter/merged", "--overwrite"),
        1,
        OVER_SOURCE.format("adapter/merged", "adapter"),
        ("adapter", "base"),
    ),
    Case(
        "merge-output-is-the-base",
        adapter,
        ("merge", "--adapter", "adapter", "--base-model", "base", "--output", "base", "--overwrite"),
        1,
        OVER_SOURCE.format("base", "base"),
        ("adapter", "base"),
    ),
    Case(
        "merge-output-is-a-file",
        adapter_and_user_file,
        ("merge", "--adapter", "adapter", "--output", "notes.txt", "--overwrite"),
        1,
        r"notes\.txt exists and is not a folder",
        ("adapter", "base", "notes.txt"),
    ),
    Case(
        "merge-output-is-a-user-folder-overwrite",
        adapter_and_user_folder,
        ("merge", "--adapter", "adapter", "--output", "mine", "--overwrite"),
        1,
        r"mine was not written by `shuttlesense merge`",
        ("adapter", "base", "mine"),
    ),
    # found by the first pass of this table; each refused before any model loads
    Case(
        "predict-video-is-a-text-file",
        user_file,
        (*PREDICT, "--video", "notes.txt"),
        1,
        r"notes\.txt is not a video file",
        ("notes.txt",),
    ),
    Case(
        "analyze-video-is-a-text-file",
        user_file,
        ("analyze", "notes.txt", "--model-path", NO_MODEL, "--output", "report.json"),
        1,
        r"notes\.txt is not a video file",
        ("notes.txt",),
        ("report.json",),
    ),
    Case(
        "analyze-video-is-sound-only",
        sound_only,
        ("analyze", "sound.mp4", "--model-path", NO_MODEL, "--output", "report.json"),
        1,
        r"sound\.mp4 has no video stream",
        ("sound.mp4",),
        ("report.json",),
    ),
    Case(
        "analyze-config-hit-method-unknown",
        rally_config("hit_detection:\n  method: sideways\n"),
        ANALYZE_CONFIG,
        1,
        r"config\.yaml\.hit_detection\.method must be one of auto, audio, visual",
        ("rally.mp4", "config.yaml"),
    ),
    Case(
        "analyze-output-under-a-file",
        rally_and_user_file,
        ("analyze", "rally.mp4", "--model-path", NO_MODEL, "--output", "notes.txt/r.json"),
        1,
        r"notes\.txt is a file, not a folder",
        ("rally.mp4", "notes.txt"),
    ),
    Case(
        "analyze-timeline-under-a-file",
        rally_and_user_file,
        (*ANALYZE, "--timeline", "notes.txt/t.png"),
        1,
        r"notes\.txt is a file, not a folder",
        ("rally.mp4", "notes.txt"),
        ("report.json",),
    ),
    Case(
        "analyze-clips-dir-under-a-file",
        rally_and_user_file,
        (*ANALYZE, "--clips-dir", "notes.txt/clips"),
        1,
        r"notes\.txt is a file, not a folder",
        ("rally.mp4", "notes.txt"),
        ("report.json",),
    ),
    Case(
        "evaluate-dataset-missing",
        nothing,
        ("evaluate", "--model-path", NO_MODEL, "--dataset", "./missing", "--output-dir", "e"),
        1,
        r"Dataset folder not found: \./missing",
        (),
        ("e",),
    ),
    Case(
        "evaluate-dataset-is-a-file",
        user_file,
        ("evaluate", "--model-path", NO_MODEL, "--dataset", "notes.txt", "--output-dir", "e"),
        1,
        r"notes\.txt is a file",
        ("notes.txt",),
        ("e",),
    ),
    Case(
        "evaluate-split-unknown",
        dataset,
        (*EVALUATE, "--split", "nope", "--output-dir", "e"),
        1,
        r"has no split 'nope'",
        ("dataset",),
        ("e",),
    ),
    Case(
        "evaluate-calibrate-without-validation",
        dataset_without_validation,
        (*EVALUATE, "--output-dir", "e", "--calibrate"),
        1,
        r"no split 'validation'",
        ("dataset",),
        ("e",),
    ),
    Case(
        "evaluate-output-under-a-file",
        dataset_and_user_file,
        (*EVALUATE, "--output-dir", "notes.txt/e"),
        1,
        r"notes\.txt is a file, not a folder",
        ("dataset", "notes.txt"),
    ),
    Case(
        "synth-rally-output-is-a-file",
        user_file,
        ("synth", "--rally", "--output", "notes.txt", "--overwrite"),
        1,
        r"notes\.txt is a file, not a folder",
        ("notes.txt",),
    ),
    Case(
        "synth-width-0",
        nothing,
        ("synth", "--output", "s1", "--width", "0"),
        1,
        r"--width/--height",
        (),
        ("s1",),
    ),
    Case(
        "merge-adapter-missing",
        readme_run_folder,
        ("merge", "--adapter", "outputs/x", "--output", "m2"),
        1,
        r"outputs/x",
        (),
        ("m2",),
    ),
    Case(
        "prepare-num-proc-0",
        source_and_user_file,
        (*PREPARE, "--source", "{src}", "--output", "p", "--num-proc", "0"),
        1,
        r"--num-proc must be at least 1",
        (),
        ("p",),
    ),
]


def _checksums(path: Path) -> dict[str, str]:
    """SHA-256 of `path`, or of every file under it (by relative path) if it is a folder."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return {str(p.relative_to(path.parent)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_the_table_is_well_formed():
    assert len({case.id for case in CASES}) == len(CASES)
    for case in CASES:
        re.compile(case.error)
        assert case.argv[0] in cli.COMMANDS, case.id


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_bad_input_is_refused_in_one_line_and_nothing_is_lost(
    case: Case, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SHUTTLESENSE_DEBUG", raising=False)
    fixtures = {
        name: tmp_path if name == "tmp_path" else request.getfixturevalue(name)
        for name in inspect.signature(case.build).parameters
    }
    values = case.build(**fixtures) or {}
    argv = [arg.format(**values) for arg in case.argv]
    before = {path: _checksums(tmp_path / path) for path in case.keep}
    assert all(before.values()), f"{case.id}: a path to keep was not built"
    capsys.readouterr()

    rc = cli.main(argv)

    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if line.strip() and not PROGRESS_BAR.search(line)]
    assert rc == case.rc, err
    assert len(lines) == 1 and "Traceback" not in err, err
    prefix = f"shuttlesense {argv[0]}: error: "
    assert lines[0].startswith(prefix), lines[0]
    assert re.search(case.error, lines[0][len(prefix) :]), lines[0]
    for path, sums in before.items():
        assert _checksums(tmp_path / path) == sums, f"{path} changed"
    for path in case.absent:
        assert not (tmp_path / path).exists(), f"{path} was left behind"
