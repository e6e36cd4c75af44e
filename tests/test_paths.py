"""Outputs kept apart from inputs, and --overwrite removing only what the command wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from shuttlesense.paths import (
    OUTPUT_MARKER,
    check_apart,
    check_output_dir,
    check_output_file,
    claim_output_dir,
    public_name,
    seal_output_dir,
    written_by,
)


@pytest.mark.parametrize("output", ["data", "data/out", "."])
def test_an_output_that_is_contains_or_lies_inside_an_input_is_refused(tmp_path: Path, output: str) -> None:
    (tmp_path / "data").mkdir()
    with pytest.raises(ValueError, match="over its input"):
        check_apart(tmp_path / output, [tmp_path / "data"], "prepare")
    check_apart(tmp_path / "elsewhere", [tmp_path / "data", None], "prepare")


def test_a_folder_of_the_users_is_never_claimed(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty; pass --overwrite"):
        claim_output_dir(theirs, "synth")
    with pytest.raises(FileExistsError, match="not written by `shuttlesense synth`"):
        claim_output_dir(theirs, "synth", overwrite=True)
    (tmp_path / "file").write_text("mine")
    with pytest.raises(FileExistsError, match="not a folder"):
        check_output_dir(tmp_path / "file", "synth")
    assert (theirs / "notes.txt").read_text() == "mine" and (tmp_path / "file").read_text() == "mine"


def test_overwrite_removes_the_files_the_command_wrote_and_nothing_else(tmp_path: Path) -> None:
    out = claim_output_dir(tmp_path / "out", "synth")
    (out / "clips").mkdir()
    (out / "clips" / "a.mp4").write_text("ours")
    seal_output_dir(out)
    (out / "clips" / "notes.txt").write_text("theirs")  # added after the run
    with pytest.raises(FileExistsError, match="not written by `shuttlesense prepare`"):
        claim_output_dir(out, "prepare", overwrite=True)  # another command's folder
    claim_output_dir(out, "synth", overwrite=True)
    assert not (out / "clips" / "a.mp4").exists() and (out / "clips" / "notes.txt").read_text() == "theirs"
    assert written_by(out) == "synth"
    (out / "b.mp4").write_text("ours")  # a run killed before sealing: all but what was there before
    claim_output_dir(out, "synth", overwrite=True)
    assert sorted(p.name for p in out.rglob("*")) == sorted(["clips", "notes.txt", OUTPUT_MARKER])


def test_outputs_from_before_the_marker_are_recognised_by_their_files(tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    (old / "metrics.json").write_text("{}")
    (old / "predictions.jsonl").write_text("")
    legacy = ("metrics.json", "predictions.jsonl")
    claim_output_dir(old, "evaluate", overwrite=True, legacy=legacy)
    assert [p.name for p in old.iterdir()] == [OUTPUT_MARKER]
    (old / "config.json").write_text("{}")
    (old / OUTPUT_MARKER).unlink()
    check_output_dir(
        old, "tiny-model", overwrite=True, legacy=lambda folder: (folder / "config.json").exists()
    )


def test_an_output_file_is_replaced_only_if_the_command_wrote_it_and_overwrite_is_set(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text("mine")
    with pytest.raises(FileExistsError, match="not written by `shuttlesense analyze`"):
        check_output_file(report, "analyze", True, [], lambda path: False)
    with pytest.raises(FileExistsError, match="exists; pass --overwrite"):
        check_output_file(report, "analyze", False, [], lambda path: True)
    assert check_output_file(report, "analyze", True, [], lambda path: True) == report
    with pytest.raises(FileExistsError, match="is a folder"):
        check_output_file(tmp_path, "analyze", True, [], lambda path: True)
    with pytest.raises(ValueError, match="over its input"):
        check_output_file(tmp_path / "v.mp4", "analyze", True, [tmp_path / "v.mp4"], lambda path: True)
    assert report.read_text() == "mine"


def test_a_page_names_a_local_model_by_its_folder_and_a_hub_model_by_its_id(tmp_path: Path) -> None:
    (tmp_path / "runs" / "lora").mkdir(parents=True)
    assert public_name(str(tmp_path / "runs" / "lora")) == "lora"
    assert public_name("./outputs/missing") == "missing"
    assert public_name("Qwen/Qwen2.5-VL-3B-Instruct") == "Qwen/Qwen2.5-VL-3B-Instruct"
