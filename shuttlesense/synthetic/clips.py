"""Synthetic stroke clips in the real VideoBadminton layout, and the `shuttlesense synth` command.

Why: the real dataset cannot be downloaded here, yet `prepare`, training, evaluation and the
demo must run end to end on something that looks exactly like it to the code: the nested
`VideoBadminton_Dataset/VideoBadminton_Dataset/NN_Class Name/` folders, real-style clip names
with session/set/shot/frame metadata, H.264 mp4 clips, and official-style split files. The
clips are learnable (each class has its own shuttle path and hitter position, see
`scene.STROKE_STYLES`), so a model that trains on them shows it really reads the pixels.
Same seed, same bytes: cached datasets and tests can rely on it.
"""

from __future__ import annotations

import logging
import multiprocessing
import shutil
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from shuttlesense.data.scan import parse_clip_name
from shuttlesense.data.video_writer import check_frame_size, write_video
from shuttlesense.labels import FOLDER_NAMES, NUM_CLASSES, by_id
from shuttlesense.synthetic.scene import (
    CONTACT_DX,
    HITTER,
    RECEIVER,
    STROKE_STYLES,
    block_noise,
    court_background,
    draw_player,
    draw_shuttle,
    finish_frame,
    shuttle_path,
)

logger = logging.getLogger(__name__)

DATASET_DIRNAME = "VideoBadminton_Dataset"
SPLITS = {"train": 0.70, "val": 0.15, "test": 0.15}
MIN_FRAMES, MAX_FRAMES = 16, 90  # >= 16 so 8- and 16-frame samplers never repeat a frame
JITTER = 0.03  # positional jitter, fraction of the frame
MAX_SHOTS_PER_SET = 300  # shot indices grow by 1-3 per clip and must stay below 1000


def render_stroke_frames(
    class_id: int, num_frames: int, width: int, height: int, rng: np.random.Generator
) -> np.ndarray:
    """Render one synthetic stroke clip as uint8 frames (T, H, W, 3), hit to next hit.

    The class shows in the motion (shuttle path, speed profile, hitter position and jump);
    `rng` adds +-3 % positional jitter, arc and colour variation, exposure and grain so no two
    clips are alike. The clip starts at the hit, so any frame count samples the same motion.
    """
    style = STROKE_STYLES[by_id(class_id).id]
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}.")

    def jitter() -> float:
        return float(rng.uniform(-JITTER, JITTER))

    player_x = style.player_x + jitter()
    start = (player_x + CONTACT_DX, style.start_y + jitter())
    end = (style.end_x + jitter(), style.end_y + jitter())
    t = np.linspace(0.0, 1.0, num_frames)
    x, y, progress = shuttle_path(t, start, end, style.arc * rng.uniform(0.9, 1.1), style.ease, style.flight)
    settle = t * t * (3 - 2 * t)  # smoothstep: players accelerate and brake
    hitter_x = player_x + (0.25 - player_x) * 0.4 * settle  # recovers towards mid-court
    lift = style.jump * np.clip(1.0 - (t / 0.3) ** 2, 0.0, None)  # the hit is at the jump's top
    receiver_x0 = 0.76 + rng.uniform(-0.06, 0.06)
    receiver_x = receiver_x0 + (np.clip(end[0] + 0.03, 0.58, 0.95) - receiver_x0) * settle
    scale = 1.0 + (style.grow - 1.0) * progress

    background = court_background(width, height, rng)
    noise = block_noise(rng, num_frames, width, height)
    gain = rng.uniform(0.92, 1.08)
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    for i in range(num_frames):
        img = background.copy()
        draw_player(img, receiver_x[i], 0.0, RECEIVER)
        draw_player(img, hitter_x[i], lift[i], HITTER)
        draw_shuttle(img, x[i], y[i], scale[i])
        finish_frame(img, gain, noise[i], frames[i])
    return frames


@dataclass(frozen=True)
class ClipPlan:
    """One clip to write: its class, real-style name metadata and its own random stream."""

    index: int  # class_id * clips_per_class + k: the clip's rendering seed, stable across sessions
    class_id: int
    session: str
    set_no: int
    shot: int
    start: int
    num_frames: int
    side: str

    @property
    def end(self) -> int:
        return self.start + self.num_frames - 1

    @property
    def file_name(self) -> str:
        return (
            f"{self.session}_dataset_set{self.set_no}_{self.shot:03d}_{self.start:06d}_{self.end:06d}"
            f"_{self.side}_{self.class_id:02d}.mp4"
        )


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


def plan_clips(clips_per_class: int, num_sessions: int, seed: int) -> list[ClipPlan]:
    """Decide every clip's class, session, set, shot index, frame range and side.

    Classes are shuffled and dealt round-robin to sessions, so each session holds several
    classes (as in the real data, where one session's shots span most classes). Within a set,
    shot indices and start frames increase; consecutive shots often touch (clips run hit to hit).
    """
    rng = np.random.default_rng((seed, 0))
    jobs = [(c, k) for c in range(NUM_CLASSES) for k in range(clips_per_class)]
    order = rng.permutation(len(jobs))
    num_sessions = min(num_sessions, len(jobs))
    stamps = _session_stamps(rng, num_sessions)
    plans: list[ClipPlan] = []
    for session_no, stamp in enumerate(stamps):
        members = [jobs[i] for i in order[session_no::num_sessions]]
        # 1-3 sets like the real sessions, more if needed to keep shot numbers at three digits
        num_sets = max(int(np.clip(len(members) // 8, 1, 3)), -(-len(members) // MAX_SHOTS_PER_SET))
        set_no, shot, frame = 0, 0, 0
        for pos, (class_id, k) in enumerate(members):
            if 1 + pos * num_sets // len(members) != set_no:  # a new set: counters restart
                set_no, shot, frame = set_no + 1, int(rng.integers(0, 5)), int(rng.integers(30, 600))
            median = STROKE_STYLES[class_id].median_frames
            length = int(np.clip(round(median * np.exp(rng.normal(0.0, 0.3))), MIN_FRAMES, MAX_FRAMES))
            shot += int(rng.integers(1, 4))
            side = "A" if rng.random() < 0.5 else "B"
            plans.append(
                ClipPlan(class_id * clips_per_class + k, class_id, stamp, set_no, shot, frame, length, side)
            )
            frame += length + (0 if rng.random() < 0.5 else int(rng.integers(1, 240)))
    return plans


def _write_clip(job: tuple[Path, ClipPlan, int, int, float, int]) -> None:
    """Render and encode one planned clip (a top-level function so worker processes can run it)."""
    path, plan, width, height, fps, seed = job
    rng = np.random.default_rng((seed, 2, plan.index))
    write_video(path, render_stroke_frames(plan.class_id, plan.num_frames, width, height, rng), fps)


def _prepare_output(output: Path, overwrite: bool) -> None:
    """Refuse to mix with existing files unless asked; with overwrite, remove only our own outputs."""
    if output.exists() and not output.is_dir():
        raise FileExistsError(f"Output path {output} exists and is not a directory.")
    if output.is_dir() and any(output.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"Output directory {output} is not empty; pass --overwrite (overwrite=True) to replace "
                "the synthetic dataset in it."
            )
        shutil.rmtree(output / DATASET_DIRNAME, ignore_errors=True)
        for split in SPLITS:
            (output / f"{split}.txt").unlink(missing_ok=True)


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
    plus `output/{train,val,test}.txt` when `split_files`. Clip lengths follow a class-dependent
    log-normal (mostly 20-60 frames), and a clip's name range end - start + 1 equals its frame count.
    Every clip has its own random stream, so `num_workers` processes write the very same bytes
    (they are spawned: a calling script needs the usual `if __name__ == "__main__":` guard).
    """
    if clips_per_class < 1 or num_sessions < 1:
        raise ValueError(
            f"clips_per_class and num_sessions must be >= 1, got {clips_per_class}, {num_sessions}."
        )
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}.")
    check_frame_size(width, height)
    output = Path(output)
    _prepare_output(output, overwrite)
    root = output / DATASET_DIRNAME / DATASET_DIRNAME
    for folder in FOLDER_NAMES:
        (root / folder).mkdir(parents=True, exist_ok=True)
    plans = plan_clips(clips_per_class, num_sessions, seed)
    jobs = [(root / FOLDER_NAMES[p.class_id] / p.file_name, p, width, height, fps, seed) for p in plans]
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
    return root


@dataclass
class SynthArguments:
    """Options of `shuttlesense synth`."""

    output: str = field(
        metadata={
            "help": "Dataset mode: directory to create (gets VideoBadminton_Dataset/VideoBadminton_Dataset/ and "
            "train/val/test.txt). Rally mode: the rally .mp4 path, or a directory that gets rally.mp4 + rally.json."
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
    overwrite: bool = field(default=False, metadata={"help": "Replace earlier synthetic output at --output."})
    split_files: bool = field(
        default=True,
        metadata={"help": "Write official-style train/val/test.txt split files (--no_split_files: skip)."},
    )
    progress: bool = field(
        default=True, metadata={"help": "Show a progress bar while writing clips (--no_progress: hide it)."}
    )
    num_workers: int = field(
        default=1, metadata={"help": "Processes that encode clips in parallel (same bytes)."}
    )
    rally: bool = field(
        default=False, metadata={"help": "Write one synthetic rally video with known hit times instead."}
    )
    num_hits: int = field(default=6, metadata={"help": "Rally mode: number of hits (strokes) in the rally."})
    audio: bool = field(
        default=True,
        metadata={"help": "Rally mode: add the AAC track with hit clicks (--no_audio: silent video)."},
    )
    sample_rate: int = field(default=16000, metadata={"help": "Rally mode: audio sample rate in Hz."})


def _rally_paths(output: str) -> Path:
    """`--output` in rally mode: an .mp4 path is used as is, anything else is a directory."""
    path = Path(output)
    return path if path.suffix.lower() == ".mp4" else path / "rally.mp4"


def _run_rally(args: SynthArguments) -> None:
    from shuttlesense.synthetic.rally import write_synthetic_rally

    video = _rally_paths(args.output)
    sidecar = video.with_suffix(".json")
    existing = [p for p in (video, sidecar) if p.exists()]
    if existing and not args.overwrite:
        raise FileExistsError(f"{existing[0]} already exists; pass --overwrite to replace it.")
    video.parent.mkdir(parents=True, exist_ok=True)
    info = write_synthetic_rally(
        video, num_hits=args.num_hits, fps=args.fps, width=args.width, height=args.height,
        seed=args.seed, sample_rate=args.sample_rate, with_audio=args.audio,
    )  # fmt: skip
    logger.info(
        "Wrote a %.2f s synthetic rally with %d hits (audio: %s) to %s; hit times in %s",
        info["duration"], len(info["hits"]), info["has_audio"], video, sidecar,
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """`shuttlesense synth`: write a synthetic dataset (default) or a synthetic rally (`--rally`)."""
    from shuttlesense.cli import parse_dataclass_args

    args = parse_dataclass_args(
        SynthArguments,
        argv,
        prog="synth",
        description="Write synthetic badminton stroke clips in the real VideoBadminton layout (folders, clip "
        "names, split files), or with --rally one rally video with audio clicks at known hit times. For tests, "
        "demos and smoke runs; the clips are learnable but look nothing like real badminton.",
    )
    if args.rally:
        _run_rally(args)
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
