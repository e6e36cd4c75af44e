import json
from pathlib import Path

import av
import pytest
from datasets import Video, load_dataset

from shuttlesense import cli, labels
from shuttlesense.data.export import export_sharegpt
from shuttlesense.data.prepare import PrepareArguments, prepare_dataset, push_dataset_folder, summary_text

INNER = Path("VideoBadminton_Dataset/VideoBadminton_Dataset")


def _prepare(source: Path, output: Path, **kwargs) -> dict:
    return prepare_dataset(PrepareArguments(source=str(source), output=str(output), progress=False, **kwargs))


def _write_frameless_mp4(path: Path) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height = 64, 48
        container.start_encoding()  # header only: a valid container holding no frame


def test_prepared_folder_loads_with_load_dataset_and_round_trips(
    prepared_dataset: Path, synthetic_source: Path
):
    stats = json.loads((prepared_dataset / "dataset_stats.json").read_text())
    ds = load_dataset(str(prepared_dataset))
    assert set(ds) == {"train", "validation", "test"}
    assert sum(len(split) for split in ds.values()) == stats["num_kept"] == 3 * labels.NUM_CLASSES
    assert ds["train"].features["label"].names == labels.CLASS_NAMES_EN
    row = ds["test"].cast_column("video", Video(decode=False))[0]
    source_file = synthetic_source / INNER / row["file_name"]
    assert row["video"]["bytes"] == source_file.read_bytes()
    assert row["label_zh"] == labels.by_id(row["label"]).zh
    assert row["file_name"].startswith(labels.by_id(row["label"]).folder + "/")
    assert row["end_frame"] - row["start_frame"] + 1 == row["num_frames"]
    assert row["id"] == Path(row["file_name"]).stem and row["session"] in row["id"]


def test_dataset_card_describes_split_and_counts(prepared_dataset: Path):
    card = (prepared_dataset / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\n") and "config_name: default" in card and "path: data/train-*" in card
    assert "Method: **session**" in card
    assert "| 14 | Smash | 杀球 |" in card
    assert "licence" in card.lower() and "@article" in card


def test_every_split_type_partitions_the_kept_clips(tmp_path: Path, synthetic_source: Path):
    files = [str(synthetic_source / n) for n in ("train.txt", "val.txt", "test.txt")]
    for method, extra in [("stratified", {}), ("official", {"split_files": files})]:
        out = tmp_path / method
        stats = _prepare(synthetic_source, out, split=method, **extra)
        ds = load_dataset(str(out))
        ids = [i for split in ds.values() for i in split["id"]]
        assert len(ids) == len(set(ids)) == stats["num_kept"] == 3 * labels.NUM_CLASSES
        assert stats["split"]["method"] == method


def test_bad_files_are_skipped_with_reasons(tmp_path: Path, source_copy: Path):
    inner = source_copy / INNER
    smash = inner / "14_Smash"
    (inner / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (smash / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    (smash / "2022-08-30_18-00-09_dataset_set1_900_000001_000020_A_14.mp4").write_bytes(b"not a video at all")
    _write_frameless_mp4(smash / "2022-08-30_18-00-09_dataset_set1_901_000001_000020_A_14.mp4")
    (smash / "my holiday clip.mp4").write_bytes((smash.iterdir().__next__()).read_bytes())
    (smash / "2022-08-30_18-00-09_dataset_set1_902_000001_000020_A_03.mp4").write_bytes(b"x")
    (inner / "99_Unknown Stroke").mkdir()
    (inner / "99_Unknown Stroke" / "2022-08-30_18-00-09_dataset_set1_903_000001_000020_A_14.mp4").write_bytes(
        b"x"
    )

    stats = _prepare(source_copy, tmp_path / "out")
    reasons = {Path(s["file"]).name: s["reason"] for s in stats["skipped"]}
    assert reasons[".DS_Store"] == reasons["Thumbs.db"] == "not a video file"
    assert reasons["2022-08-30_18-00-09_dataset_set1_900_000001_000020_A_14.mp4"].startswith(
        "unreadable video"
    )
    assert reasons["2022-08-30_18-00-09_dataset_set1_901_000001_000020_A_14.mp4"].startswith(
        "unreadable video"
    )
    assert "does not match" in reasons["my holiday clip.mp4"]
    assert "disagrees with folder" in reasons["2022-08-30_18-00-09_dataset_set1_902_000001_000020_A_03.mp4"]
    assert "not one of the 18" in reasons["2022-08-30_18-00-09_dataset_set1_903_000001_000020_A_14.mp4"]
    assert stats["num_skipped"] == 7
    assert stats["num_kept"] == 3 * labels.NUM_CLASSES
    assert stats["num_found"] == stats["num_kept"] + stats["num_skipped"]


def test_split_file_line_for_missing_clip_is_reported(tmp_path: Path, synthetic_source: Path):
    lines = (synthetic_source / "train.txt").read_text()
    (tmp_path / "train.txt").write_text(
        lines + "2022-01-01_00-00-00_dataset_set1_001_000001_000010_A_02.mp4 02\n"
    )
    files = [
        str(tmp_path / "train.txt"),
        str(synthetic_source / "val.txt"),
        str(synthetic_source / "test.txt"),
    ]
    stats = _prepare(synthetic_source, tmp_path / "out", split="official", split_files=files)
    assert [p["file"] for p in stats["split_file_problems"]] == [f"train.txt:{len(lines.splitlines()) + 1}"]
    assert stats["num_kept"] == 3 * labels.NUM_CLASSES


def test_rerun_gives_the_same_dataset(tmp_path: Path, synthetic_source: Path, prepared_dataset: Path):
    _prepare(synthetic_source, tmp_path / "again")
    for shard in sorted((prepared_dataset / "data").iterdir()):
        assert (tmp_path / "again" / "data" / shard.name).read_bytes() == shard.read_bytes()
    assert (tmp_path / "again" / "README.md").read_text() == (prepared_dataset / "README.md").read_text()


def test_refusals(tmp_path: Path, synthetic_source: Path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="--overwrite"):
        _prepare(synthetic_source, tmp_path / "busy")
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="No VideoBadminton class folders"):
        _prepare(tmp_path / "empty", tmp_path / "out")
    with pytest.raises(ValueError, match="needs --split-files"):
        _prepare(synthetic_source, tmp_path / "out", split="official")
    with pytest.raises(ValueError, match="fractions"):
        _prepare(synthetic_source, tmp_path / "out", fractions=[0.5, 0.5, 0.5])


def test_export_sharegpt_json(tmp_path: Path, prepared_dataset: Path):
    written = export_sharegpt(prepared_dataset, tmp_path / "json", language="en")
    assert [p.name for p in written] == ["train.json", "val.json", "test.json"]
    records = json.loads((tmp_path / "json" / "test.json").read_text(encoding="utf-8"))
    first = records[0]
    assert first["conversations"][0] == {"from": "user", "value": "<video>" + labels.PROMPT_EN}
    assert first["conversations"][1]["value"] in labels.CLASS_NAMES_EN
    assert (tmp_path / "json" / first["video"]).stat().st_size > 0


def test_cli_prepare_reports_errors_without_traceback(tmp_path: Path, capsys):
    assert cli.main(["prepare", "--source", str(tmp_path / "missing"), "--output", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err


def test_parallel_probing_gives_the_same_stats(
    tmp_path: Path, synthetic_source: Path, prepared_dataset: Path
):
    stats = _prepare(synthetic_source, tmp_path / "parallel", num_proc=2)
    assert stats == json.loads((prepared_dataset / "dataset_stats.json").read_text())


def test_push_to_hub_uploads_exactly_the_prepared_folder(monkeypatch, prepared_dataset: Path):
    calls = []

    class RecordingApi:
        def create_repo(self, repo_id, **kwargs):
            calls.append(("create_repo", repo_id, kwargs))
            return f"https://hub.example/datasets/{repo_id}"

        def upload_folder(self, **kwargs):
            calls.append(("upload_folder", kwargs))

    monkeypatch.setattr("huggingface_hub.HfApi", RecordingApi)
    url = push_dataset_folder(prepared_dataset, "someone/videobadminton", private=True)
    assert url.endswith("someone/videobadminton")
    assert calls[0] == (
        "create_repo",
        "someone/videobadminton",
        {"repo_type": "dataset", "private": True, "exist_ok": True},
    )
    upload = calls[1][1]
    assert upload["folder_path"] == str(prepared_dataset) and upload["repo_type"] == "dataset"


def _checksums(folder: Path) -> dict[str, str]:
    """Every file under `folder` by relative path, with its SHA-256: what must survive untouched."""
    import hashlib

    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("where", ["same", "inside", "around"])
def test_an_output_overlapping_the_source_is_refused_and_nothing_is_lost(source_copy: Path, where: str):
    before = _checksums(source_copy)
    output = {"same": source_copy, "inside": source_copy / "prepared", "around": source_copy.parent}[where]
    with pytest.raises(ValueError, match="over its input"):
        _prepare(source_copy, output, overwrite=True)
    assert _checksums(source_copy) == before


def test_overwrite_replaces_only_a_folder_prepare_wrote(
    tmp_path: Path, synthetic_source: Path, monkeypatch: pytest.MonkeyPatch
):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    before = _checksums(mine)
    import shuttlesense.data.prepare as prepare_module

    def never(*args, **kwargs):
        raise AssertionError("refused only after probing every clip")

    monkeypatch.setattr(prepare_module, "probe_clips", never)  # the refusal comes first
    with pytest.raises(FileExistsError, match="was not written by `shuttlesense prepare`"):
        _prepare(synthetic_source, mine, overwrite=True)
    assert _checksums(mine) == before
    monkeypatch.undo()
    ours = tmp_path / "ours"
    _prepare(synthetic_source, ours)
    (ours / "dataset_stats.json").write_text("spoilt")
    (ours / "notes.txt").write_text("the user's, added later")
    _prepare(synthetic_source, ours, overwrite=True)  # its own output: replaced, the note kept
    assert json.loads((ours / "dataset_stats.json").read_text())["num_kept"] > 0
    assert (ours / "notes.txt").read_text() == "the user's, added later"


def test_export_json_refuses_a_folder_of_the_user_before_preparing(
    tmp_path: Path, synthetic_source: Path, capsys
):
    export = tmp_path / "export"
    export.mkdir()
    (export / "train.json").write_text("[]")
    argv = ["prepare", "--source", str(synthetic_source), "--output", str(tmp_path / "out")]
    argv += ["--export-json", str(export), "--overwrite", "--no-progress"]
    assert cli.main(argv) == 1
    assert "was not written by `shuttlesense prepare --export-json`" in capsys.readouterr().err
    assert (export / "train.json").read_text() == "[]" and not (tmp_path / "out").exists()


def _truncated_faststart_copy(clip: Path, target: Path) -> None:
    """`clip` re-muxed with its index at the start (+faststart), then cut at 99 % of its bytes:
    frame 0 reads fine, the end does not (a download or copy that stopped early)."""
    whole = target.with_suffix(".whole.mp4")
    with av.open(str(clip)) as source, av.open(str(whole), "w", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    data = whole.read_bytes()
    target.write_bytes(data[: int(len(data) * 0.99)])
    whole.unlink()


def test_a_clip_that_cannot_be_read_to_the_end_is_skipped(tmp_path: Path, source_copy: Path):
    clip = sorted(source_copy.rglob("*.mp4"))[0]
    damaged = clip.with_name(
        clip.name.replace("_A_", "_B_", 1) if "_A_" in clip.name else clip.name.replace("_B_", "_A_", 1)
    )
    _truncated_faststart_copy(clip, damaged)
    stats = _prepare(source_copy, tmp_path / "out")
    reasons = {Path(s["file"]).name: s["reason"] for s in stats["skipped"]}
    assert "cannot be read to the end" in reasons[damaged.name] and ".cc:" not in reasons[damaged.name]
    uploaded = (tmp_path / "out" / "dataset_stats.json").read_text() + (
        tmp_path / "out" / "README.md"
    ).read_text()
    assert str(source_copy) not in uploaded and str(tmp_path) not in uploaded, "no local path goes to the Hub"


def test_a_class_missing_from_a_split_is_a_warning_in_the_summary_and_the_card(
    tmp_path: Path, source_copy: Path
):
    for clip in sorted(
        (source_copy / "VideoBadminton_Dataset" / "VideoBadminton_Dataset" / "08_Cut").glob("*.mp4")
    )[1:]:
        clip.unlink()  # one Cut clip left: it can be in one split only
    stats = _prepare(source_copy, tmp_path / "out", split="stratified")
    assert stats["warnings"] == [
        "split validation has no clips of 1 class(es): Cut",
        "split test has no clips of 1 class(es): Cut",
    ]
    assert "Warning: split test has no clips of 1 class(es): Cut" in summary_text(stats, tmp_path / "out")
    assert (
        "- split validation has no clips of 1 class(es): Cut" in (tmp_path / "out" / "README.md").read_text()
    )


def test_overwrite_also_replaces_a_prepare_output_from_before_the_marker(
    tmp_path: Path, synthetic_source: Path
):
    old = tmp_path / "old"
    _prepare(synthetic_source, old)
    (old / ".shuttlesense-output.json").unlink()  # as written by earlier versions
    _prepare(synthetic_source, old, overwrite=True)
    assert (old / ".shuttlesense-output.json").is_file()
