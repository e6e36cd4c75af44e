"""`evaluate` throughput: serial vs decoding ahead in worker processes, measured side by side.

    .venv/bin/python benchmarks/bench_eval.py [--clips-per-class 3] [--workers 1 2] [--workdir outputs/bench-eval]

Writes synthetic clips at VideoBadminton's real resolution (1280x960) and prepares them (kept in
--workdir and reused), builds a tiny random Qwen2.5-VL, then runs `evaluate_model` on the test split
with 0 decode workers (decode, then score, in turn: the serial loop) and with each --workers count,
16 frames at a 448x448 budget. Prints clips per second, the ratio to the serial run (target: at
least 1.7x on 2 cores) and whether the predictions are identical.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path


def _dataset(workdir: Path, clips_per_class: int) -> Path:
    from shuttlesense.data.prepare import PrepareArguments, prepare_dataset
    from shuttlesense.synthetic.clips import write_synthetic_dataset

    source, prepared = workdir / f"source-{clips_per_class}", workdir / f"prepared-{clips_per_class}"
    if not (prepared / "dataset_dict.json").is_file():
        print(f"writing {18 * clips_per_class} synthetic 1280x960 clips ...", flush=True)
        write_synthetic_dataset(source, clips_per_class, 1280, 960, overwrite=True, progress=False)
        prepare_dataset(
            PrepareArguments(source=str(source), output=str(prepared), split="stratified", overwrite=True)
        )
    return prepared


def _predictions(folder: Path) -> list[dict]:
    lines = [json.loads(line) for line in (folder / "predictions.jsonl").read_text().splitlines()]
    return [{k: v for k, v in line.items() if k != "seconds"} for line in lines]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--clips-per-class", type=int, default=3, help="synthetic clips per class (3+: one per split)"
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="decode worker counts")
    parser.add_argument("--workdir", default="outputs/bench-eval", help="where clips and results go")
    args = parser.parse_args()
    if args.clips_per_class < 1 or min(args.workers) < 1:
        parser.error("--clips-per-class and every --workers count must be at least 1.")
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
    for workers in [0, *args.workers]:
        out = workdir / f"eval-workers{workers}"
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        metrics = evaluate_model(recognizer, str(dataset), "test", out, progress=False, num_workers=workers)
        seconds = time.perf_counter() - start
        runs[workers] = (metrics["num_total"] / seconds, _predictions(out))
        print(
            f"decode workers {workers}: {runs[workers][0]:.2f} clips/s ({metrics['num_total']} clips)",
            flush=True,
        )
    serial, expected = runs[0]
    print("\nratios to the serial loop (target >= 1.7 on 2 cores)")
    for workers in args.workers:
        speed, predictions = runs[workers]
        same = "identical predictions" if predictions == expected else "PREDICTIONS DIFFER"
        print(f"  {workers} worker(s): {speed / serial:.2f}x, {same}")


if __name__ == "__main__":
    main()
