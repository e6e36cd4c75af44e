"""`analyze` on whole matches: time and peak memory against one plain decode pass, 1 vs 5 minutes.

    .venv/bin/python benchmarks/bench_analyze.py [--minutes 1 5] [--workdir outputs/bench-analyze]

Writes synthetic 1280x720 matches with sound (rallies, pauses, applause, footsteps) and silent
copies of them (the same video stream without the audio), builds a tiny random Qwen2.5-VL, and
for each file times, side by side: one plain PyAV decode pass (`for frame in
container.decode(video=0): pass`, PyAV's defaults) and `shuttlesense analyze FILE` (a fresh
process: start-up and model loading included, so compare the *extra* time the longer match takes),
and the whole process's peak memory. Prints the ratios the match-analysis targets are stated in:
extra analyze time / extra decode time (target <= 2, with sound), peak memory of the longer
match / the shorter one (target <= 1.2, both files), and the largest peak (target <= 2 GB).
Matches are kept in --workdir and reused (writing a 5-minute 720p match takes a few minutes).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

MEASURE = (
    "import resource, subprocess, sys, time\n"
    "start = time.perf_counter()\n"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode\n"
    "print(code, time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)
"""Runs a command in a fresh process and prints its exit code, seconds and peak RSS (KiB): one child each."""


def measured(command: list[str]) -> tuple[float, float]:
    """Seconds and peak memory (GB) of `command`, run in a process of its own."""
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, check=True
    )
    code, seconds, kib = out.stdout.split()
    if code != "0":
        raise RuntimeError(f"{' '.join(command)} failed with exit code {code}")
    return float(seconds), int(kib) / 1024**2


def plain_decode(path: Path) -> float:
    import av

    start = time.perf_counter()
    with av.open(str(path)) as container:
        for _ in container.decode(video=0):
            pass
    return time.perf_counter() - start


def silent_copy(source: Path, target: Path) -> None:
    """The same video stream, stream-copied without its audio."""
    import av

    with av.open(str(source)) as src, av.open(str(target), "w") as dst:
        video = src.streams.video[0]
        out = dst.add_stream_from_template(video)
        for packet in src.demux(video):
            if packet.dts is not None:
                packet.stream = out
                dst.mux(packet)


def matches(workdir: Path, minutes: list[float]) -> dict[float, dict[str, Path]]:
    from shuttlesense.synthetic.match import write_synthetic_match

    files = {}
    for length in minutes:
        loud, quiet = workdir / f"match_{length:g}min.mp4", workdir / f"match_{length:g}min_silent.mp4"
        if not loud.is_file():
            print(f"writing a {length:g}-minute 1280x720 match ...", flush=True)
            write_synthetic_match(loud, minutes=length, width=1280, height=720, seed=7)
        if not quiet.is_file():
            silent_copy(loud, quiet)
        files[length] = {"sound": loud, "silent": quiet}
    return files


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, nargs=2, default=[1.0, 5.0], help="the two match lengths")
    parser.add_argument("--workdir", default="outputs/bench-analyze", help="where matches and reports go")
    args = parser.parse_args()
    if not 0 < args.minutes[0] < args.minutes[1]:
        parser.error(f"--minutes needs a shorter and a longer length, both > 0; got {args.minutes}.")
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    from shuttlesense.synthetic.tiny_models import build_tiny_model

    model = workdir / "tiny-qwen2_5_vl"
    if not (model / "config.json").is_file():
        build_tiny_model("qwen2_5_vl", model)
    files = matches(workdir, args.minutes)
    shuttlesense = str(Path(sys.executable).parent / "shuttlesense")
    rows: dict[tuple[float, str], dict[str, float]] = {}
    for length, pair in files.items():
        for kind, path in pair.items():
            decode = min(plain_decode(path) for _ in range(2))
            report = workdir / f"{path.stem}.report.json"  # not {stem}.json: that is the truth
            seconds, memory = measured(
                [
                    shuttlesense,
                    "analyze",
                    str(path),
                    "--model-path",
                    str(model),
                    "--output",
                    str(report),
                    "--overwrite",
                ]
            )
            found = json.loads(report.read_text())
            rows[length, kind] = {"decode": decode, "analyze": seconds, "memory": memory}
            print(
                f"{length:g} min {kind:6s}: plain decode {decode:6.2f} s | analyze {seconds:6.1f} s, "
                f"peak {memory:.2f} GB, {found['total_hits']} hits, {len(found['rallies'])} rallies",
                flush=True,
            )
    short, long = args.minutes
    print("\nratios (longer match vs shorter one)")
    extra_decode = rows[long, "sound"]["decode"] - rows[short, "sound"]["decode"]
    extra_analyze = rows[long, "sound"]["analyze"] - rows[short, "sound"]["analyze"]
    print(
        f"  extra analyze time / extra plain-decode time, with sound: {extra_analyze:.1f} s / "
        f"{extra_decode:.2f} s = {extra_analyze / extra_decode:.2f}  (target <= 2)"
    )
    for kind in ("sound", "silent"):
        ratio = rows[long, kind]["memory"] / rows[short, kind]["memory"]
        print(f"  peak memory {kind:6s}: {ratio:.2f}x  (target <= 1.2)")
    peak = max(row["memory"] for row in rows.values())
    print(f"  largest peak: {peak:.2f} GB  (target <= 2)")


if __name__ == "__main__":
    main()
