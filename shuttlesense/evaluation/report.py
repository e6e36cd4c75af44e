"""Figures and a short markdown report for an evaluation run.

The report puts our numbers next to the published VideoBadminton baselines, and says on which
split they were measured: the baselines use the authors' official split, which leaks neighbouring
shots of a session across splits, so a session-split number is not directly comparable. It also
says plainly when the model is a tiny random test model, whose numbers are noise.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from shuttlesense.evaluation.metrics import row_normalise, top_confusions  # noqa: E402
from shuttlesense.inference.model_source import tiny_model_kind  # noqa: E402
from shuttlesense.labels import CLASS_NAMES_EN  # noqa: E402

logger = logging.getLogger(__name__)

# VideoBadminton benchmark (MMAction2, official split): (top-1 %, mean class accuracy %). design.md §5.
BASELINES: dict[str, tuple[float, float]] = {
    "SlowFast": (82.80, 73.80),
    "Video Swin": (81.99, 69.93),
    "PoseC3D": (80.76, 67.18),
    "TimeSformer": (73.18, 57.70),
}
SPLIT_NOTES = {
    "official": "the authors' official split, the same as the baselines (random by clip, so "
    "neighbouring shots of one session appear in train and test).",
    "stratified": "a seeded stratified split, random by clip like the official one but not the "
    "same clips: comparable in spirit, not clip for clip.",
    "session": "a session-grouped split (no recording session in two splits). It removes the "
    "neighbouring-shot leakage of the official split, so expect lower numbers than on the official "
    "split; the baselines are not directly comparable.",
}
ANNOTATE_MIN = 0.05  # confusion cells below this share stay unlabelled, so the figure stays readable


def read_split_method(dataset: str | Path) -> str | None:
    """The split method recorded by `prepare` in the dataset's `dataset_stats.json`, if any."""
    stats = Path(dataset).expanduser() / "dataset_stats.json"
    try:
        return json.loads(stats.read_text(encoding="utf-8")).get("split", {}).get("method")
    except (OSError, ValueError, AttributeError):
        return None


def plot_confusion_matrix(cm: np.ndarray | list[list[int]], path: str | Path) -> Path:
    """Row-normalised confusion matrix (share of each true class), class names on both axes."""
    counts = np.asarray(cm, dtype=int)
    shares = row_normalise(counts)
    support = counts.sum(axis=1)
    n = len(shares)
    fig, ax = plt.subplots(figsize=(12, 10.5))
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02, label="share of true class")
    ax.set_xticks(range(n), labels=CLASS_NAMES_EN[:n], rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(
        range(n), labels=[f"{name} (n={s})" for name, s in zip(CLASS_NAMES_EN[:n], support, strict=True)]
    )
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class (clips)")
    ax.set_title(f"Confusion matrix, row-normalised; cells >= {ANNOTATE_MIN:.0%} labelled in %")
    for i in range(n):
        for j in range(n):
            if shares[i, j] >= ANNOTATE_MIN:
                color = "white" if shares[i, j] > 0.5 else "black"
                ax.text(j, i, f"{shares[i, j] * 100:.0f}", ha="center", va="center", fontsize=8, color=color)
    ax.set_xticks(np.arange(-0.5, n), minor=True)
    ax.set_yticks(np.arange(-0.5, n), minor=True)
    ax.grid(which="minor", color="0.85", linewidth=0.5)
    ax.tick_params(which="minor", length=0)
    return _save(fig, path)


def plot_per_class_accuracy(metrics: Mapping[str, Any], path: str | Path) -> Path:
    """Per-class accuracy (recall): sorted horizontal bars with clip counts, absent classes at the bottom."""
    per_class = metrics["per_class"]
    present = sorted(
        (name for name, m in per_class.items() if m["support"] > 0),
        key=lambda name: (per_class[name]["recall"], name),
    )
    absent = sorted((name for name, m in per_class.items() if m["support"] == 0), reverse=True)
    names = absent + present  # barh draws bottom-up: best class ends up on top
    values = [per_class[name]["recall"] * 100 if name in present else 0.0 for name in names]
    fig, ax = plt.subplots(figsize=(10, 0.38 * len(names) + 1.6))
    colors = [plt.cm.RdYlGn(v / 100) for v in values]
    ax.barh(range(len(names)), values, color=colors, edgecolor="0.3", linewidth=0.5)
    ax.set_yticks(range(len(names)), labels=[f"{n} (n={per_class[n]['support']})" for n in names])
    for y, (name, value) in enumerate(zip(names, values, strict=True)):
        m = per_class[name]
        if name in present:
            hits = round(m["recall"] * m["support"])
            label = f"{value:.0f}% ({hits}/{m['support']})"
        else:
            label = "no clips in split"
        ax.text(value + 1, y, label, va="center", fontsize=8)
    mca = metrics["mean_class_accuracy"] * 100
    ax.axvline(mca, color="0.2", linestyle="--", linewidth=1)
    ax.text(mca, len(names) - 0.4, f" mean class acc. {mca:.1f}%", fontsize=8, va="bottom")
    ax.set_xlim(0, 118)
    ax.set_ylim(-0.6, len(names) + 0.2)
    ax.set_xlabel("accuracy (recall) of the true class, %")
    ax.set_title("Per-class accuracy")
    return _save(fig, path)


def plot_reliability_diagram(calibration: Mapping[str, Any], path: str | Path) -> Path:
    """Accuracy against confidence per confidence bin (the diagonal is calibrated), before and
    after the temperature when there is one; bar labels are clip counts."""
    curves = [("as scored", calibration["bins_before"], calibration["ece_before"], "tab:red")]
    if "bins_after" in calibration:
        label = f"temperature {calibration['temperature']:.2f}"
        curves.append((label, calibration["bins_after"], calibration["ece_after"], "tab:blue"))
    fig, axes = plt.subplots(1, len(curves), figsize=(4.6 * len(curves), 4.4), squeeze=False)
    for ax, (label, bins, ece, color) in zip(axes[0], curves, strict=True):
        width = bins[0]["upper"] - bins[0]["lower"]
        filled = [b for b in bins if b["count"]]
        centres = [(b["lower"] + b["upper"]) / 2 for b in filled]
        ax.bar(centres, [b["accuracy"] for b in filled], width=width * 0.9, color=color, alpha=0.75,
               edgecolor="0.3", linewidth=0.5, label="accuracy")  # fmt: skip
        ax.plot([0, 1], [0, 1], color="0.3", linestyle="--", linewidth=1, label="calibrated")
        ax.scatter([b["confidence"] for b in filled], [b["accuracy"] for b in filled], s=10, color="0.1")
        for centre, b in zip(centres, filled, strict=True):
            ax.text(centre, b["accuracy"] + 0.02, str(b["count"]), ha="center", fontsize=7)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.08)
        ax.set_xlabel("confidence (probability of the predicted class)")
        ax.set_ylabel("accuracy")
        ax.set_title(f"{label}: ECE {ece * 100:.1f}%", fontsize=10)
        ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)


def _save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    logger.info("Wrote %s", path)
    return path


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f}"


def _recalls(per_class: Mapping[str, Any], names: list[str]) -> str:
    return ", ".join(f"{n} {per_class[n]['recall'] * 100:.0f}% (n={per_class[n]['support']})" for n in names)


def render_markdown_report(
    metrics: Mapping[str, Any],
    model: str,
    dataset: str,
    split: str,
    split_method: str | None = None,
    tiny_kind: str | None = None,
) -> str:
    """The report text (see `write_markdown_report`)."""
    lines = [f"# Evaluation: {Path(model).name or model}", ""]
    if tiny_kind == "random":
        lines += [
            "> **Warning: this is a tiny RANDOMLY initialised test model. It knows nothing about "
            "badminton; every number below is noise and says nothing about ShuttleSense.**",
            "",
        ]
    elif tiny_kind == "tiny-base":
        lines += [
            "> **Warning: this adapter sits on a tiny random test base model. Its numbers only show "
            "that the pipeline runs; they are not comparable with the baselines below.**",
            "",
        ]
    method_note = SPLIT_NOTES.get(
        split_method or "",
        "not recorded (no dataset_stats.json in the dataset); the baselines use the official split.",
    )
    num_failed = int(metrics.get("num_failed", 0))
    lines += [
        f"- Model: `{model}`",
        f"- Dataset: `{dataset}`, split `{split}` "
        f"({metrics.get('num_evaluated', metrics['num_examples'])} clips evaluated"
        + (f", **{num_failed} failed to decode or predict** (left out of the metrics)" if num_failed else "")
        + ")",
        f"- Split method: **{split_method or 'unknown'}**: {method_note}",
        f"- Views per clip: {metrics.get('num_views', 1)}"
        + (
            " (temporal views, frame grids shifted, probabilities averaged)"
            if metrics.get("num_views", 1) > 1
            else ""
        ),
        "",
        "## Results and the VideoBadminton baselines",
        "",
        "| Model | Split | Top-1 % | Mean class acc. % | Top-5 % | Macro-F1 % |",
        "|---|---|---:|---:|---:|---:|",
        f"| **this model** | {split_method or 'unknown'} / {split} | **{_pct(metrics['top1'])}** | "
        f"**{_pct(metrics['mean_class_accuracy'])}** | {_pct(metrics['top5'])} | "
        f"{_pct(metrics['macro_f1'])} |",
    ]
    lines += [
        f"| {name} | official / test | {t1:.2f} | {mca:.2f} | | |" for name, (t1, mca) in BASELINES.items()
    ]
    best = max(BASELINES.items(), key=lambda item: item[1][0])
    gap = metrics["top1"] * 100 - best[1][0]
    caveat = "" if split_method == "official" else ", on a different split (see above)"
    lines += [
        "",
        "Baselines: VideoBadminton benchmark (MMAction2), official split. "
        f"Top-1 is {abs(gap):.2f} points {'above' if gap >= 0 else 'below'} the best baseline "
        f"({best[0]}){caveat}.",
        "",
    ]
    if metrics.get("num_classes_present", len(CLASS_NAMES_EN)) < len(CLASS_NAMES_EN):
        lines += [
            f"Only {metrics['num_classes_present']} of {len(CLASS_NAMES_EN)} classes occur in this split; "
            "mean class accuracy averages over those.",
            "",
        ]
    per_class = metrics["per_class"]
    ranked = sorted((n for n, m in per_class.items() if m["support"]), key=lambda n: per_class[n]["recall"])
    if ranked:
        lines += ["## Per-class accuracy", ""]
        if len(ranked) > 6:
            lines.append("- Weakest: " + _recalls(per_class, ranked[:3]))
            lines.append("- Strongest: " + _recalls(per_class, ranked[::-1][:3]))
        else:
            lines.append("- " + _recalls(per_class, ranked[::-1]))
        lines.append("")
    confusions = top_confusions(metrics["confusion_matrix"], n=5)
    if confusions:
        lines += ["Most frequent confusions (true -> predicted):", ""]
        lines += [
            f"- {t} -> {p}: {c} clip{'s' * (c != 1)} ({s * 100:.0f}% of {t})" for t, p, c, s in confusions
        ]
        lines.append("")
    lines += _calibration_lines(metrics)
    if metrics.get("seconds_per_clip") is not None:
        lines += [
            f"Speed: {metrics['seconds_per_clip']:.2f} s per clip (decode + predict, this machine).",
            "",
        ]
    lines += [
        "Files: `metrics.json`, `predictions.jsonl`, `confusion_matrix.png`, `per_class_accuracy.png`, "
        "`reliability_diagram.png`.",
        "",
        "![confusion matrix](confusion_matrix.png)",
        "",
        "![per-class accuracy](per_class_accuracy.png)",
        "",
        "![reliability diagram](reliability_diagram.png)",
        "",
    ]
    return "\n".join(lines)


def _calibration_lines(metrics: Mapping[str, Any]) -> list[str]:
    """The confidence section: ECE and NLL before and after the temperature; the prior correction."""
    calibration, lines = metrics.get("calibration"), []
    if calibration:
        lines += ["## Confidence", ""]
        lines += ["| Probabilities | ECE % | NLL |", "|---|---:|---:|"]
        lines.append(f"| as scored | {_pct(calibration['ece_before'])} | {calibration['nll_before']:.3f} |")
        if "temperature" in calibration:
            lines.append(
                f"| temperature {calibration['temperature']:.3f} | {_pct(calibration['ece_after'])} | "
                f"{calibration['nll_after']:.3f} |"
            )
        lines += [
            "",
            "ECE: the clip-weighted gap between confidence and accuracy over 15 confidence bins "
            "(0 = a confidence of 0.8 is right 80 % of the time). The temperature divides the 18 scores "
            "before the softmax; it never changes the predicted class.",
            "",
        ]
    prior = metrics.get("prior_corrected")
    if prior:
        lines += [
            "Class-prior correction (the training split's class frequencies divided out; reported, "
            f"not applied): top-1 {_pct(prior['top1'])} % (plain {_pct(metrics['top1'])} %), mean class "
            f"accuracy {_pct(prior['mean_class_accuracy'])} % (plain {_pct(metrics['mean_class_accuracy'])} %).",
            "",
        ]
    return lines


def write_markdown_report(
    metrics: Mapping[str, Any],
    path: str | Path,
    model: str,
    dataset: str,
    split: str,
    split_method: str | None = None,
    base_model: str | None = None,
) -> Path:
    """Write the short markdown report; `split_method` defaults to the dataset's `dataset_stats.json`."""
    path = Path(path)
    text = render_markdown_report(
        metrics,
        model=model,
        dataset=dataset,
        split=split,
        split_method=split_method or read_split_method(dataset),
        tiny_kind=tiny_model_kind(model, base_model),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    logger.info("Wrote %s", path)
    return path
