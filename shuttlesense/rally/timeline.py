"""The match timeline picture: where the rallies are, and each rally's strokes, how sure, who hit.

What a coach looks at first. The top strip is the whole video: one grey span per rally, a tick per
hit, and a red line where a damaged file stopped. Under it, one row per rally, all starting at
their serve: one coloured bar per stroke (class colour, paler when the model is less sure) named
with its stroke, confidence and player. A long match gets a tall picture, never a squeezed one.
Class names are drawn in English (the plotting fonts available everywhere have no CJK glyphs);
the report and the table carry Chinese.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.pyplot as plt  # noqa: E402

from shuttlesense.labels import NUM_CLASSES  # noqa: E402
from shuttlesense.rally.report import rally_entries  # noqa: E402

ROW_INCHES = 0.62


def _colour(class_id: int | None, confidence: float | None):
    if class_id is None:
        return (0.8, 0.8, 0.8, 1.0)
    red, green, blue, _ = plt.get_cmap("tab20")(class_id % 20 / 19 if NUM_CLASSES > 1 else 0)
    return (red, green, blue, 0.35 + 0.65 * (confidence if confidence is not None else 1.0))


def _overview(ax, report: dict[str, Any], rallies: list[dict[str, Any]], duration: float) -> None:
    hits = report.get("hit_detection", {}).get("times", [])
    for number, rally in enumerate(rallies):
        ax.broken_barh([(rally["start"], max(rally["end"] - rally["start"], 0.05))], (0.2, 0.6), color="0.75")
        ax.text(
            (rally["start"] + rally["end"]) / 2, 0.5, str(number + 1), ha="center", va="center", fontsize=7
        )
    ax.vlines(hits, 0.15, 0.85, color="black", linewidth=0.6)
    stopped = report.get("stopped_at")
    if stopped:
        ax.axvline(stopped["time"], color="tab:red", linewidth=1.5)
        ax.text(stopped["time"], 0.9, " video damaged: stops here", color="tab:red", fontsize=7, va="top")
    ax.set_xlim(0, duration)
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_xlabel("time in the video (s)", fontsize=8)
    method = report.get("hit_detection", {}).get("method", "?")
    title = (
        f"{Path(str(report.get('video', 'video'))).name}: {report.get('total_hits', len(hits))} hits ({method}), "
        f"{len(rallies)} rallies"
    )
    ax.set_title(title + (" - no hit detected" if not hits else ""), loc="left", fontsize=10)


def _rows(
    ax,
    segments: dict[int, dict[str, Any]],
    rallies: list[dict[str, Any]],
    report: dict[str, Any],
    longest: float,
) -> None:
    for row, rally in enumerate(rallies):
        for shot, index in enumerate(rally["segments"]):
            seg = segments[index]
            failed = seg.get("error") is not None
            left = seg["start"] - rally["start"]
            ax.broken_barh(
                [(left, seg["end"] - seg["start"])],
                (row - 0.32, 0.5),
                facecolors=_colour(None if failed else seg.get("class_id"), seg.get("confidence")),
                edgecolor="white",
            )
            name = "not recognised" if failed else (seg.get("stroke") or "?")
            marker = "*" if seg.get("decided_by") == "ensemble" else ""
            detail = " ".join(
                part
                for part in (
                    f"{seg['confidence'] * 100:.0f}%" if seg.get("confidence") is not None else "",
                    seg.get("player") or "",
                )
                if part
            )
            lift = 0.0 if shot % 2 == 0 else 0.16  # neighbouring names do not collide
            ax.text(left + 0.03, row - 0.22 + lift, f"{name}{marker}", fontsize=6.5, va="center")
            ax.text(left + 0.03, row + 0.05 + lift, detail, fontsize=6.5, va="center", color="0.25")
    ax.set_yticks(
        range(len(rallies)),
        [
            f"rally {n + 1}  {r['start']:.0f} s\nserved by {r.get('server') or '?'}, {r['num_hits']} hits"
            for n, r in enumerate(rallies)
        ],
        fontsize=7,
    )
    ax.set_ylim(len(rallies) - 0.5, -0.6)
    ax.set_xlim(0, longest * 1.08)
    threshold = report.get("confidence_threshold")
    note = f"; Qwen-VL alone at confidence >= {threshold:.2f}" if threshold is not None else ""
    ensemble = "; * = decided by the ensemble" if report.get("ensemble") else ""
    ax.set_xlabel(f"seconds from the rally's first hit (paler = less sure{note}{ensemble})", fontsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


SOFTWARE = "shuttlesense analyze"
"""The timeline PNG's Software tag: how `analyze --overwrite` knows a picture is its own."""


def is_timeline(path: str | Path) -> bool:
    """True if `path` is a timeline PNG that `plot_timeline` drew."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.format == "PNG" and image.info.get("Software") == SOFTWARE
    except (OSError, ValueError):
        return False


def plot_timeline(report: dict[str, Any], path: str | Path) -> Path:
    """Draw `report` (from `process_video_with_action_recognition`) into the PNG at `path`."""
    path = Path(path)
    segment_list = report.get("segments", [])
    segments = {seg["index"]: seg for seg in segment_list}
    rallies = report.get("rallies") or rally_entries(segment_list, {})  # reports from before rallies
    hits = report.get("hit_detection", {}).get("times", [])
    duration = max([report.get("duration_s") or 0.0, *[s["end"] for s in segment_list], *hits, 1.0])
    longest = max([r["end"] - r["start"] for r in rallies] + [1.0])
    width = min(24.0, max(9.0, 1.7 * longest + 2.5))
    rows = max(len(rallies), 1)
    fig, (top, ax) = plt.subplots(
        2,
        1,
        figsize=(width, 1.6 + ROW_INCHES * rows + 0.6),
        gridspec_kw={"height_ratios": [1.0, ROW_INCHES * rows + 0.4]},
        constrained_layout=True,
    )
    _overview(top, report, rallies, duration)
    if rallies:
        _rows(ax, segments, rallies, report, longest)
    else:
        ax.axis("off")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": SOFTWARE})
    plt.close(fig)
    return path
