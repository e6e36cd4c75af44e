"""Hit detection on synthetic matches: F1 within 50 ms with sound and on silent copies, hits in pauses.

    .venv/bin/python benchmarks/bench_hits.py [--seeds 1 2 3 4 5] [--minutes 1] [--workdir outputs/bench-hits]

For each seed writes a synthetic 320x240 match (rallies, pauses with applause, voices and
footsteps) and a silent copy made from the same seed, runs `detect_hits` on both (the audio
detector, then the shuttle tracker), and prints per seed and pooled: F1 of the found hit times
against the truth (a found hit counts if within 50 ms of a true one), and how many hits fall in
pauses (from 0.3 s after a rally's last hit to 0.7 s before the next serve). The match-analysis
targets: F1 >= 0.98 with sound, >= 0.95 silent, no hit in a pause. Matches are kept in --workdir.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5], help="match seeds")
    parser.add_argument("--minutes", type=float, default=1.0, help="length of each match")
    parser.add_argument("--workdir", default="outputs/bench-hits", help="where the matches go")
    args = parser.parse_args()
    if args.minutes <= 0:
        parser.error(f"--minutes must be > 0; got {args.minutes}.")
    from shuttlesense.rally.hit_detection import hit_f1
    from shuttlesense.rally.hits import detect_hits
    from shuttlesense.synthetic.match import write_synthetic_match

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    totals = {kind: [0, 0, 0, 0] for kind in ("sound", "silent")}  # matched, found, true, in pauses
    for seed in args.seeds:
        line = f"seed {seed:3d}:"
        for kind in totals:
            path = workdir / f"match_{args.minutes:g}min_seed{seed}_{kind}.mp4"
            truth = write_synthetic_match(path, minutes=args.minutes, seed=seed, with_audio=kind == "sound")
            found = detect_hits(path).times
            true = [hit["time"] for hit in truth["hits"]]
            rallies = truth["rallies"]
            pauses = [(a["end"] + 0.3, b["start"] - 0.7) for a, b in zip(rallies, rallies[1:], strict=False)]
            in_pauses = sum(any(lo <= t <= hi for lo, hi in pauses) for t in found)
            f1, matched = hit_f1(found, true)
            for i, value in enumerate((matched, len(found), len(true), in_pauses)):
                totals[kind][i] += value
            line += f"  {kind} F1 {f1:.3f} ({matched}/{len(true)}, {len(found)} found, {in_pauses} in pauses)"
        print(line, flush=True)
    print("\npooled")
    for kind, (matched, found, true, in_pauses) in totals.items():
        target = 0.98 if kind == "sound" else 0.95
        f1 = 2 * matched / (found + true) if found + true else 1.0
        print(
            f"  {kind:6s}: F1 {f1:.3f} ({matched} of {true} true hits, {found} found; target >= {target}),"
            f" {in_pauses} in pauses (target 0)"
        )


if __name__ == "__main__":
    main()
