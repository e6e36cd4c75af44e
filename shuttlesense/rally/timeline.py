"""The rally timeline picture: where the hits fall, which stroke each was, how sure the model is.

What a coach looks at first: the strokes in order along the rally's time axis (one coloured
span per stroke clip, the hit marked and named), and under it each call's confidence against
the threshold at which Qwen-VL's answer stands alone. Class names are drawn in English (the
plotting fonts available everywhere have no CJK glyphs); the report and the table carry Chinese.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.pyplot as plt  # noqa: E402

from shuttlesense.labels import NUM_CLASSES  # noqa: E402


def _colour(class_id: int | None):
    if class_id is None:
        return (0.8, 0.8, 0.8, 1.0)
    return plt.get_cmap("tab20")(class_id % 20 / 19 if NUM_CLASSES > 1 else 0)


def plot_timeline(report: dict[str, Any], path: str | Path) -> Path:
    """Draw `report` (from `process_video_with_action_recognition`) into the PNG at `path`."""
    path = Path(path)
    segments = report.get("segments", [])
    hits = report.get("hit_detection", {}).get("times", [])
    duration = max([report.get("duration_s") or 0.0, *[s["end"] for s in segments], *hits, 1.0])
    width = min(24.0, max(8.0, 1.1 * duration))
    fig, (ax, conf_ax) = plt.subplots(
        2,
        1,
        figsize=(width, 4.2),
        sharex=True,
        gridspec_kw={"height_ratios": [2.2, 1]},
        constrained_layout=True,
    )
    for row, seg in enumerate(segments):
        colour = _colour(seg.get("class_id") if not seg.get("error") else None)
        ax.broken_barh(
            [(seg["start"], seg["end"] - seg["start"])], (0.1, 0.5), facecolors=colour, edgecolor="white"
        )
        ax.text(
            (seg["start"] + seg["end"]) / 2, 0.35, str(seg["index"] + 1), ha="center", va="center", fontsize=8
        )
        name = seg.get("stroke") or "not recognised"
        marker = "*" if seg.get("decided_by") == "ensemble" else ""
        label = f"{name}{marker}" + (
            f" {seg['confidence'] * 100:.0f}%" if seg.get("confidence") is not None else ""
        )
        height = 0.78 + 0.22 * (row % 3)  # staggered so neighbouring names do not collide
        ax.annotate(
            label,
            (seg["hit_time"], 0.66),
            (seg["hit_time"] + 0.02 * duration / width * 8, height),
            fontsize=8,
            va="bottom",
            arrowprops={"arrowstyle": "-", "color": "grey", "linewidth": 0.6},
        )
    for t in hits:
        ax.plot([t, t], [0.05, 0.66], color="black", linewidth=1)
        ax.plot([t], [0.66], marker="v", color="black", markersize=6)
    ax.set_ylim(0, 1.45)
    ax.set_yticks([])
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    method = report.get("hit_detection", {}).get("method", "?")
    title = f"{Path(str(report.get('video', 'rally'))).name}: {report.get('total_hits', len(hits))} hits ({method})"
    if not hits:
        title += " - no hit detected"
    ax.set_title(title, loc="left", fontsize=10)

    recognised = [s for s in segments if s.get("confidence") is not None]
    conf_ax.vlines(
        [s["hit_time"] for s in recognised], 0, [s["confidence"] for s in recognised], color="tab:blue"
    )
    conf_ax.plot(
        [s["hit_time"] for s in recognised], [s["confidence"] for s in recognised], "o", color="tab:blue"
    )
    threshold = report.get("confidence_threshold")
    if threshold is not None:
        conf_ax.axhline(threshold, color="tab:red", linestyle="--", linewidth=1)
        conf_ax.text(
            0, threshold, f" Qwen-VL alone at >= {threshold:.2f}", color="tab:red", fontsize=7, va="bottom"
        )
    conf_ax.set_ylim(0, 1.05)
    conf_ax.set_ylabel("confidence", fontsize=8)
    conf_ax.set_xlim(0, duration)
    conf_ax.set_xlabel("time (s)" + ("   * = decided by the ensemble" if report.get("ensemble") else ""))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
