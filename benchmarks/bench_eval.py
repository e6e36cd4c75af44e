"""`evaluate` throughput: serial vs decoding ahead vs decoding ahead + batches, side by side; and
batched shared-prefix scoring vs one clip at a time on a mid-size random model.

    .venv/bin/python benchmarks/bench_eval.py [--clips-per-class 6] [--workers 1 2] [--batch-size 4]

Writes synthetic clips at VideoBadminton's real resolution (1280x960) and prepares them (kept in
--workdir and reused), builds a tiny random Qwen2.5-VL, then runs `evaluate_model` on the train split
with 0 decode workers (decode, then score, in turn: the serial loop), with each --workers count,
and with the most workers and --batch-size clips per batch, 16 frames at a 448x448 budget. Prints
the scoring loop's clips per second (`metrics.json`'s, without loading and figures), the ratio to
the serial run (target: at least 1.7x on 2 cores) and whether the predictions are identical.
It also times the three parts of one clip's work at one thread each (decoding, the processor, the
model) and prints the ceiling they allow: a perfect pipeline keeps every core busy, so it cannot
score faster than cores / (their sum) clips per second. Then, on a random ~30 M-parameter
Qwen2.5-VL (`bench_scoring.py`'s),
times `score_clips` on --batch-size clips of 16 frames at 224x224 against `score_candidates`
one clip at a time, and prints the ratio and the largest difference of their log-probabilities.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path


def _dataset(workdir: Path, clips_per_class: int) -> Path:
    from shuttlesense.data.prepare import PrepareArguments, prepare_dataset
    from shuttlesense.synthetic.clips import write_synthetic_dataset

    source, prepared = workdir / f"source-{clips_per_class}", workdir / f"prepared-{clips_per_class}"
    if not (prepared / "dataset_dict.json").is_file():
        print(f"writing {18 * clips_per_class} synthetic 1280x960 clips ...", flush=True)
        write_synthetic_dataset(
            source, clips_per_class, 1280, 960, overwrite=True, progress=False, num_workers=2
        )
        prepare_dataset(
            PrepareArguments(source=str(source), output=str(prepared), split="stratified", overwrite=True)
        )
    return prepared


def _predictions(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "predictions.jsonl").read_text().splitlines()]


def _same(lines: list[dict], expected: list[dict]) -> bool:
    """Same predicted classes, and scores within float tolerance (batches add up in another order)."""
    return len(lines) == len(expected) and all(
        a["predicted"] == b["predicted"]
        and max(abs(x - y) for x, y in zip(a["scores"], b["scores"], strict=True)) < 1e-4
        for a, b in zip(lines, expected, strict=True)
    )


def _stage_seconds(recognizer, dataset: Path, count: int = 12) -> dict[str, float]:
    """Seconds of one core per clip for decoding, the processor and the model, on `count` clips."""
    import time

    import torch

    from shuttlesense.data.loading import load_clip, load_split

    rows = load_split(str(dataset), "train").select(range(count))
    totals = dict.fromkeys(("decoding", "processor", "model"), 0.0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            for row in rows:
                start = time.perf_counter()
                clip = load_clip(row, recognizer.sampling, recognizer.grid)
                encoded_at = time.perf_counter()
                encoded = recognizer.prompt_encoder(clip)
                scored_at = time.perf_counter()
                recognizer.class_log_likelihoods(encoded)
                end = time.perf_counter()
                totals["decoding"] += encoded_at - start
                totals["processor"] += scored_at - encoded_at
                totals["model"] += end - scored_at
    finally:
        torch.set_num_threads(threads)
    return {name: total / count for name, total in totals.items()}


def _ceiling(recognizer, dataset: Path, serial_clips_per_second: float) -> None:
    import os

    stages = _stage_seconds(recognizer, dataset)
    cores = os.cpu_count() or 1
    best = cores / sum(stages.values())
    parts = ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in stages.items())
    print(f"\none clip at one thread: {parts}; on {cores} cores no pipeline beats {best:.2f} clips/s, "
          f"{best / serial_clips_per_second:.2f}x the serial loop")  # fmt: skip


def _scoring_batch_vs_one(workdir: Path, batch_size: int, repeats: int = 3) -> None:
    import numpy as np
    import torch
    from bench_scoring import build_mid_model, time_methods
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from shuttlesense.data.video_io import DecodedClip
    from shuttlesense.inference.conversation import answer_token_ids
    from shuttlesense.inference.scoring import score_candidates, score_clips
    from shuttlesense.labels import class_names

    folder = workdir / "mid-qwen2_5_vl"
    if not (folder / "config.json").is_file():
        build_mid_model(folder)
    model = AutoModelForImageTextToText.from_pretrained(folder, attn_implementation="sdpa").eval()
    processor = AutoProcessor.from_pretrained(folder)
    candidates = [answer_token_ids(processor, "zh", name) for name in class_names("zh")]
    rng = np.random.default_rng(0)
    indices = [int(i) for i in np.linspace(0, 59, 16).round()]
    clips = [DecodedClip(rng.integers(0, 256, (16, 224, 224, 3), dtype=np.uint8), indices, 30.0, 60)
             for _ in range(batch_size)]  # fmt: skip
    with torch.inference_mode():
        one = torch.stack([score_candidates(model, processor, clip, candidates, "zh") for clip in clips])
        batched = score_clips(model, processor, clips, candidates, "zh", batch_size)
        times = time_methods(
            {
                "one at a time": lambda: [
                    score_candidates(model, processor, c, candidates, "zh") for c in clips
                ],
                "batched": lambda: score_clips(model, processor, clips, candidates, "zh", batch_size),
            },
            repeats,
        )
    print(f"\nshared-prefix scoring, mid-size random Qwen2.5-VL, {batch_size} clips of 16 x 224x224:")
    for name, seconds in times.items():
        print(f"  {name:14s} {seconds / batch_size * 1000:7.1f} ms per clip")
    print(
        f"  one at a time / batched = {times['one at a time'] / times['batched']:.2f}x; largest log-prob "
        f"difference {float((one - batched).abs().max()):.2e} (target < 1e-4)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--clips-per-class", type=int, default=6, help="synthetic clips per class (the train split gets 3/4)"
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="decode worker counts")
    parser.add_argument("--batch-size", type=int, default=4, help="clips per batch in the batched runs")
    parser.add_argument("--workdir", default="outputs/bench-eval", help="where clips and results go")
    args = parser.parse_args()
    if args.clips_per_class < 1 or min(args.workers) < 1 or args.batch_size < 1:
        parser.error("--clips-per-class, --batch-size and every --workers count must be at least 1.")
    from shuttlesense.evaluation.evaluator import evaluate_model
    from shuttlesense.inference.recognizer import QwenVLActionRecognizer
    from shuttlesense.synthetic.tiny_models import build_tiny_model

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    dataset = _dataset(workdir, args.clips_per_class)
    model = workdir / "tiny-qwen2_5_vl"
    if not (model / "config.json").is_file():
        build_tiny_model("qwen2_5_vl", model)
    recognizer = QwenVLActionRecognizer(str(model), language="zh", num_frames=16, max_pixels=448 * 448)
    runs = {}
    configs = [(0, 1), *((workers, 1) for workers in args.workers), (max(args.workers), args.batch_size)]
    for workers, batch in configs:
        out = workdir / f"eval-workers{workers}-batch{batch}"
        shutil.rmtree(out, ignore_errors=True)
        metrics = evaluate_model(recognizer, str(dataset), "train", out, progress=False, num_workers=workers,
                                 batch_size=batch)  # fmt: skip
        runs[workers, batch] = (metrics["clips_per_second"], _predictions(out))
        print(f"decode workers {workers}, batch {batch}: {runs[workers, batch][0]:.2f} clips/s "
              f"({metrics['num_total']} clips)", flush=True)  # fmt: skip
    serial, expected = runs[0, 1]
    print("\nratios to the serial loop (target >= 1.7 on 2 cores)")
    for (workers, batch), (speed, predictions) in list(runs.items())[1:]:
        same = "identical predictions" if _same(predictions, expected) else "PREDICTIONS DIFFER"
        print(f"  {workers} worker(s), batch {batch}: {speed / serial:.2f}x, {same}")
    _ceiling(recognizer, dataset, serial)
    _scoring_batch_vs_one(workdir, args.batch_size)


if __name__ == "__main__":  # the synthetic clips are written by spawned processes
    main()
