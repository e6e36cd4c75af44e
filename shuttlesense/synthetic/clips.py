"""Synthetic stroke clips in the real VideoBadminton layout, and the `shuttlesense synth` command.

Why: the real dataset cannot be downloaded here, yet `prepare`, training, evaluation and the
demo must run end to end on something that looks exactly like it to the code: the nested
`VideoBadminton_Dataset/VideoBadminton_Dataset/NN_Class Name/` folders, real-style clip names
with session/set/shot/frame metadata, H.264 mp4 clips, and official-style split files. And the
clips are made the way the real ones were: synthetic rallies (`rally`) are cut hit to hit, both
players hitting (`_A_` / `_B_` in the names), so a model trained on them sees what `analyze` cuts
from a match. Same seed, same bytes: cached datasets and tests can rely on it.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from shuttlesense.data.scan import parse_clip_name
from shuttlesense.data.video_writer import check_frame_size, write_video
from shuttlesense.labels import FOLDER_NAMES, NUM_CLASSES
from shuttlesense.paths import check_output_file, claim_output_dir, seal_output_dir
from shuttlesense.synthetic.rally import RALLYING, SERVES, RallyPlan, Track, build_track, plan_rally, render
from shuttlesense.synthetic.scene import reply_weights

logger = logging.getLogger(__name__)

DATASET_DIRNAME = "VideoBadminton_Dataset"
SPLITS = {"train": 0.70, "val": 0.15, "test": 0.15}
MIN_FRAMES = 16  # >= 16 so 8- and 16-frame samplers never repeat a frame
LAST_CLIP_AFTER_LANDING_S = 0.2  # a rally's last clip runs on a little past the landing
PAUSE_S = (3.0, 12.0)  # between two rallies of a set
MAX_SHOTS_PER_SET = 300  # shot indices grow by 1-3 per clip and must stay below 1000


@dataclass(frozen=True)
class ClipPlan:
    """One clip to write: its class, real-style name metadata and where it lies in its set's video."""

    class_id: int
    session: str
    set_no: int
    shot: int
    start: int  # first frame in the set's video (the hit)
    num_frames: int
    side: str  # who hits: "A" (left) or "B" (right)

    @property
    def end(self) -> int:
        return self.start + self.num_frames - 1

    @property
    def file_name(self) -> str:
        return (
            f"{self.session}_dataset_set{self.set_no}_{self.shot:03d}_{self.start:06d}_{self.end:06d}"
            f"_{self.side}_{self.class_id:02d}.mp4"
        )


@dataclass(frozen=True)
class SetPlan:
    """One recorded set: its rallies (one continuous video, never written whole) and the clips cut from it."""

    scene: tuple[int, ...]  # the camera: background colours, exposure, grain
    rallies: tuple[RallyPlan, ...]
    clips: tuple[ClipPlan, ...]
    total: int  # frames in the set's video

    def track(self, fps: float, seed: int) -> Track:
        return build_track(self.rallies, self.total, fps, seed)


def _session_stamps(rng: np.random.Generator, count: int) -> list[str]:
    """Distinct, sorted practice-session timestamps (evenings, late 2022), like the real names."""
    days = np.sort(rng.choice(max(120, 2 * count), size=count, replace=False))
    stamps = []
    for day in days:
        clock = timedelta(
            hours=int(rng.integers(17, 21)), minutes=int(rng.integers(60)), seconds=int(rng.integers(60))
        )
        stamps.append((datetime(2022, 8, 1) + timedelta(days=int(day)) + clock).strftime("%Y-%m-%d_%H-%M-%S"))
    return stamps


def deal_strokes(clips_per_class: int, rng: np.random.Generator) -> list[list[int]]:
    """Rallies that hold every class exactly `clips_per_class` times, played like the matches' rallies.

    Each serve opens a rally; each next stroke is a likely reply to the last (`reply_weights`),
    weighted by how many of its class are still wanted, so the counts come out exact.
    """
    wanted = np.full(NUM_CLASSES, clips_per_class)
    serves, rallying = np.array(SERVES), np.array(RALLYING)
    rallies: list[list[int]] = []
    while wanted[serves].sum():
        serve = int(rng.choice(serves, p=wanted[serves] / wanted[serves].sum()))
        wanted[serve] -= 1
        others = wanted[rallying].sum()
        share = (
            others
            if not wanted[serves].sum()
            else max(1, round(others / (wanted[serves].sum() + 1) * rng.uniform(0.6, 1.4)))
        )
        rally = [serve]
        for _ in range(min(share, others)):
            weights = reply_weights(rally[-1], rallying) * wanted[rallying]
            rally.append(int(rng.choice(rallying, p=weights / weights.sum())))
            wanted[rally[-1]] -= 1
        rallies.append(rally)
    return rallies


def plan_dataset(clips_per_class: int, num_sessions: int, fps: float, seed: int) -> list[SetPlan]:
    """Decide every rally and the clips cut from it: class, session, set, shot index, frames, side.

    Rallies are dealt to sessions, each session's rallies form 1-3 sets, and within a set the
    rallies follow each other with pauses. A clip runs from its hit to the next (a rally's last
    from its hit to just after the landing), so consecutive clips touch, as in the real data.
    """
    rng = np.random.default_rng((seed, 0))
    rallies = deal_strokes(clips_per_class, rng)
    num_sessions = min(num_sessions, len(rallies))
    stamps = _session_stamps(rng, num_sessions)
    order = rng.permutation(len(rallies))
    after_landing = max(1, round(LAST_CLIP_AFTER_LANDING_S * fps))
    sets: list[SetPlan] = []
    for session_no, stamp in enumerate(stamps):
        members = [rallies[i] for i in order[session_no::num_sessions]]
        strokes = sum(len(m) for m in members)
        num_sets = min(len(members), max(int(np.clip(strokes // 24, 1, 3)), -(-strokes // MAX_SHOTS_PER_SET)))
        for set_no, group in enumerate(np.array_split(np.arange(len(members)), num_sets), start=1):
            shot, frame = int(rng.integers(0, 5)), int(rng.integers(30, 600))
            plans, clips = [], []
            for member in group:
                rally = plan_rally(rng, 0, fps, frame, strokes=members[member], least_gap=MIN_FRAMES)
                stops = [*rally.hits[1:], rally.landing + after_landing]
                for i, (hit, stop) in enumerate(zip(rally.hits, stops, strict=True)):
                    shot += 1
                    clips.append(
                        ClipPlan(
                            rally.strokes[i], stamp, set_no, shot, int(hit), int(stop - hit), rally.player(i)
                        )
                    )
                shot += int(rng.integers(0, 3))  # strokes between rallies that are not in the dataset
                plans.append(rally)
                frame = rally.end + int(round(rng.uniform(*PAUSE_S) * fps))
            total = plans[-1].end + 1
            sets.append(SetPlan((seed, session_no, set_no), tuple(plans), tuple(clips), total))
    return sets


def _write_clip(job: tuple[Path, Track, ClipPlan, int, int, float, tuple[int, ...]]) -> None:
    """Render and encode one clip from its window of the set's track (top level: workers run it)."""
    path, window, plan, width, height, fps, scene = job
    write_video(path, render(window, width, height, scene, first_frame=plan.start), fps)


def write_split_files(output: Path, plans: Sequence[ClipPlan], seed: int) -> dict[str, int]:
    """Official-style `train/val/test.txt` (`<file name> <class id>`): a seeded random split by clip.

    Random by clip like the authors' split, so sessions leak across splits just as they do there.
    """
    names = sorted(plans, key=lambda p: p.file_name)
    order = np.random.default_rng((seed, 1)).permutation(len(names))
    n_train = round(SPLITS["train"] * len(names))
    n_val = round(SPLITS["val"] * len(names))
    bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, len(names))}
    counts = {}
    for split, (lo, hi) in bounds.items():
        chosen = sorted((names[i] for i in order[lo:hi]), key=lambda p: (p.class_id, p.file_name))
        lines = "".join(f"{p.file_name} {p.class_id:02d}\n" for p in chosen)
        (output / f"{split}.txt").write_text(lines, encoding="utf-8")
        counts[split] = len(chosen)
    return counts


def write_synthetic_dataset(
    output: str | Path,
    clips_per_class: int = 4,
    width: int = 320,
    height: int = 240,
    fps: float = 30,
    seed: int = 0,
    num_sessions: int = 4,
    overwrite: bool = False,
    split_files: bool = True,
    progress: bool = True,
    num_workers: int = 1,
) -> Path:
    """Write synthetic H.264 clips in the VideoBadminton layout; returns the inner dataset folder.

    Layout: `output/VideoBadminton_Dataset/VideoBadminton_Dataset/NN_Class Name/<real-style>.mp4`,
    plus `output/{train,val,test}.txt` when `split_files`. Clips run hit to hit in synthetic rallies
    (fast strokes are shorter; 0.55-1.6 s), and a clip's name range end - start + 1 equals its frame
    count. Rendering is fixed by the plan, so `num_workers` processes write the very same bytes
    (they are spawned: a calling script needs the usual `if __name__ == "__main__":` guard).
    """
    if clips_per_class < 1 or num_sessions < 1:
        raise ValueError(
            f"clips_per_class and num_sessions must be >= 1, got {clips_per_class}, {num_sessions}."
        )
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}.")
    check_frame_size(width, height)
    output = claim_output_dir(output, "synth", overwrite)
    root = output / DATASET_DIRNAME / DATASET_DIRNAME
    for folder in FOLDER_NAMES:
        (root / folder).mkdir(parents=True, exist_ok=True)
    sets = plan_dataset(clips_per_class, num_sessions, fps, seed)
    plans = [clip for one_set in sets for clip in one_set.clips]
    jobs = []
    for one_set in sets:
        track = one_set.track(fps, seed)
        jobs += [
            (root / FOLDER_NAMES[p.class_id] / p.file_name, track.window(p.start, p.start + p.num_frames), p,
             width, height, fps, one_set.scene)
            for p in one_set.clips
        ]  # fmt: skip
    bar = tqdm(total=len(jobs), desc="synthetic clips", unit="clip", disable=not progress)
    if num_workers > 1:  # spawn, not fork: the caller may hold threads (torch, tokenizers)
        with ProcessPoolExecutor(num_workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for _ in pool.map(_write_clip, jobs):
                bar.update()
    else:
        for job in jobs:
            _write_clip(job)
            bar.update()
    bar.close()
    if split_files:
        counts = write_split_files(output, plans, seed)
        logger.info("Split files in %s: %s", output, ", ".join(f"{k} {v}" for k, v in counts.items()))
    sessions = len({p.session for p in plans})
    logger.info(
        "Wrote %d synthetic clips (%d classes, %d sessions) to %s", len(plans), NUM_CLASSES, sessions, root
    )
    seal_output_dir(output)
    return root


@dataclass
class SynthArguments:
    """Options of `shuttlesense synth`."""

    output: str = field(
        metadata={
            "help": "Dataset mode: directory to create (gets VideoBadminton_Dataset/VideoBadminton_Dataset/ and "
            "train/val/test.txt). Rally and match mode: the .mp4 path, or a directory that gets rally.mp4 "
            "(match.mp4) and its truth .json."
        }
    )
    clips_per_class: int = field(
        default=4, metadata={"help": "Clips to write per stroke class (18 classes)."}
    )
    width: int = field(
        default=320, metadata={"help": "Frame width in pixels (even; the real clips are 1280)."}
    )
    height: int = field(
        default=240, metadata={"help": "Frame height in pixels (even; the real clips are 960)."}
    )
    fps: float = field(
        default=30.0, metadata={"help": "Frames per second written into the mp4 (the real clips: 60)."}
    )
    seed: int = field(default=0, metadata={"help": "Random seed; the same seed writes byte-identical files."})
    num_sessions: int = field(
        default=4, metadata={"help": "Recording sessions (timestamps) the clips are spread over."}
    )
    overwrite: bool = field(
        default=False, metadata={"help": "Replace what synth wrote earlier at --output (never other files)."}
    )
    split_files: bool = field(
        default=True,
        metadata={"help": "Write official-style train/val/test.txt split files (--no-split-files: skip)."},
    )
    progress: bool = field(
        default=True, metadata={"help": "Show a progress bar while writing clips (--no-progress: hide it)."}
    )
    num_workers: int = field(
        default=1, metadata={"help": "Processes that encode clips in parallel (same bytes)."}
    )
    rally: bool = field(
        default=False,
        metadata={
            "help": "Write one synthetic rally video (hit clicks over quiet noise) with its truth JSON."
        },
    )
    num_hits: int = field(default=6, metadata={"help": "Rally mode: number of hits (strokes) in the rally."})
    match: bool = field(
        default=False,
        metadata={
            "help": "Write a synthetic match: rallies with pauses, the server changing, applause, voices and "
            "footsteps in the sound, and the truth (hits, strokes, players, rallies) in JSON."
        },
    )
    num_rallies: int = field(default=4, metadata={"help": "Match mode: number of rallies."})
    minutes: float = field(
        default=0.0, metadata={"help": "Match mode: fill this many minutes with rallies instead (0: off)."}
    )
    audio: bool = field(
        default=True,
        metadata={"help": "Rally and match mode: write the AAC sound track (--no-audio: a silent video)."},
    )
    sample_rate: int = field(
        default=16000, metadata={"help": "Rally and match mode: audio sample rate in Hz."}
    )

    def __post_init__(self) -> None:
        if self.rally and self.match:
            raise ValueError("--rally and --match exclude each other: pick one.")
        whole = {
            "clips_per_class": self.clips_per_class, "num_sessions": self.num_sessions,
            "num_workers": self.num_workers, "num_hits": self.num_hits, "num_rallies": self.num_rallies,
            "sample_rate": self.sample_rate,
        }  # fmt: skip
        for name, value in whole.items():
            if value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {value}.")
        if self.fps <= 0 or self.minutes < 0 or self.seed < 0:
            raise ValueError(
                f"--fps must be > 0, --minutes and --seed >= 0; got {self.fps}, {self.minutes}, {self.seed}."
            )
        try:
            check_frame_size(self.width, self.height)
        except ValueError as err:
            raise ValueError(f"--width/--height: {err}") from err


def _video_path(output: str, default_name: str) -> Path:
    """`--output` in rally or match mode: an .mp4 path is used as is, anything else is a directory."""
    path = Path(output)
    return path if path.suffix.lower() == ".mp4" else path / default_name


def _is_truth(path: Path, video_name: str | None = None) -> bool:
    """True if `path` is the truth JSON `synth --rally/--match` wrote (for the video `video_name`)."""
    try:
        truth = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(truth, dict)
        and truth.get("kind") in ("rally", "match")
        and "hits" in truth
        and video_name in (None, truth.get("video"))
    )


def _run_video(args: SynthArguments) -> None:
    from shuttlesense.synthetic.match import write_synthetic_match, write_synthetic_rally

    video = _video_path(args.output, "match.mp4" if args.match else "rally.mp4")
    sidecar = video.with_suffix(".json")
    check_output_file(sidecar, "synth", args.overwrite, [], _is_truth)
    check_output_file(video, "synth", args.overwrite, [], lambda path: _is_truth(sidecar, path.name))
    common = {
        "fps": args.fps, "width": args.width, "height": args.height, "seed": args.seed,
        "sample_rate": args.sample_rate, "with_audio": args.audio,
    }  # fmt: skip
    if args.match:
        info = write_synthetic_match(video, num_rallies=args.num_rallies, minutes=args.minutes, **common)
    else:
        info = write_synthetic_rally(video, num_hits=args.num_hits, **common)
    logger.info(
        "Wrote a %.2f s synthetic %s with %d rallies and %d hits (audio: %s) to %s; the truth is in %s",
        info["duration"], info["kind"], len(info["rallies"]), len(info["hits"]), info["has_audio"], video, sidecar,
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """`shuttlesense synth`: write a synthetic dataset (default) or a synthetic rally (`--rally`)."""
    from shuttlesense.cli import parse_dataclass_args

    args = parse_dataclass_args(
        SynthArguments,
        argv,
        prog="synth",
        description="Write synthetic badminton stroke clips in the real VideoBadminton layout (folders, clip "
        "names, split files), cut hit to hit from synthetic rallies; with --rally one rally video, with --match a "
        "match (rallies, pauses, crowd sounds), each with its truth JSON. For tests, demos and smoke runs; the "
        "clips are learnable but look nothing like real badminton.",
    )
    if args.rally or args.match:
        _run_video(args)
        return 0
    root = write_synthetic_dataset(
        args.output, clips_per_class=args.clips_per_class, width=args.width, height=args.height, fps=args.fps,
        seed=args.seed, num_sessions=args.num_sessions, overwrite=args.overwrite, split_files=args.split_files,
        progress=args.progress, num_workers=args.num_workers,
    )  # fmt: skip
    clips = sorted(root.glob("*/*.mp4"))
    sessions = {parse_clip_name(p.name).session for p in clips}
    logger.info(
        "Done: %d clips, %d classes, %d sessions, %dx%d at %g fps in %s",
        len(clips), len({p.parent.name for p in clips}), len(sessions), args.width, args.height, args.fps, root,
    )  # fmt: skip
    return 0
