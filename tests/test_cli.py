"""The command line's error boundary (one line, the traceback only with --debug) and path reading."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from shuttlesense import cli
from shuttlesense.paths import looks_local


@pytest.fixture
def failing_command(monkeypatch):
    """A `shuttlesense boom` command whose main raises the exception it is given."""
    module = types.ModuleType("shuttlesense_test_boom")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(cli.COMMANDS, "boom", (module.__name__, "raises"))
    monkeypatch.delenv("SHUTTLESENSE_DEBUG", raising=False)

    def fail_with(error: Exception) -> None:
        def main(argv):
            raise error

        module.main = main

    return fail_with


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (PermissionError(13, "Permission denied", "out/report.json"), "out/report.json: Permission denied"),
        (NotADirectoryError("out is a file, not a folder"), "out is a file, not a folder"),
        (ValueError("clip.mp4: no frames\nsecond line"), "clip.mp4: no frames"),
        (
            RuntimeError("decoder said no"),
            "RuntimeError: decoder said no (unexpected; `shuttlesense --debug boom",
        ),
    ],
)
def test_every_error_is_one_line(failing_command, capsys, error, line):
    failing_command(error)
    assert cli.main(["boom"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"shuttlesense boom: error: {line}") and len(err.strip().splitlines()) == 1


def test_debug_shows_the_traceback(failing_command, monkeypatch):
    failing_command(PermissionError("denied"))
    with pytest.raises(PermissionError):
        cli.main(["--debug", "boom"])
    monkeypatch.setenv("SHUTTLESENSE_DEBUG", "1")
    with pytest.raises(PermissionError):
        cli.main(["boom"])


def test_a_run_folder_path_is_local_even_in_hub_id_shape(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert not looks_local("Qwen/Qwen2.5-VL-3B-Instruct") and not looks_local("outputs/run")
    (tmp_path / "outputs").mkdir()
    assert looks_local("outputs/run") and looks_local("./run") and looks_local("a/b/c")


def test_a_missing_run_folder_fails_at_once_without_the_hub(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "outputs").mkdir()
    (tmp_path / "clip.mp4").write_bytes(b"x")
    assert cli.main(["predict", "--model-path", "outputs/x", "--video", "clip.mp4"]) == 1
    assert "Model path not found: outputs/x" in capsys.readouterr().err
