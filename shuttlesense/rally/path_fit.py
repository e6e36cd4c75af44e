"""Fitting a shuttle path: speeds along it and the two-piece linear fit ("hinge") that times a hit.

Paths are arrays of rows (frame, x, y[, ...]), frames ascending, gaps allowed. Kept apart from the
tracker so the geometry can be read (and tested) on its own.
"""

from __future__ import annotations

import numpy as np


def speeds(track: np.ndarray, span: int) -> np.ndarray:
    """Speeds (px per frame) along a tracklet, each over `span` observations (jitter averages out)."""
    moved = np.hypot(*(track[span:, 1:3] - track[:-span, 1:3]).T)
    return moved / (track[span:, 0] - track[:-span, 0])


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value below and above which half the weight lies."""
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2)])


def hinge(rows: np.ndarray, corner: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Least-squares p(t) = a + v_in (t - corner) up to the corner, a + v_out (t - corner) after.

    `rows` are (frame, x, y); returns v_in, v_out (px per frame) and the residual (px^2).
    """
    dt = rows[:, 0] - corner
    after = dt > 0
    design = np.stack([np.ones(len(rows)), np.where(after, 0.0, dt), np.where(after, dt, 0.0)], axis=1)
    coef, *_ = np.linalg.lstsq(design, rows[:, 1:3], rcond=None)
    return coef[1], coef[2], float(np.sum((design @ coef - rows[:, 1:3]) ** 2))


def best_corner(rows: np.ndarray) -> float:
    """The corner (frames, 0.1 resolution) whose hinge fits `rows` best, two rows or more a side."""
    grid = np.arange(rows[1, 0], rows[-2, 0], 0.1)
    return float(min(grid, key=lambda corner: hinge(rows, corner)[2]))


def sharpest_corner(rows: np.ndarray) -> float:
    """The best hinge corner near the row where the velocity changes most between neighbours (4+ rows).

    Why not the hinge over all `rows`: after a hit the shuttle's path bends at once (drag and
    gravity), and the far rows of the outgoing side pull the fitted corner late.
    """
    velocity = np.diff(rows[:, 1:3], axis=0) / np.diff(rows[:, 0])[:, None]
    sharpest = 1 + int(np.argmax(np.hypot(*np.diff(velocity, axis=0).T)))
    return best_corner(rows[max(0, sharpest - 2) : sharpest + 3])


def sides(path: np.ndarray, corner: float, k: int, reach: float) -> np.ndarray | None:
    """Up to k path rows at or before `corner` and k after, if each side has 2+ within `reach` frames."""
    split = int(np.searchsorted(path[:, 0], corner, side="right"))
    before, after = path[max(0, split - k) : split], path[split : split + k]
    if min(len(before), len(after)) < 2 or max(corner - before[0, 0], after[-1, 0] - corner) > reach:
        return None
    return np.concatenate([before, after])
