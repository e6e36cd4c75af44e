"""Decode clips ahead of the model: a `torch.utils.data.DataLoader` whose workers decode while it scores.

Why: decoding 16 frames of a 1280x960 clip takes 130-150 ms on one core, about what a small model
needs to score them, so a serial loop leaves the model (a GPU) waiting half the time. Workers
decode the next clips in their own processes (and, given the recogniser's `prompt_encoder`, run
its processor too); frames or model inputs come back as tensors in shared memory. Order
is kept, and a clip decodes to the same frames in a worker as in the main process, so results do
not depend on the number of workers (0 is the plain serial loop).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from shuttlesense.data.loading import FrameSampling, row_info, row_video
from shuttlesense.data.video_io import (
    DecodedClip,
    FrameGrid,
    VideoInfo,
    decode_views,
    probe_video,
    view_shifts,
)


def default_num_workers(device: Any, num_processes: int = 1) -> int:
    """Decode workers that suit this machine, for a model on `device`.

    On a GPU decoding is the bottleneck: the cores shared among the processes, at most 8 each (a
    worker that has decoded far enough ahead sleeps). On the CPU a worker takes a core from the
    model (`cores_left_by`): that pays only when decoding costs as much as the model, as with a
    tiny one (2 cores, benchmarks/bench_eval.py: 1 worker 1.22x, 2 workers 1.33x the serial loop).
    A real Qwen-VL on the CPU needs seconds per clip and decoding ~0.2 s, so it is better served
    by every core: none.
    """
    if not str(device).startswith("cuda"):
        return 0
    return max(1, min(8, (os.cpu_count() or 1) // max(1, num_processes)))


@contextmanager
def cores_left_by(num_workers: int) -> Iterator[int]:
    """This process's torch threads lowered to the cores `num_workers` decode workers leave (at
    least one) while they run, then restored; yields the thread count used.

    Why: each worker is a process of its own that keeps one core busy (DataLoader runs it with one
    torch thread). A model on the CPU that keeps all its threads fights them for the same cores,
    and both slow down: on 2 cores with the tiny model, 2 workers gave 0.77x the serial loop with
    the model at 2 threads and 1.3x with it at 1 (benchmarks/bench_eval.py). A model on a GPU
    barely uses its process's threads, so it loses nothing.
    """
    threads = torch.get_num_threads()
    used = max(1, threads - num_workers) if num_workers > 0 else threads
    torch.set_num_threads(used)
    try:
        yield used
    finally:
        torch.set_num_threads(threads)


@dataclass
class ClipSource:
    """Where one clip's bytes are (a path or the bytes) and, if known, its probe (then the
    container is opened once, not twice)."""

    video: Any
    info: VideoInfo | None = None


@dataclass
class LoadedClip:
    """A decoded clip (or why it could not be decoded) at its position in the input order."""

    position: int
    clip: Any  # a DecodedClip (or what `encode` made of it); a tuple of them: the temporal views
    error: Exception | None
    decode_s: float


class SplitSources(Sequence[ClipSource]):
    """The clips of a dataset split, read row by row where they are decoded (in the worker)."""

    def __init__(self, data: Any) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, position: int) -> ClipSource:  # type: ignore[override]
        row = self.data[position]
        return ClipSource(row_video(row), row_info(row))


class _Decoder(torch.utils.data.Dataset):
    """Position i -> `LoadedClip` of `sources[i]`: runs in a worker process (or inline)."""

    def __init__(
        self,
        sources: Sequence[ClipSource],
        sampling: FrameSampling,
        grid: FrameGrid,
        shifts: Sequence[float],
        encode: Callable[[DecodedClip], Any] | None,
    ) -> None:
        self.sources, self.sampling, self.grid, self.shifts = sources, sampling, grid, list(shifts)
        self.encode = encode

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, position: int) -> LoadedClip:
        start = time.perf_counter()
        try:
            source = self.sources[position]
            info = source.info or probe_video(source.video)
            count = self.sampling.frames_for(info)
            views = decode_views(source.video, count, self.shifts, self.sampling.max_pixels, self.grid, info)
            if self.encode is not None:  # the processor's share too, off the model's process
                shared = [self.encode(view) for view in views]
            else:  # tensors cross back from a worker through shared memory, not as pickled copies
                shared = [_with_frames(view, torch.from_numpy(view.frames)) for view in views]
        except (ValueError, OSError, TypeError) as err:  # reported per clip, never ends the run
            return LoadedClip(position, None, err, time.perf_counter() - start)
        return LoadedClip(
            position, shared[0] if len(shared) == 1 else tuple(shared), None, time.perf_counter() - start
        )


def _with_frames(clip: DecodedClip, frames: Any) -> DecodedClip:
    return DecodedClip(frames, clip.indices, clip.fps, clip.total_frames)


def _as_numpy(loaded: LoadedClip) -> LoadedClip:
    def convert(view: Any) -> Any:
        return _with_frames(view, view.frames.numpy()) if isinstance(view, DecodedClip) else view

    if isinstance(loaded.clip, tuple):
        loaded.clip = tuple(convert(view) for view in loaded.clip)
    elif loaded.clip is not None:
        loaded.clip = convert(loaded.clip)
    return loaded


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Lists of `size` items as they come (the last may be shorter), taken lazily, so the clips
    after a batch are still being decoded while it is scored."""
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _unbatched(item: LoadedClip) -> LoadedClip:
    return item


def decode_ahead(
    sources: Sequence[ClipSource],
    sampling: FrameSampling,
    grid: FrameGrid,
    num_workers: int,
    positions: Sequence[int] | None = None,
    num_views: int = 1,
    encode: Callable[[DecodedClip], Any] | None = None,
) -> Iterator[LoadedClip]:
    """The clips at `positions` (default: all of `sources`), decoded by `num_workers` worker
    processes (0: in this process, one after the other), yielded in order. With `num_views` > 1
    each clip is a tuple of that many temporal views (`view_shifts`), decoded in one pass. With
    `encode` (a recogniser's `prompt_encoder`) each view is also turned into the model's inputs
    there, so the model's process only runs the model.

    `sources[i]` is read in the worker, so `sources` may be lazy (rows of an Arrow dataset: only
    their bytes are read there, never shipped). Until the last clip is taken (or the iterator is
    closed), this process runs torch on the cores the workers leave (`cores_left_by`).
    """
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0; got {num_workers}.")
    dataset = _Decoder(sources, sampling, grid, view_shifts(num_views), encode)
    indices = list(range(len(sources))) if positions is None else list(positions)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(dataset, indices),
        batch_size=None,  # one clip at a time; the caller batches what it scores together
        num_workers=num_workers,
        collate_fn=_unbatched,
        prefetch_factor=4 if num_workers else None,
        persistent_workers=False,
    )
    with cores_left_by(num_workers):  # held while the caller scores between the clips
        for loaded in loader:
            yield _as_numpy(loaded)
