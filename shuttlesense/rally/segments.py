"""Cut a match into stroke clips around its hits, rally by rally.

Why hit-to-hit: VideoBadminton clips run from one hit to the next, so the recognisers were
trained on exactly that window; padding and the last clip's tail are configurable for footage
that needs more context. A gap longer than `rally_gap_s` is a pause between rallies: the rally's
last stroke gets the tail (the shuttle lands) instead of running on to the next serve. Clips are stream-copied when possible (fast, lossless) and re-encoded
otherwise: a stream copy can only start on a keyframe, so its start may move earlier.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Segment:
    """One stroke clip: [start, end] seconds in the video, its hit, its index, its rally and shot in it."""

    start: float
    end: float
    hit_time: float
    index: int
    rally: int = 0
    shot: int = 0  # 0 = the rally's first hit (the serve)

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class SegmentConfig:
    """How a clip's window is laid around its hit."""

    pre_padding_s: float = field(default=0.0, metadata={"help": "Seconds added before each hit."})
    post_padding_s: float = field(default=0.0, metadata={"help": "Seconds added after the next hit."})
    last_tail_s: float = field(
        default=1.0,
        metadata={
            "help": "Length after a rally's last hit (the shuttle lands; there is no next hit to stop at)."
        },
    )
    rally_gap_s: float = field(
        default=3.0,
        metadata={
            "help": "Hits further apart than this (s) belong to different rallies (a pause between them)."
        },
    )
    max_length_s: float = field(
        default=4.0, metadata={"help": "Longest clip (s); long pauses between hits are cut short."}
    )
    min_length_s: float = field(default=0.05, metadata={"help": "Shorter windows are dropped."})

    def __post_init__(self) -> None:
        if self.rally_gap_s <= 0:
            raise ValueError(f"segmentation.rally_gap_s must be > 0; got {self.rally_gap_s}.")
        if self.max_length_s <= 0 or self.min_length_s > self.max_length_s:
            raise ValueError(
                f"segmentation needs 0 <= min_length_s <= max_length_s and max_length_s > 0; got "
                f"min_length_s {self.min_length_s}, max_length_s {self.max_length_s}."
            )


def group_rallies(hit_times: Sequence[float], rally_gap_s: float) -> list[list[float]]:
    """Sorted hit times split into rallies wherever two hits are more than `rally_gap_s` apart."""
    rallies: list[list[float]] = []
    for hit in sorted(float(t) for t in hit_times):
        if rallies and hit - rallies[-1][-1] <= rally_gap_s:
            rallies[-1].append(hit)
        else:
            rallies.append([hit])
    return rallies


def make_segments(
    hit_times: Sequence[float], duration: float | None = None, config: SegmentConfig | None = None
) -> list[Segment]:
    """Windows [hit_i - pre, hit_{i+1} + post] (a rally's last: hit + tail), clipped to [0, duration]."""
    cfg = config or SegmentConfig()
    segments: list[Segment] = []
    for rally_no, rally in enumerate(group_rallies(hit_times, cfg.rally_gap_s)):
        for shot, hit in enumerate(rally):
            stop = rally[shot + 1] if shot + 1 < len(rally) else hit + cfg.last_tail_s
            start, end = max(0.0, hit - cfg.pre_padding_s), stop + cfg.post_padding_s
            end = min(end, start + cfg.max_length_s)
            if duration is not None:
                end = min(end, duration)
            if end - start >= cfg.min_length_s:
                segments.append(Segment(start, end, hit, len(segments), rally_no, shot))
    return segments


def _copy_clip(video_path: Path, segment: Segment, out_path: Path, max_early_s: float) -> None:
    """Stream-copy packets from the keyframe at or before `start` up to `end` (no re-encoding)."""
    import av

    with av.open(str(video_path)) as source, av.open(str(out_path), "w", format="mp4") as target:
        streams = [s for s in source.streams if s.type in ("video", "audio")]
        mapping = {s.index: target.add_stream_from_template(s) for s in streams}
        video = source.streams.video[0]
        source.seek(int(segment.start / video.time_base), stream=video, backward=True)
        offset = None
        for packet in source.demux(*streams):
            if packet.dts is None or packet.pts is None:
                continue
            seconds = float(packet.pts * packet.time_base)
            if seconds >= segment.end:  # B-frames: later packets may still show earlier frames
                if float(packet.dts * packet.time_base) >= segment.end + 1.0:
                    break
                continue
            if offset is None:
                if packet.stream.type != "video" or not packet.is_keyframe:
                    continue
                if seconds < segment.start - max_early_s:
                    raise ValueError(f"nearest keyframe is {segment.start - seconds:.2f} s before the start")
                offset = seconds
            shift = int(round(offset / packet.time_base))
            packet.pts -= shift
            packet.dts -= shift
            if packet.dts < 0 and packet.stream.type == "audio":
                continue
            packet.stream = mapping[packet.stream.index]
            target.mux(packet)


def _encode_clip(video_path: Path, segment: Segment, out_path: Path) -> None:
    """Decode (from the keyframe before `start`) and re-encode exactly [start, end) (frame-accurate; video only)."""
    import av

    from shuttlesense.data.video_writer import write_video

    with av.open(str(video_path)) as source:
        stream = source.streams.video[0]
        fps = float(stream.average_rate)
        source.seek(int(max(0.0, segment.start - 1.0) / stream.time_base), stream=stream, backward=True)
        frames = (
            f.to_ndarray(format="rgb24")
            for f in itertools.takewhile(
                lambda f: float(f.time) < segment.end - 0.5 / fps, source.decode(stream)
            )
            if segment.start - 0.5 / fps <= float(f.time)
        )
        write_video(out_path, frames, fps)


def clip_path(video_path: str | Path, seg: Segment, out_dir: str | Path) -> Path:
    """Where `cut_segments` writes the clip of `seg`: named after the video, index and window."""
    return Path(out_dir) / f"{Path(video_path).stem}_seg{seg.index:03d}_{seg.start:.2f}-{seg.end:.2f}.mp4"


def refuse_existing_clips(video_path: str | Path, segments: Sequence[Segment], out_dir: str | Path) -> None:
    """FileExistsError if a clip `cut_segments` would write exists: it never replaces a file (it
    may be the user's). Callers check before long work; `cut_segments` checks again."""
    for seg in segments:
        if (path := clip_path(video_path, seg, out_dir)).exists():
            raise FileExistsError(f"Clip {path} already exists; choose an empty clips folder.")


def cut_segments(
    video_path: str | Path,
    segments: Sequence[Segment],
    out_dir: str | Path,
    reencode: bool = False,
    max_early_s: float = 0.05,
) -> list[Path]:
    """Write one mp4 per segment into `out_dir`; return their paths in segment order.

    Stream copy is tried first unless `reencode`; it must start on a keyframe, so it is used only
    when one lies at most `max_early_s` before the window (otherwise, as with most camera files
    whose keyframes are seconds apart, the clip is re-encoded frame-accurately).
    """
    video_path, out_dir = Path(video_path), Path(out_dir)
    if not video_path.is_file():
        raise FileNotFoundError(f"Video file not found: {video_path}")
    refuse_existing_clips(video_path, segments, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths, copied = [], 0
    for seg in segments:
        out = clip_path(video_path, seg, out_dir)
        try:
            if reencode:
                raise ValueError("re-encode requested")
            _copy_clip(video_path, seg, out, max_early_s)
            copied += 1
        except Exception as err:
            logger.debug("Stream copy of %s failed (%s): re-encoding", out.name, err)
            _encode_clip(video_path, seg, out)
        paths.append(out)
    logger.info(
        "Cut %d clips from %s (%d stream-copied, %d re-encoded)",
        len(paths), video_path.name, copied, len(paths) - copied,
    )  # fmt: skip
    return paths
