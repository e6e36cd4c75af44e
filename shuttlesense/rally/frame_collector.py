"""Take every segment's frames in one sequential pass: only the frames its recognisers sample, at their size.

Why: cutting each stroke to a file and decoding it again costs a seek, a re-encode and a decode
per hit, and keeping whole segments in memory at 1080p costs gigabytes. Here the match is decoded
once, front to back, in a worker thread while the models work; each decoded frame is converted
(in the decoder's scaler, at the recogniser's pixel budget on its processor's grid) only if some
segment samples it, and a segment is handed over as a `DecodedClip` per recogniser as soon as its
last sampled frame is decoded. Frames of a segment are sampled as `load_video` samples a clip file
of the same frames, so a segment gives the recognisers what its cut clip would.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shuttlesense.data.loading import FrameSampling
from shuttlesense.data.video_io import DecodedClip, FrameGrid, VideoInfo, fit_to_pixel_budget, sample_indices
from shuttlesense.rally.segments import Segment
from shuttlesense.rally.video_stream import StoppedAt, VideoStream, gray, gray_size

INTERPOLATION = "BILINEAR"  # as decord scales (mean difference 0.13 grey levels), so frames match training


@dataclass(frozen=True)
class ClipSpec:
    """What a recogniser samples from a clip: how many frames, how large, on which grid."""

    sampling: FrameSampling
    grid: FrameGrid = FrameGrid()


@dataclass
class SegmentClips:
    """A segment and its clip for each recogniser (in `ClipSpec` order)."""

    segment: Segment
    clips: list[DecodedClip]


@dataclass
class ServeWindow:
    """Greyscale frames around a rally's first hit, for telling who served."""

    rally: int
    frames: np.ndarray  # (T, H, W) uint8 at the detector's width
    hit_frame: int  # index of the serve in `frames`


@dataclass
class _Pending:
    segment: Segment
    slots: list[list[np.ndarray | None]]
    indices: list[list[int]]
    length: int
    last: int  # the segment's last sampled frame: it is complete once this is decoded


def frame_span(segment: Segment, fps: float) -> tuple[int, int]:
    """Frames [first, stop) of a segment: those shown from its start up to (not at) its end."""
    first = max(0, math.ceil(segment.start * fps - 0.5))
    return first, max(first + 1, math.ceil(segment.end * fps - 0.5))


class FrameCollector:
    """Iterate over `SegmentClips` (and `ServeWindow`s) of a video, in order, from one decoding pass.

    `serves` maps a rally number to its first hit (s); its window spans `before_s` / `after_s`
    around it at `gray_width`. After iteration, `stopped` says where a damaged file ended; the
    segments it cut short are never yielded.
    """

    def __init__(
        self,
        video_path: str | Path,
        segments: Sequence[Segment],
        specs: Sequence[ClipSpec],
        serves: dict[int, float] | None = None,
        before_s: float = 1.5,
        after_s: float = 1.5,
        gray_width: int = 320,
    ) -> None:
        self.video_path, self.segments, self.specs = Path(video_path), list(segments), list(specs)
        self.serves = serves or {}
        self.before_s, self.after_s, self.gray_width = before_s, after_s, gray_width
        self.stopped: StoppedAt | None = None
        self.fps = 0.0

    def __iter__(self) -> Iterator[SegmentClips | ServeWindow]:
        with VideoStream(self.video_path) as video:
            self.fps = fps = video.fps
            sizes = [
                fit_to_pixel_budget(
                    video.width, video.height, s.sampling.max_pixels, s.grid.multiple, s.grid.min_pixels
                )
                for s in self.specs
            ]
            wanted: dict[int, list[tuple[int, int, int]]] = {}  # frame -> (segment, spec, slot)
            pending: dict[int, _Pending] = {}
            for number, segment in enumerate(self.segments):
                first, stop = frame_span(segment, fps)
                info = VideoInfo(stop - first, fps, video.width, video.height)
                indices = [sample_indices(stop - first, s.sampling.frames_for(info)) for s in self.specs]
                pending[number] = _Pending(
                    segment,
                    [[None] * len(i) for i in indices],
                    indices,
                    stop - first,
                    first + max(max(i) for i in indices),
                )
                for spec_no, spec_indices in enumerate(indices):
                    for slot, index in enumerate(spec_indices):
                        wanted.setdefault(first + index, []).append((number, spec_no, slot))
            windows = sorted(
                (
                    max(0, round((t - self.before_s) * fps)),
                    round(t * fps),
                    round((t + self.after_s) * fps),
                    rally,
                )
                for rally, t in self.serves.items()
            )
            active: dict[int, tuple[int, int, int, list[np.ndarray]]] = {}  # rally -> (lo, hit, hi, frames)
            small = gray_size(video.width, video.height, self.gray_width)
            by_last = sorted(pending, key=lambda n: pending[n].last)
            for number, frame in enumerate(video.video_frames()):
                converted: dict[int, np.ndarray] = {}
                for segment_no, spec_no, slot in wanted.pop(number, ()):
                    if spec_no not in converted:
                        width, height = sizes[spec_no]
                        converted[spec_no] = frame.to_ndarray(
                            width=width, height=height, format="rgb24", interpolation=INTERPOLATION
                        )
                    pending[segment_no].slots[spec_no][slot] = converted[spec_no]
                while windows and windows[0][0] <= number:
                    lo, hit, hi, rally = windows.pop(0)
                    active[rally] = (lo, hit, hi, [])
                for rally in list(active):
                    lo, hit, hi, frames = active[rally]
                    frames.append(gray(frame, small))
                    if number >= hi:
                        del active[rally]
                        yield ServeWindow(rally, np.stack(frames), hit - lo)
                while by_last and pending[by_last[0]].last <= number:
                    yield self._finished(pending.pop(by_last.pop(0)), fps)
            self.stopped = video.stopped
            for rally, (lo, hit, _, frames) in active.items():  # the video ended inside a serve window
                yield ServeWindow(rally, np.stack(frames), hit - lo)

    def _finished(self, item: _Pending, fps: float) -> SegmentClips:
        clips = [
            DecodedClip(np.stack(slots), indices, fps, item.length)
            for slots, indices in zip(item.slots, item.indices, strict=True)
        ]
        return SegmentClips(item.segment, clips)


def ahead(items: Iterable[Any], size: int = 4) -> Iterator[Any]:
    """Iterate over `items` produced in a worker thread, up to `size` ahead of the consumer.

    Decoding (FFmpeg) and the models (torch) release the GIL, so the two really overlap. An
    exception in the worker is raised here; stopping early stops the worker.
    """
    done = object()
    box: queue.Queue = queue.Queue(maxsize=size)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        box.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put((done, None))
        except BaseException as err:  # handed to the consumer
            box.put((done, err))

    worker = threading.Thread(target=work, name="shuttlesense-decoder", daemon=True)
    worker.start()
    try:
        while True:
            item, error = box.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)
