"""Synthetic data: real VideoBadminton layout and names, reproducible bytes, learnable classes, rally truth."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path

import av
import decord
import numpy as np
import pytest

from shuttlesense.data.scan import parse_clip_name
from shuttlesense.data.video_writer import write_video
from shuttlesense.labels import CLASS_NAMES_EN, CLASS_NAMES_ZH, FOLDER_NAMES, NUM_CLASSES
from shuttlesense.synthetic import clips as synth
from shuttlesense.synthetic.clips import write_synthetic_dataset
from shuttlesense.synthetic.match import write_synthetic_rally
from shuttlesense.synthetic.rally import MAX_GAP_S, MIN_GAP_S, SERVES, render

WIDTH, HEIGHT = 64, 48
# Written independently of scan.CLIP_NAME_RE, from the real example name in the design notes.
REAL_NAME = re.compile(
    r"^\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_dataset_set\d+_\d{3}_\d{6}_\d{6}_(A|B|BB)_\d\d\.mp4$"
)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree_digests(output: Path) -> dict[str, str]:
    return {str(p.relative_to(output)): _digest(p) for p in sorted(output.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, Path]:
    output = tmp_path_factory.mktemp("synth") / "data"
    root = write_synthetic_dataset(
        output, clips_per_class=2, width=WIDTH, height=HEIGHT, seed=0, num_sessions=3, progress=False
    )
    return output, root


def test_real_name_pattern_matches_the_documented_example():
    example = "2022-08-30_18-00-09_dataset_set1_022_002091_002108_A_14.mp4"
    meta = parse_clip_name(example)
    assert REAL_NAME.match(example) and meta
    assert (meta.session, meta.set, meta.shot) == ("2022-08-30_18-00-09", 1, 22)
    assert (meta.start_frame, meta.end_frame, meta.side, meta.class_id) == (2091, 2108, "A", 14)


def test_layout_names_and_frame_counts(dataset):
    output, root = dataset
    assert root == output / "VideoBadminton_Dataset" / "VideoBadminton_Dataset"
    assert sorted(p.name for p in root.iterdir()) == FOLDER_NAMES
    assert "00_Short Serve" in FOLDER_NAMES and (root / "16_Rear Court Flat Drive").is_dir()
    clips = sorted(root.glob("*/*.mp4"))
    assert len(clips) == 2 * NUM_CLASSES
    classes_by_session: dict[str, set[int]] = {}
    for clip in clips:
        match = REAL_NAME.match(clip.name)
        assert match, clip.name
        fields = parse_clip_name(clip.name)
        assert fields.class_id == int(clip.parent.name[:2]), clip
        reader = decord.VideoReader(str(clip))
        assert len(reader) == fields.end_frame - fields.start_frame + 1, clip.name
        assert reader[0].shape == (HEIGHT, WIDTH, 3)
        assert synth.MIN_FRAMES <= len(reader) <= round(MAX_GAP_S * 30)
        classes_by_session.setdefault(fields.session, set()).add(fields.class_id)
    assert len(classes_by_session) == 3
    assert all(len(classes) >= 3 for classes in classes_by_session.values())
    sides = [parse_clip_name(c.name).side for c in clips]
    assert sides.count("A") > 0 and sides.count("B") > 0


def test_clips_are_cut_hit_to_hit_from_rallies():
    """Consecutive clips of a rally touch, a rally opens with a serve and its players alternate."""
    sets = synth.plan_dataset(3, 2, 30.0, seed=4)
    assert sorted(c.class_id for s in sets for c in s.clips) == sorted(list(range(NUM_CLASSES)) * 3)
    for one_set in sets:
        clips = iter(one_set.clips)
        for rally in one_set.rallies:
            cut = [next(clips) for _ in rally.strokes]
            assert cut[0].class_id in SERVES and all(c.class_id not in SERVES for c in cut[1:])
            assert [c.start for c in cut] == list(rally.hits)
            assert all(a.end + 1 == b.start for a, b in zip(cut, cut[1:], strict=False))  # hit to hit
            assert [c.side for c in cut] == [rally.player(i) for i in range(len(cut))]
            assert {c.side for c in cut[:2]} == {"A", "B"}
        shots = [c.shot for c in one_set.clips]
        assert shots == sorted(shots) and len(set(shots)) == len(shots)


def _clip_frames(one_set, plan, width: int = 112, height: int = 112) -> np.ndarray:
    track = one_set.track(30.0, 0)
    window = track.window(plan.start, plan.start + plan.num_frames)
    return np.stack(list(render(window, width, height, one_set.scene, plan.start)))


def test_split_files_cover_every_clip_once(dataset):
    output, root = dataset
    clips = {p.name: int(p.parent.name[:2]) for p in root.glob("*/*.mp4")}
    seen: dict[str, int] = {}
    sizes = {}
    for split in ("train", "val", "test"):
        lines = (output / f"{split}.txt").read_text(encoding="utf-8").splitlines()
        sizes[split] = len(lines)
        for line in lines:
            name, label = line.split(" ")
            assert re.fullmatch(r"\d\d", label) and name not in seen
            seen[name] = int(label)
    assert seen == clips
    assert sizes["train"] == round(0.7 * len(clips)) and sizes["val"] == round(0.15 * len(clips))


def test_same_seed_same_bytes_even_with_workers(dataset, tmp_path):
    output, _ = dataset
    again = tmp_path / "again"
    write_synthetic_dataset(again, 2, WIDTH, HEIGHT, seed=0, num_sessions=3, progress=False, num_workers=2)
    assert _tree_digests(again) == _tree_digests(output)
    other = tmp_path / "other"
    write_synthetic_dataset(other, 2, WIDTH, HEIGHT, seed=1, num_sessions=3, progress=False)
    digests, other_digests = _tree_digests(output), _tree_digests(other)
    assert set(digests) != set(other_digests)
    clip_bytes = {v for k, v in digests.items() if k.endswith(".mp4")}
    assert clip_bytes.isdisjoint(v for k, v in other_digests.items() if k.endswith(".mp4"))


def test_encoder_is_reproducible_whatever_the_heap_holds(tmp_path):
    # Regression: x264's mb-tree read uninitialised memory at 320x240, so bytes depended on earlier allocations.
    one_set = synth.plan_dataset(1, 1, 30.0, seed=0)[0]
    frames = _clip_frames(one_set, one_set.clips[0], 320, 240)
    digests = set()
    for i in range(3):
        junk = [np.random.bytes(1000 * (k + 1)) for k in range(200)]  # noqa: F841  (dirty the heap)
        write_video(tmp_path / f"{i}.mp4", frames, 30)
        digests.add(_digest(tmp_path / f"{i}.mp4"))
    assert len(digests) == 1
    data = (tmp_path / "0.mp4").read_bytes()
    assert b"Lavf" not in data  # no library version string
    mvhd = data.index(b"mvhd")
    assert data[mvhd + 8 : mvhd + 16] == bytes(8)  # creation and modification time are zero


def test_overwrite_replaces_only_an_earlier_synth_output(tmp_path):
    theirs = tmp_path / "theirs"  # e.g. where the real dataset was unpacked
    real = theirs / "VideoBadminton_Dataset" / "VideoBadminton_Dataset" / "14_Smash" / "real.mp4"
    real.parent.mkdir(parents=True)
    real.write_bytes(b"real")
    with pytest.raises(FileExistsError, match=r"theirs.*--overwrite"):
        write_synthetic_dataset(theirs, 1, 32, 32, progress=False)
    with pytest.raises(FileExistsError, match="not written by `shuttlesense synth`"):
        write_synthetic_dataset(theirs, 1, 32, 32, progress=False, overwrite=True)
    assert real.read_bytes() == b"real"

    output = tmp_path / "synthetic"
    write_synthetic_dataset(output, 1, 32, 32, progress=False)
    first = sorted(output.glob("VideoBadminton_Dataset/VideoBadminton_Dataset/*/*.mp4"))
    (output / "notes.txt").write_text("keep me")
    write_synthetic_dataset(output, 1, 32, 32, seed=2, progress=False, overwrite=True)
    again = sorted(output.glob("VideoBadminton_Dataset/VideoBadminton_Dataset/*/*.mp4"))
    assert len(again) == NUM_CLASSES and again != first and (output / "notes.txt").read_text() == "keep me"


def test_bad_sizes_fail_before_writing(tmp_path):
    with pytest.raises(ValueError, match="even"):
        write_synthetic_dataset(tmp_path / "odd", 1, 63, 48, progress=False)
    assert not (tmp_path / "odd").exists()


def _sampled_features(frames: np.ndarray, size: int = 28) -> np.ndarray:
    """8 uniformly sampled frames, area-downscaled to size x size (frames must be a multiple)."""
    idx = np.linspace(0, len(frames) - 1, 8).round().astype(int)
    t, h, w, c = frames[idx].shape
    small = frames[idx].astype(np.float32).reshape(t, size, h // size, size, w // size, c).mean(axis=(2, 4))
    return small.reshape(-1)


def _shuttle_track(frames: np.ndarray, side: str) -> np.ndarray:
    """The shuttle's (x, y) in 8 sampled frames, x measured from the hitter's own wall (mirror for B)."""
    idx = np.linspace(0, len(frames) - 1, 8).round().astype(int)
    x, y = _shuttle_xy(frames[idx])
    x, y = x / frames.shape[2], y / frames.shape[1]
    return np.concatenate([x if side == "A" else 1 - x, y])


def test_classes_show_in_where_and_how_the_shuttle_flies():
    """Nearest class centroid on the shuttle's sampled path must be far above chance (1/18)."""
    items = []
    for one_set in synth.plan_dataset(5, 2, 30.0, seed=123):
        items += [
            (plan.class_id, _shuttle_track(_clip_frames(one_set, plan), plan.side)) for plan in one_set.clips
        ]
    train = [(c, f) for i, (c, f) in enumerate(items) if i % 5 < 3]
    test = [(c, f) for i, (c, f) in enumerate(items) if i % 5 >= 3]
    centroids = np.stack([np.mean([f for c, f in train if c == k], axis=0) for k in range(NUM_CLASSES)])
    hits = [int(np.argmin(((centroids - f) ** 2).sum(axis=1)) == c) for c, f in test]
    assert np.mean(hits) >= 0.8


def test_encoding_keeps_the_shuttle_path(dataset):
    """Each decoded clip shows the shuttle where its plan put it (x264 at 64x48 keeps the path)."""
    _, root = dataset
    plans = {
        p.file_name: (one_set, p) for one_set in synth.plan_dataset(2, 3, 30.0, seed=0) for p in one_set.clips
    }
    clips = sorted(root.glob("*/*.mp4"))
    assert {c.name for c in clips} == set(plans)
    for clip in clips:
        one_set, plan = plans[clip.name]
        decoded = decord.VideoReader(str(clip))
        drawn = _shuttle_track(_clip_frames(one_set, plan, WIDTH, HEIGHT), plan.side)
        seen = _shuttle_track(decoded.get_batch(range(len(decoded))).asnumpy(), plan.side)
        assert np.abs(drawn - seen).max() <= 0.08, clip.name


@pytest.fixture(scope="module")
def rally(tmp_path_factory) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("rally") / "rally.mp4"
    return path, write_synthetic_rally(path, num_hits=5, width=160, height=120, seed=3)


def test_rally_json_matches_hits(rally):
    path, info = rally
    assert json.loads(path.with_suffix(".json").read_text(encoding="utf-8")) == info
    assert info["video"] == "rally.mp4" and info["has_audio"] is True
    hits = info["hits"]
    assert len(hits) == 5
    times = np.array([h["time"] for h in hits])
    assert np.allclose(times, [h["frame"] / info["fps"] for h in hits])
    assert np.all((np.diff(times) >= MIN_GAP_S - 0.04) & (np.diff(times) <= MAX_GAP_S + 1e-9))
    server = info["rallies"][0]["server"]
    other = "B" if server == "A" else "A"
    assert [h["player"] for h in hits] == [server, other] * 2 + [server]
    assert hits[0]["class_id"] in SERVES and info["kind"] == "rally" and len(info["rallies"]) == 1
    for hit in hits:
        assert hit["stroke_en"] == CLASS_NAMES_EN[hit["class_id"]]
        assert hit["stroke_zh"] == CLASS_NAMES_ZH[hit["class_id"]]
    assert len(decord.VideoReader(str(path))) == info["num_frames"]
    assert (
        info["duration"] == pytest.approx(info["num_frames"] / info["fps"]) and info["duration"] > times[-1]
    )


def test_rally_audio_clicks_at_hit_times(rally):
    path, info = rally
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.sample_rate
        frames = list(container.decode(stream))
    assert frames[0].pts == 0
    audio = np.concatenate([f.to_ndarray()[0] for f in frames])
    for hit in info["hits"]:
        lo, hi = int((hit["time"] - 0.1) * rate), int((hit["time"] + 0.1) * rate)
        peak = (lo + int(np.argmax(np.abs(audio[lo:hi])))) / rate
        assert abs(peak - hit["time"]) <= 0.010, (hit, peak)
        assert np.abs(audio[lo:hi]).max() > 0.5
    quiet = int((info["hits"][0]["time"] - 0.05) * rate)
    assert np.abs(audio[:quiet]).max() < 0.1  # background noise stays low


def _shuttle_xy(frames: np.ndarray, box: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Shuttle (x, y) per frame: the brightest 5x5 patch (thin court lines and the heads are dimmer)."""
    luma = frames.astype(np.float32).mean(axis=-1)
    t, h, w = luma.shape
    patch = sum(luma[:, i : h - box + 1 + i, j : w - box + 1 + j] for i in range(box) for j in range(box))
    best = patch.reshape(t, -1).argmax(axis=1)
    return best % patch.shape[2] + box / 2, best // patch.shape[2] + box / 2


def test_rally_shuttle_turns_at_each_hit(rally):
    """Between hits the shuttle crosses the court, A's shots rightwards and B's leftwards, from the hit on."""
    path, info = rally
    reader = decord.VideoReader(str(path))
    x, _ = _shuttle_xy(reader.get_batch(range(len(reader))).asnumpy())
    landing = round(info["rallies"][0]["end"] * info["fps"])
    stops = [h["frame"] for h in info["hits"][1:]] + [landing]
    for i, (hit, stop) in enumerate(zip(info["hits"], stops, strict=True)):
        direction = 1 if hit["player"] == "A" else -1  # A plays from the left
        start = hit["frame"]
        assert direction * (x[stop] - x[start]) > 0.1 * info["width"], (i, x[start], x[stop])
        assert direction * (x[start + 5] - x[start]) > 0, (i, x[start : start + 6])


def test_rally_without_audio_is_a_silent_copy(rally, tmp_path):
    path, info = rally
    silent = write_synthetic_rally(
        tmp_path / "silent.mp4", num_hits=5, width=160, height=120, seed=3, with_audio=False
    )
    with av.open(str(tmp_path / "silent.mp4")) as container:
        assert len(container.streams.audio) == 0 and len(container.streams.video) == 1
    assert silent["has_audio"] is False and silent["hits"] == info["hits"]
    loud = decord.VideoReader(str(path)).get_batch([0, 40]).asnumpy()
    quiet = decord.VideoReader(str(tmp_path / "silent.mp4")).get_batch([0, 40]).asnumpy()
    assert np.array_equal(loud, quiet)


def test_cli_help_documents_every_option(capsys):
    assert all(f.metadata.get("help") for f in dataclasses.fields(synth.SynthArguments))
    with pytest.raises(SystemExit) as exit_info:
        synth.main(["--help"])
    assert exit_info.value.code == 0
    assert "--clips-per-class" in capsys.readouterr().out


def test_cli_dataset_and_rally(tmp_path, caplog):
    caplog.set_level("INFO")
    args = ["--output", str(tmp_path / "ds"), "--clips-per-class", "1", "--width", "32", "--height", "32"]
    assert synth.main([*args, "--num-sessions", "2", "--no-progress"]) == 0
    assert "18 clips, 18 classes, 2 sessions" in caplog.text
    with pytest.raises(FileExistsError, match="--overwrite"):
        synth.main(args)
    assert synth.main(["--rally", "--output", str(tmp_path / "r"), "--num-hits", "2", "--no-audio"]) == 0
    info = json.loads((tmp_path / "r" / "rally.json").read_text(encoding="utf-8"))
    assert info["video"] == "rally.mp4" and not info["has_audio"] and len(info["hits"]) == 2
    with pytest.raises(FileExistsError, match="--overwrite"):
        synth.main(["--rally", "--output", str(tmp_path / "r" / "rally.mp4")])
    small = ["--width", "160", "--height", "120"]
    assert synth.main(["--match", "--output", str(tmp_path / "m"), "--num-rallies", "2", *small]) == 0
    match = json.loads((tmp_path / "m" / "match.json").read_text(encoding="utf-8"))
    assert match["kind"] == "match" and len(match["rallies"]) == 2 and match["sounds"]["applause"]
    assert {h["rally"] for h in match["hits"]} == {0, 1}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rally", "--match"], "exclude each other"),
        (["--num-rallies", "0"], "--num-rallies must be at least 1"),
        (["--width", "63"], "even"),
        (["--minutes", "-1"], "--minutes"),
    ],
)
def test_cli_options_are_checked_where_they_are_parsed(tmp_path, argv, message):
    with pytest.raises(ValueError, match=message):
        synth.main(["--output", str(tmp_path / "x"), *argv])
    assert not (tmp_path / "x").exists()
