"""Find the hits in a rally video without sound by tracking the shuttle: a small, bright, fast blob.

Why tracking by appearance: with frame differences the biggest mover wins, and the players are
bigger movers than the shuttle, so a "strongest motion" track jumps between them and every jump
looks like a hit. Here the shuttle is told apart by how it looks and moves:

1. background: per-pixel temporal median (and noise) over a sliding window; static camera
   (only that window of frames is held, so an hour of video takes the memory of a few seconds);
2. blobs: connected regions brighter than the background, up to shuttle size (a fraction of
   the frame), with their contrast-weighted centroid;
3. tracklets: blobs linked frame to frame by constant-velocity prediction inside a gate, with
   similar area, surviving a few missed frames;
4. the shuttle: fast tracklets teach its look (contrast, size); tracklets that look like it and
   move are the shuttle (players are dimmer, merged blobs bigger and dimmer), chained across the
   gaps where the hitter's blob swallows it around a hit;
5. hits: corners of a continuous two-piece linear fit ("hinge") of the path where the shuttle
   turns sharply; the hit is timed by the hinge around the sharpest change of velocity nearby
   (the outgoing flight bends at once), also inside a gap. A long gap is timed by the turn of
   the blob that hid the shuttle. A flight that starts mid-frame is a launch (serve), timed by
   tracing the flight back to the blob that held the shuttle (no holder, no launch). A landing
   (speed -> 0) is not a hit, nor is a still blob that jumps while unseen (a shuttle picked up).

Limits: a static camera and a shuttle brighter than what is behind it; without a fast shuttle
flight there is nothing to learn its look from (no hits), and a small bright slow thing (a
face) can pass for the shuttle, though its gentle turns rarely count as hits.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shuttlesense.rally.hit_detection import HitDetection, HitDetectionError
from shuttlesense.rally.path_fit import best_corner, hinge, sharpest_corner, sides, speeds, weighted_median
from shuttlesense.rally.video_stream import VideoStream, gray, gray_size

_EIGHT = np.ones((3, 3), dtype=bool)  # 8-connected blobs


@dataclass
class VisualHitConfig:
    """Shuttle tracking and hit finding. Sizes are fractions of the decoded frame and speeds frame
    widths per second, so the defaults hold at any resolution and 25-60 fps (static camera)."""

    width: int = field(
        default=320, metadata={"help": "Decode width (px); raise it if the shuttle is only a few px."}
    )
    background_window_s: float = field(
        default=4.0, metadata={"help": "The background is the median over this long (s)."}
    )
    background_step_s: float = field(
        default=1.0, metadata={"help": "Background re-estimated this often (s)."}
    )
    background_samples: int = field(default=25, metadata={"help": "Frames per background median."})
    min_contrast: float = field(
        default=25.0,
        metadata={"help": "Least grey-level excess (0-255) over the background of a blob pixel."},
    )
    noise_sigmas: float = field(
        default=5.0, metadata={"help": "...and at least this x the pixel's robust noise (flickering lines)."}
    )
    min_area_px: int = field(default=3, metadata={"help": "Smallest blob (decoded px); less is grain."})
    max_area: float = field(default=0.02, metadata={"help": "Largest blob, fraction of the frame area."})
    merge_gap: float = field(
        default=0.01, metadata={"help": "Pieces this close (fraction of the width) are one blob."}
    )
    max_area_ratio: float = field(
        default=1.6, metadata={"help": "A blob continues a track if its area is within this factor."}
    )
    max_speed: float = field(
        default=5.0, metadata={"help": "Fastest shuttle (widths/s): gates a new track's second blob."}
    )
    gate: float = field(
        default=0.02,
        metadata={"help": "Gate radius around the prediction (fraction of the width per frame)."},
    )
    gate_speed_fraction: float = field(
        default=0.3, metadata={"help": "...plus this fraction of the track's speed (drag slows the shuttle)."}
    )
    max_missed_s: float = field(default=0.07, metadata={"help": "A track survives this long (s) unseen."})
    min_track_s: float = field(default=0.1, metadata={"help": "Shortest tracklet used (s)."})
    min_shuttle_speed: float = field(
        default=0.3, metadata={"help": "Tracklets this fast (75th percentile, widths/s) teach the look."}
    )
    min_moving_speed: float = field(
        default=0.1, metadata={"help": "Slower tracklets with the look must still move this fast (widths/s)."}
    )
    appearance_ratio: float = field(
        default=1.5,
        metadata={"help": "Largest (dimmer x bigger) factor from the learned look for a shuttle tracklet."},
    )
    link_gap_s: float = field(
        default=0.4, metadata={"help": "Shuttle tracklets this close (s) form one path (hidden by a hitter)."}
    )
    window_s: float = field(default=0.1, metadata={"help": "Velocities are fitted over this long (s)."})
    min_gap_s: float = field(default=0.25, metadata={"help": "Minimum time between two hits (s)."})
    min_speed_change: float = field(
        default=0.25, metadata={"help": "Least velocity change at a hit (frame widths/s)."}
    )
    min_relative_change: float = field(
        default=0.9,
        metadata={"help": "...and this x the faster in/out speed: a hit turns (> ~50 deg) or launches."},
    )
    min_outgoing_ratio: float = field(
        default=0.25, metadata={"help": "Outgoing speed at least this x incoming: a landing stops it."}
    )
    border: float = field(
        default=0.03, metadata={"help": "A flight starting this close to the edge (fraction) entered."}
    )


def _frames(seconds: float, fps: float, least: int = 1) -> int:
    """A duration in whole frames, at least `least`."""
    return max(least, int(round(seconds * fps)))


class VisualHitDetector:
    """Hits as sharp turns (and launches) of the tracked shuttle; see the module docstring."""

    def __init__(self, config: VisualHitConfig | None = None):
        self.config = config or VisualHitConfig()

    # ----------------------------------------------------------------------------- blobs

    def iter_blobs(self, frames: Iterable[np.ndarray], fps: float) -> Iterator[np.ndarray]:
        """Per frame, in order, the bright blobs up to shuttle size as rows (x, y, area, contrast).

        The background of each `background_step_s` is the median of `background_samples` frames
        of a `background_window_s` window around it, so only about window + step frames are ever
        held: memory does not grow with the video.
        """
        cfg = self.config
        window, step = _frames(cfg.background_window_s, fps, 3), _frames(cfg.background_step_s, fps)
        held: dict[int, np.ndarray] = {}
        count = start = 0
        for count, frame in enumerate(frames, start=1):
            held[count - 1] = frame
            while start + step <= count and max(0, start + step // 2 - window // 2) + window <= count:
                lo = max(0, start + step // 2 - window // 2)
                yield from self._step_blobs(held, start, start + step, lo, lo + window)
                start += step
                keep = min(max(0, start + step // 2 - window // 2), start, count - window)
                for old in [k for k in held if k < keep]:
                    del held[old]
        while start < count:  # the last steps: their window is the video's last `window` frames
            lo = min(max(0, start + step // 2 - window // 2), max(0, count - window))
            yield from self._step_blobs(held, start, min(start + step, count), lo, min(count, lo + window))
            start += step

    def _step_blobs(
        self, held: dict[int, np.ndarray], start: int, stop: int, lo: int, hi: int
    ) -> Iterator[np.ndarray]:
        """Blobs of frames [start, stop) against the background of frames [lo, hi)."""
        from scipy import ndimage

        cfg = self.config
        picks = np.linspace(lo, hi - 1, min(cfg.background_samples, hi - lo)).round().astype(int)
        sample = np.stack([held[int(k)] for k in np.unique(picks)]).astype(np.float32)
        background = np.median(sample, axis=0)
        # Each pixel's own noise: thin court lines and edges flicker after compression.
        noise = ndimage.maximum_filter(1.4826 * np.median(np.abs(sample - background), axis=0), 3)
        threshold = np.maximum(cfg.min_contrast, cfg.noise_sigmas * noise)
        height, width = background.shape
        for t in range(start, stop):
            yield self._frame_blobs(held[t] - background, threshold, cfg.max_area * height * width)

    def blobs(self, frames: np.ndarray, fps: float) -> list[np.ndarray]:
        """`iter_blobs` over a (T, H, W) greyscale array, as a list."""
        return list(self.iter_blobs(iter(np.asarray(frames)), fps))

    def _frame_blobs(self, excess: np.ndarray, threshold: np.ndarray, max_area: float) -> np.ndarray:
        """Blobs of one frame from its excess over the background (see `blobs`)."""
        from scipy import ndimage

        mask = excess > threshold
        radius = int(round(self.config.merge_gap * mask.shape[1]))
        joined = ndimage.binary_dilation(mask, _EIGHT, radius) if radius > 0 and mask.any() else mask
        labels, count = ndimage.label(joined, _EIGHT)  # a piece cut off by a thin line stays in its blob
        if count == 0:
            return np.zeros((0, 4))
        ys, xs = np.nonzero(mask)
        ids, weight = labels[ys, xs], excess[ys, xs]
        area = np.bincount(ids, minlength=count + 1)[1:].astype(float)
        total = np.bincount(ids, weight, count + 1)[1:]
        cx, cy = (np.bincount(ids, weight * c, count + 1)[1:] / total for c in (xs, ys))
        keep = (area >= self.config.min_area_px) & (area <= max_area)
        return np.stack([cx, cy, area, total / np.maximum(area, 1)], axis=1)[keep]

    # ----------------------------------------------------------------------------- tracking

    def tracklets(self, blobs: list[np.ndarray], fps: float, width: int) -> list[np.ndarray]:
        """Blobs linked into tracklets: arrays of rows (frame, x, y, area, contrast).

        Greedy nearest-neighbour association to each track's constant-velocity prediction,
        established tracks (two blobs or more) first. The area check ends the shuttle's track
        where it merges with a player instead of letting it slide onto the player.
        """
        cfg = self.config
        max_missed = _frames(cfg.max_missed_s, fps, 0)
        active: list[list[np.ndarray]] = []
        done: list[list[np.ndarray]] = []
        for t, found in enumerate(blobs):
            done += [track for track in active if t - track[-1][0] - 1 > max_missed]
            active = [track for track in active if t - track[-1][0] - 1 <= max_missed]
            free = np.ones(len(found), dtype=bool)
            for established in (True, False):
                pairs = []
                for i, track in enumerate(active):
                    if (len(track) >= 2) != established:
                        continue
                    last, dt = track[-1], t - track[-1][0]
                    if established:
                        velocity = (last[1:3] - track[-2][1:3]) / (last[0] - track[-2][0])
                        predicted = last[1:3] + velocity * dt
                        radius = (cfg.gate * width + cfg.gate_speed_fraction * np.hypot(*velocity)) * dt
                    else:
                        predicted, radius = last[1:3], cfg.max_speed * width / fps * dt
                    dist = np.hypot(*(found[:, :2] - predicted).T)
                    small, big = np.minimum(found[:, 2], last[3]), np.maximum(found[:, 2], last[3])
                    similar = big + cfg.min_area_px <= cfg.max_area_ratio * (small + cfg.min_area_px)
                    pairs += [(dist[j], i, j) for j in np.flatnonzero((dist <= radius) & similar)]
                for _, i, j in sorted(pairs):
                    if free[j] and active[i][-1][0] != t:
                        active[i].append(np.concatenate([[t], found[j]]))
                        free[j] = False
            active += [[np.concatenate([[t], found[j]])] for j in np.flatnonzero(free)]
        return [np.array(track) for track in done + active]

    def shuttle_paths(self, tracklets: list[np.ndarray], fps: float, width: int) -> list[np.ndarray]:
        """The shuttle's paths: arrays of rows (frame, x, y), frames ascending, gaps allowed."""
        cfg = self.config
        span = _frames(cfg.window_s, fps, 2)
        tracks = [t for t in tracklets if len(t) > max(span, _frames(cfg.min_track_s, fps, 3) - 1)]
        speed = np.array([np.percentile(speeds(t, span), 75) * fps / width for t in tracks])
        fast = speed >= cfg.min_shuttle_speed
        if not fast.any():
            return []
        # The shuttle's look, learned from the fast tracklets (the longest count most). Merged with a
        # player its blob gets dimmer and bigger, and a player is dimmer; smaller or brighter is fine.
        length = np.array([len(t) for t in tracks], dtype=float)
        contrast = np.array([np.median(t[:, 4]) for t in tracks])
        size = np.array([np.median(np.sqrt(t[:, 3])) for t in tracks])
        dimmer = np.log(weighted_median(contrast[fast], length[fast]) / contrast)
        bigger = np.log(size / weighted_median(size[fast], length[fast]))
        alike = np.maximum(dimmer, 0) + np.maximum(bigger, 0) <= np.log(cfg.appearance_ratio)
        chosen, taken = [], set()
        for i in np.argsort(-length, kind="stable"):  # one shuttle: longer tracklets claim frames first
            if alike[i] and speed[i] >= cfg.min_moving_speed:
                rows = tracks[i][[int(f) not in taken for f in tracks[i][:, 0]], :3]
                if len(rows) >= 2:
                    taken.update(int(f) for f in rows[:, 0])
                    chosen.append(rows)
        paths: list[np.ndarray] = []
        for rows in sorted(chosen, key=lambda a: a[0, 0]):
            gap = rows[0, 0] - paths[-1][-1, 0] if paths else np.inf
            reachable = gap <= _frames(cfg.link_gap_s, fps) and (
                np.hypot(*(rows[0, 1:3] - paths[-1][-1, 1:3])) <= cfg.max_speed * width * gap / fps
            )
            if reachable:  # hidden for a moment (by the hitter): the same path
                paths[-1] = np.concatenate([paths[-1], rows])
            else:
                paths.append(rows)
        return paths

    # ----------------------------------------------------------------------------- hits

    def _strength(self, v_in: np.ndarray, v_out: np.ndarray, scale: float) -> float:
        """The velocity change (widths/s; px per frame x `scale`) if it looks like a hit, else 0."""
        cfg = self.config
        speed_in, speed_out = np.hypot(*v_in) * scale, np.hypot(*v_out) * scale
        change = float(np.hypot(*(v_out - v_in)) * scale)
        if speed_out < cfg.min_outgoing_ratio * speed_in or change < cfg.min_speed_change:
            return 0.0  # a landing, or jitter
        return change if change >= cfg.min_relative_change * max(speed_in, speed_out) else 0.0

    @staticmethod
    def _carrier_corner(blobs: list[np.ndarray], lo: float, hi: float, seen: np.ndarray) -> float | None:
        """When the blob that hid the shuttle over frames (lo, hi) turned or started, or None.

        Why: around a hit the hitter's blob swallows the shuttle, and its contrast-weighted
        centroid moves with the bright shuttle inside it, so it turns (or starts) when the shuttle
        does. It is followed backwards from where the shuttle reappeared (`seen`).
        """
        rows, position = [], seen
        for t in range(int(np.ceil(hi)) - 1, max(int(lo), -1), -1):
            dist = np.hypot(*(blobs[t][:, :2] - position).T)
            j = int(np.argmin(dist)) if len(dist) else -1
            if j < 0 or dist[j] > np.sqrt(blobs[t][j, 2]):
                break
            rows.append([t, *blobs[t][j, :2]])
            position = blobs[t][j, :2]
        if len(rows) < 4:
            return None
        rows = np.array(rows[::-1])
        corner = best_corner(rows)
        v_in, v_out, _ = hinge(rows, corner)
        turned = np.dot(v_in, v_out) < 0 or np.hypot(*v_out) >= 2 * np.hypot(*v_in)
        return corner if turned else None

    @staticmethod
    def _launch_frame(
        blobs: list[np.ndarray], first: int, seen: np.ndarray, v0: np.ndarray, max_gap: int
    ) -> float | None:
        """When a shuttle first seen at frame `first` (at `seen`, velocity `v0`) left the blob that
        held it; None if no blob held it (then the flight did not start here: not a launch).

        Why not the holder's turn: a server stands still, so the blob of server and shuttle has no
        turn to time. The flight is traced back from `seen` to the holder's centroid at the launch
        speed. While the shuttle flies inside the holder's blob it pulls the centroid along, so
        the holder is followed back to the latest frame that comes before the launch it implies.
        """
        speed, position, launch = float(np.hypot(*v0)), seen, None
        for t in range(first - 1, max(first - 1 - max_gap, -1), -1):
            dist = np.hypot(*(blobs[t][:, :2] - position).T)
            j = int(np.argmin(dist)) if len(dist) and speed > 0 else -1
            if j < 0 or dist[j] > np.sqrt(blobs[t][j, 2]) + (2 * speed if t == first - 1 else 0):
                break
            position = blobs[t][j, :2]
            launch = max(first - max_gap, first - float(np.hypot(*(position - seen))) / speed)
            if t < launch:
                break
        return launch

    def _flies(self, rows: np.ndarray, scale: float) -> bool:
        """Whether the shuttle in `rows` moves from frame to frame (or it cannot be told).

        Why: a hit sends the shuttle flying. Fits join rows across gaps in the path, so a still
        blob that jumps while unseen (a lying shuttle picked up) would otherwise make a turn or a
        launch.
        """
        step = np.diff(rows[:, 0]) == 1
        if not step.any():
            return True
        moved = np.hypot(*np.diff(rows[:, 1:3], axis=0)[step].T)
        return float(np.median(moved)) * scale >= self.config.min_moving_speed

    def path_hits(
        self, path: np.ndarray, blobs: list[np.ndarray], fps: float, height: int, width: int
    ) -> list[tuple[float, float]]:
        """Candidate hits (frame, strength) on one shuttle path, before the minimum-gap rule."""
        cfg = self.config
        k, max_gap, scale = _frames(cfg.window_s, fps, 2), _frames(cfg.link_gap_s, fps), fps / width
        found: list[tuple[float, float]] = []
        first, last = int(path[0, 0]), int(path[-1, 0])
        (x0, y0), margin = path[0, 1:3], cfg.border * width
        if first > k and len(path) >= k and margin < x0 < width - margin and margin < y0 < height - margin:
            v0 = np.polyfit(path[:k, 0], path[:k, 1:3], 1)[0]  # appears mid-frame and flies: launched
            strength = self._strength(np.zeros(2), v0, scale) if self._flies(path[:k], scale) else 0.0
            launched = self._launch_frame(blobs, first, path[0, 1:3], v0, max_gap) if strength else None
            if launched is not None:
                found.append((launched, strength))
        scores = np.zeros(last - first + 1)
        for corner in range(first + 1, last):
            rows = sides(path, corner, k, k + max_gap)
            if rows is not None and self._flies(rows[rows[:, 0] > corner], scale):
                scores[corner - first] = self._strength(*hinge(rows, corner)[:2], scale)
        for peak in np.flatnonzero(scores):
            left, right = scores[max(0, peak - k) : peak], scores[peak + 1 : peak + 1 + k]
            if scores[peak] < left.max(initial=0.0) or scores[peak] <= right.max(initial=0.0):
                continue  # not the local maximum (ties go to the first)
            rows = sides(path, first + peak, k, k + max_gap)
            split = int(np.searchsorted(rows[:, 0], first + peak, side="right"))
            lo, hi = rows[split - 1, 0], rows[split, 0]
            timed = self._carrier_corner(blobs, lo, hi, rows[split, 1:3]) if hi - lo > 2 * k else None
            if timed is None:  # the sharpest change near the peak: the strongest hinge bends late
                near = path[np.abs(path[:, 0] - first - peak) <= 2 * k]
                timed = sharpest_corner(near) if len(near) >= 4 else best_corner(rows)
            found.append((timed, float(scores[peak])))
        return found

    def detect_in_blobs(
        self, blobs: list[np.ndarray], fps: float, height: int, width: int
    ) -> tuple[list[float], list[float], list[np.ndarray]]:
        """Hit times (s), strengths (velocity change, widths/s) and the shuttle paths, from per-frame blobs."""
        paths = self.shuttle_paths(self.tracklets(blobs, fps, width), fps, width)
        candidates = [hit for path in paths for hit in self.path_hits(path, blobs, fps, height, width)]
        kept: list[tuple[float, float]] = []
        for frame, strength in sorted(candidates, key=lambda c: -c[1]):  # strongest first
            if all(abs(frame - other) >= self.config.min_gap_s * fps for other, _ in kept):
                kept.append((frame, strength))
        kept.sort()
        return [frame / fps for frame, _ in kept], [strength for _, strength in kept], paths

    def detect_in_frames(self, frames: np.ndarray, fps: float) -> tuple[list[float], list[float]]:
        """Hit times (s) and strengths (velocity change, widths/s) in greyscale frames (T, H, W)."""
        frames = np.asarray(frames)
        _, height, width = frames.shape
        return self.detect_in_blobs(self.blobs(frames, fps), fps, height, width)[:2]

    def detect(self, video_path: str | Path) -> HitDetection:
        """Hits in a video file, read once with bounded memory; stops cleanly where the file is damaged."""
        with VideoStream(video_path) as video:
            video.require_video()
            size = gray_size(video.width, video.height, self.config.width)
            frames = (gray(frame, size) for frame in video.video_frames())
            blobs = list(self.iter_blobs(frames, video.fps))
            if not blobs:
                raise HitDetectionError(f"Video {video_path} has no decodable frames.")
            times, strengths, paths = self.detect_in_blobs(blobs, video.fps, size[1], size[0])
            notes = [] if times else ["no shuttle hit found by tracking"]
            duration = len(blobs) / video.fps
            return HitDetection(times, strengths, "visual", notes, duration, video.stopped, paths, video.fps)
