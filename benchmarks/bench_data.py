"""Prepare throughput and clip-loading speed, ours vs qwen-vl-utils, measured side by side.

    .venv/bin/python benchmarks/bench_data.py [--clips-per-class 2] [--repeats 3]

Writes synthetic clips at VideoBadminton's real resolution (1280x960), times `prepare` on them
(clips/s and the projected minutes for the 7,822 real clips), then times getting 16 frames at a
448x448 pixel budget with our loader (decode-time scaling in decord, from the embedded bytes) and
with `qwen_vl_utils.fetch_video` (decord backend, same frames and pixels), alternating the two.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")

REAL_CLIPS = 7822
NUM_FRAMES = 16
MAX_PIXELS = 448 * 448


def time_prepare(source: Path, output: Path) -> tuple[float, int]:
    from shuttlesense.data.prepare import PrepareArguments, prepare_dataset

    start = time.perf_counter()
    stats = prepare_dataset(PrepareArguments(source=str(source), output=str(output), progress=False))
    return time.perf_counter() - start, stats["num_kept"]


def load_ours(rows: list[dict]) -> tuple[int, int]:
    from shuttlesense.data.loading import FrameSampling, load_clip

    sampling = FrameSampling(num_frames=NUM_FRAMES, max_pixels=MAX_PIXELS)
    shape = None
    for row in rows:
        shape = load_clip(row, sampling).frames.shape
    return shape[1], shape[2]


def load_qwen_vl_utils(paths: list[Path]) -> tuple[int, int]:
    from qwen_vl_utils import fetch_video

    shape = None
    for path in paths:
        shape = fetch_video({"video": str(path), "nframes": NUM_FRAMES, "max_pixels": MAX_PIXELS}).shape
    return shape[2], shape[3]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--clips-per-class", type=int, default=2, help="synthetic clips per class (18 classes)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="alternating timing rounds per loader")
    args = parser.parse_args()

    from shuttlesense.data.loading import load_split
    from shuttlesense.synthetic.clips import write_synthetic_dataset

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_synthetic_dataset(
            tmp / "src", clips_per_class=args.clips_per_class, width=1280, height=960, fps=60, progress=False
        )
        seconds, kept = time_prepare(tmp / "src", tmp / "prepared")
        rows = [
            row
            for split in ("train", "validation", "test")
            for row in load_split(str(tmp / "prepared"), split)
        ]
        root = tmp / "src" / "VideoBadminton_Dataset" / "VideoBadminton_Dataset"
        paths = [root / row["file_name"] for row in rows]

        ours, theirs = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            size_ours = load_ours(rows)
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            size_theirs = load_qwen_vl_utils(paths)
            theirs.append(time.perf_counter() - start)

    n = len(rows)
    prepare_rate = kept / seconds
    ours_rate, theirs_rate = n / min(ours), n / min(theirs)
    print(f"clips: {n} synthetic H.264 clips at 1280x960, 60 fps")
    print(
        f"prepare: {prepare_rate:.1f} clips/s -> {REAL_CLIPS / prepare_rate / 60:.1f} min projected for {REAL_CLIPS} clips"
    )
    print(f"{'loader (16 frames, 448x448 budget)':<40} {'clips/s':>8} {'frame size':>12}")
    print(
        f"{'shuttlesense (decord, scaled decode)':<40} {ours_rate:>8.2f} {size_ours[1]:>5}x{size_ours[0]:<6}"
    )
    print(
        f"{'qwen_vl_utils.fetch_video (decord)':<40} {theirs_rate:>8.2f} {size_theirs[1]:>5}x{size_theirs[0]:<6}"
    )
    print(f"ratio ours / qwen-vl-utils: {ours_rate / theirs_rate:.2f}x (goal >= 1.5x)")


if __name__ == "__main__":
    main()
