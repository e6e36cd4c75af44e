"""Find the racket-shuttle hits in a rally video: from the soundtrack, from motion, or both.

Why two detectors: the impact click is the sharpest, best-timed cue when the video has sound
(phone footage usually does), but broadcast cuts and re-encodes often come without audio, and
then the shuttle's motion is all we have. Both sit behind one small `HitDetector` protocol so a
better detector (a shuttle tracker, a learned model) can replace them without touching the
segmentation or the recognisers downstream.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import numpy as np

logger = logging.getLogger(__name__)

Method = Literal["auto", "audio", "visual"]


class HitDetectionError(ValueError):
    """A video cannot be read for hit detection (missing, truncated, corrupt, no usable stream)."""


@dataclass(frozen=True)
class HitDetection:
    """Hit times (seconds, ascending), a per-hit strength (detector units) and how they were found."""

    times: list[float]
    strengths: list[float]
    method: str
    notes: list[str] = field(default_factory=list)
    duration: float = 0.0

    def __len__(self) -> int:
        return len(self.times)


@runtime_checkable
class HitDetector(Protocol):
    """Anything that turns a video file into hit times."""

    def detect(self, video_path: str | Path) -> HitDetection: ...


def _open(video_path: str | Path):
    """Open a container with PyAV, turning every failure into an error that names the file."""
    import av

    path = Path(video_path)
    if not path.is_file():
        raise FileNotFoundError(f"Video file not found: {path}")
    try:
        return av.open(str(path))
    except Exception as err:  # av.error.InvalidDataError and friends
        raise HitDetectionError(f"Cannot read video {path}: {err}") from err


def _duration(container) -> float:
    return float(container.duration / 1_000_000) if container.duration else 0.0


def _peaks(score: np.ndarray, height: float, distance: int) -> np.ndarray:
    """Local maxima at least `height` high and `distance` samples apart (plateaus -> their middle)."""
    from scipy.signal import find_peaks

    if score.size == 0 or not np.isfinite(height):
        return np.zeros(0, dtype=int)
    peaks, _ = find_peaks(score, height=height, distance=max(1, distance))
    return peaks


# ----------------------------------------------------------------------------- audio


@dataclass
class AudioHitConfig:
    """Onset detection on the soundtrack (librosa onset strength + peak picking)."""

    sample_rate: int = field(
        default=16000, metadata={"help": "Audio is decoded to mono float at this rate (Hz)."}
    )
    n_fft: int = field(
        default=512, metadata={"help": "STFT window (samples); short windows time the click sharply."}
    )
    hop_length: int = field(default=128, metadata={"help": "STFT hop (samples): the timing resolution."})
    n_mels: int = field(default=64, metadata={"help": "Mel bands of the onset-strength spectrogram."})
    min_gap_s: float = field(
        default=0.25, metadata={"help": "Minimum time between two hits (s); the stronger onset wins."}
    )
    relative_threshold: float = field(
        default=0.25,
        metadata={"help": "A hit's onset strength must exceed median + this x (max - median) of the track."},
    )
    min_ratio: float = field(
        default=4.0,
        metadata={
            "help": "...and at least this many times the track's median onset strength, so a track of "
            "plain noise or music gives no hits."
        },
    )


class AudioHitDetector:
    """Hits as sharp onsets in the soundtrack: the racket-shuttle impact is a short broadband click."""

    def __init__(self, config: AudioHitConfig | None = None):
        self.config = config or AudioHitConfig()

    def load_audio(self, video_path: str | Path) -> np.ndarray | None:
        """The first audio track as mono float32 at `config.sample_rate`, or None if there is none."""
        import av

        container = _open(video_path)
        with container:
            if not container.streams.audio:
                return None
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=self.config.sample_rate)
            chunks: list[np.ndarray] = []
            try:
                for frame in container.decode(stream):
                    chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
                chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
            except Exception as err:
                raise HitDetectionError(f"Cannot decode the audio of {video_path}: {err}") from err
        return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)

    def detect_in_signal(self, audio: np.ndarray) -> tuple[list[float], list[float]]:
        """Hit times and strengths (onset strength / track median) in a mono signal."""
        import librosa

        cfg = self.config
        if audio.size < cfg.n_fft:
            return [], []
        env = librosa.onset.onset_strength(
            y=audio, sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length, n_mels=cfg.n_mels
        )
        median = float(np.median(env))
        floor = max(median, 1e-8)
        height = max(median + cfg.relative_threshold * (float(env.max()) - median), cfg.min_ratio * floor)
        distance = int(round(cfg.min_gap_s * cfg.sample_rate / cfg.hop_length))
        peaks = _peaks(env, height, distance)
        times = librosa.frames_to_time(peaks, sr=cfg.sample_rate, hop_length=cfg.hop_length)
        return [float(t) for t in times], [float(env[p] / floor) for p in peaks]

    def detect(self, video_path: str | Path) -> HitDetection:
        audio = self.load_audio(video_path)
        duration = _duration(_open(video_path))
        if audio is None:
            return HitDetection([], [], "audio", [f"no audio track in {Path(video_path).name}"], duration)
        times, strengths = self.detect_in_signal(audio)
        notes = [] if times else ["audio track has no detectable onsets"]
        return HitDetection(
            times, strengths, "audio", notes, duration or audio.size / self.config.sample_rate
        )


# ----------------------------------------------------------------------------- visual


@dataclass
class VisualHitConfig:
    """Direction/speed changes of the dominant mover (the shuttle) found by frame differencing."""

    width: int = field(default=160, metadata={"help": "Frames are decoded to this width (px) for speed."})
    diff_threshold: float = field(
        default=15.0, metadata={"help": "Grey-level change (0-255) that counts as motion at a pixel."}
    )
    min_motion_fraction: float = field(
        default=0.0005,
        metadata={"help": "Least moving area (fraction of the frame) for a frame to have a mover."},
    )
    merge_radius: int = field(
        default=3, metadata={"help": "Motion pieces closer than this (px, decoded size) form one mover."}
    )
    max_jump: float = field(
        default=0.2,
        metadata={"help": "A mover moving more than this fraction of the width between frames is a new one."},
    )
    track_min_energy: float = field(
        default=0.2,
        metadata={"help": "A region this fraction of the frame's strongest motion can continue a track."},
    )
    window_s: float = field(
        default=0.1, metadata={"help": "Velocity is averaged over this long before and after each frame (s)."}
    )
    min_gap_s: float = field(default=0.25, metadata={"help": "Minimum time between two hits (s)."})
    min_speed_change: float = field(
        default=0.5,
        metadata={"help": "Least velocity change at a hit, in frame widths per second (rejects jitter)."},
    )
    relative_threshold: float = field(
        default=0.25,
        metadata={"help": "A hit's velocity change must reach this fraction of the largest one."},
    )
    min_outgoing_ratio: float = field(
        default=0.5,
        metadata={
            "help": "Outgoing speed must be at least this x incoming: a racket launches the shuttle, "
            "a landing stops it."
        },
    )


class VisualHitDetector:
    """Hits where the dominant moving object (the shuttle) starts or reverses abruptly.

    Why this signal: between hits the shuttle's velocity changes smoothly (drag, gravity) and
    players move smoothly; a hit launches the shuttle fast in a new direction. Frame differences
    at low resolution make the shuttle the biggest mover; a landing (speed -> 0) is rejected.
    Assumes a mostly static camera, like broadcast rally shots and tripod phone video.
    """

    def __init__(self, config: VisualHitConfig | None = None):
        self.config = config or VisualHitConfig()

    def load_gray(self, video_path: str | Path) -> tuple[np.ndarray, float]:
        """All frames as float32 greyscale (T, H, W) at `config.width`, and the fps."""
        container = _open(video_path)
        with container:
            if not container.streams.video:
                raise HitDetectionError(f"Video {video_path} has no video stream.")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            width = min(self.config.width, stream.codec_context.width)
            height = max(2, int(round(stream.codec_context.height * width / stream.codec_context.width)))
            frames: list[np.ndarray] = []
            try:
                for frame in container.decode(stream):
                    frames.append(
                        frame.to_ndarray(width=width, height=height, format="gray").astype(np.float32)
                    )
            except Exception as err:
                raise HitDetectionError(f"Cannot decode the frames of {video_path}: {err}") from err
        if not frames:
            raise HitDetectionError(f"Video {video_path} has no decodable frames.")
        if fps <= 0:
            raise HitDetectionError(f"Video {video_path} has no frame rate.")
        return np.stack(frames), fps

    def _mover_positions(self, frames: np.ndarray) -> np.ndarray:
        """Per frame pair (t-1, t): centroid (x, y) of the largest-motion region, NaN when nothing moves."""
        from scipy import ndimage

        cfg = self.config
        positions = np.full((len(frames), 2), np.nan)
        min_area = cfg.min_motion_fraction * frames.shape[1] * frames.shape[2]
        structure = np.ones((3, 3), dtype=bool)
        for t in range(1, len(frames)):
            diff = np.abs(frames[t] - frames[t - 1])
            mask = ndimage.binary_opening(diff > cfg.diff_threshold, structure)  # drop grain specks
            if mask.sum() < min_area:
                continue
            labels, count = ndimage.label(ndimage.binary_dilation(mask, structure, cfg.merge_radius))
            weights = np.where(mask, diff, 0.0)
            index = np.arange(1, count + 1)
            energy = np.asarray(ndimage.sum(weights, labels, index=index))
            centres = np.array(ndimage.center_of_mass(weights, labels, index))[:, ::-1]  # (x, y)
            positions[t] = self._follow(positions[t - 2 : t], centres, energy, frames.shape[2])
        return positions

    def _follow(self, history: np.ndarray, centres: np.ndarray, energy: np.ndarray, width: int) -> np.ndarray:
        """Keep following the mover seen last (predicted one step on) if a strong region is near it.

        Why: a player's region can briefly outweigh the shuttle's; jumping between them would
        look like a direction change. Otherwise the strongest region starts a new track.
        """
        strong = energy >= self.config.track_min_energy * energy.max()
        last = history[-1] if len(history) else np.array([np.nan, np.nan])
        if strong.any() and np.isfinite(last).all():
            prev = history[0] if len(history) == 2 and np.isfinite(history[0]).all() else last
            predicted = last + (last - prev)
            dist = np.linalg.norm(centres - predicted, axis=1)
            dist[~strong] = np.inf
            best = int(np.argmin(dist))
            if dist[best] <= self.config.max_jump * width:
                return centres[best]
        return centres[int(np.argmax(energy))]

    def score(self, frames: np.ndarray, fps: float) -> np.ndarray:
        """Per-frame hit score: velocity change (frame widths/s) of the dominant mover at that frame."""
        cfg = self.config
        pos = self._mover_positions(frames)
        valid = ~np.isnan(pos[:, 0])
        count = len(frames)
        # v[t] = pos[t+1] - pos[t]; zero when nothing moves, NaN when the mover appears/changes.
        vel = np.full((count, 2), np.nan)
        both = valid[1:] & valid[:-1]
        step = pos[1:] - pos[:-1]
        jump = np.linalg.norm(np.where(both[:, None], step, 0.0), axis=1) > cfg.max_jump * frames.shape[2]
        vel[:-1][both & ~jump] = step[both & ~jump]
        vel[:-1][~valid[1:] & ~valid[:-1]] = 0.0
        vel *= fps / frames.shape[2]
        k = max(1, int(round(cfg.window_s * fps)))
        score = np.zeros(count)
        for t in range(count):
            before, after = vel[max(0, t - k) : t], vel[t + 1 : t + 1 + k]
            v_in = np.nanmedian(before, axis=0) if np.isfinite(before).any() else np.zeros(2)
            moving = np.isfinite(after[:, 0]) & (np.abs(after).sum(axis=1) > 0)
            if len(after) < k or not moving.all():
                continue  # a hit launches a mover that keeps moving; a landing's last jitter does not
            v_out = np.median(after, axis=0)
            if np.linalg.norm(v_out) < cfg.min_outgoing_ratio * np.linalg.norm(v_in):
                continue  # slowing down or stopping: a landing, not a hit
            score[t] = np.linalg.norm(v_out - v_in)
        return score

    def detect_in_frames(self, frames: np.ndarray, fps: float) -> tuple[list[float], list[float]]:
        """Hit times and strengths (velocity change, frame widths/s) in greyscale frames."""
        cfg = self.config
        score = self.score(frames, fps)
        height = max(cfg.min_speed_change, cfg.relative_threshold * float(score.max(initial=0.0)))
        peaks = _peaks(score, height, int(round(cfg.min_gap_s * fps)))
        return [float(p / fps) for p in peaks], [float(score[p]) for p in peaks]

    def detect(self, video_path: str | Path) -> HitDetection:
        frames, fps = self.load_gray(video_path)
        times, strengths = self.detect_in_frames(frames, fps)
        notes = [] if times else ["no abrupt shuttle motion change found"]
        return HitDetection(times, strengths, "visual", notes, len(frames) / fps)


# ----------------------------------------------------------------------------- combined


@dataclass
class HitDetectionConfig:
    """Which detector runs, and the settings of each."""

    method: str = field(
        default="auto",
        metadata={"help": "auto (audio if the track has onsets, else visual), audio or visual."},
    )
    audio: AudioHitConfig = field(default_factory=AudioHitConfig, metadata={"help": "Audio detector."})
    visual: VisualHitConfig = field(default_factory=VisualHitConfig, metadata={"help": "Visual detector."})
    refine_with_visual: bool = field(
        default=False,
        metadata={
            "help": "In auto mode, also run the visual detector and note audio hits it does not confirm "
            "(within refine_tolerance_s); the audio times are kept."
        },
    )
    refine_tolerance_s: float = field(
        default=0.1, metadata={"help": "Audio and visual hits this close (s) confirm each other."}
    )


class CombinedHitDetector:
    """Audio when the video has a track with detectable onsets, otherwise visual; says which."""

    def __init__(self, config: HitDetectionConfig | None = None):
        self.config = config or HitDetectionConfig()
        self.audio = AudioHitDetector(self.config.audio)
        self.visual = VisualHitDetector(self.config.visual)

    def detect(self, video_path: str | Path) -> HitDetection:
        heard = self.audio.detect(video_path)
        if not heard.times:
            seen = self.visual.detect(video_path)
            reason = heard.notes[0] if heard.notes else "no audio hits"
            note = f"{reason}: used visual"
            logger.info("%s: %s", Path(video_path).name, note)
            return HitDetection(seen.times, seen.strengths, "visual", [note, *seen.notes], seen.duration)
        notes = ["audio track has onsets: used audio"]
        if self.config.refine_with_visual:
            seen = self.visual.detect(video_path)
            tol = self.config.refine_tolerance_s
            unconfirmed = [t for t in heard.times if not any(abs(t - s) <= tol for s in seen.times)]
            notes.append(
                f"visual refinement: {len(heard.times) - len(unconfirmed)}/{len(heard.times)} confirmed"
            )
            if unconfirmed:
                notes.append("unconfirmed by motion: " + ", ".join(f"{t:.2f}s" for t in unconfirmed))
        return HitDetection(heard.times, heard.strengths, "audio", notes, heard.duration)


def get_hit_detector(method: Method = "auto", config: HitDetectionConfig | None = None) -> HitDetector:
    """The detector for `method` ("auto", "audio" or "visual")."""
    config = config or HitDetectionConfig()
    if method == "auto":
        return CombinedHitDetector(config)
    if method == "audio":
        return AudioHitDetector(config.audio)
    if method == "visual":
        return VisualHitDetector(config.visual)
    raise ValueError(f"Unknown hit detection method {method!r}; use 'auto', 'audio' or 'visual'.")


def detect_hits(
    video_path: str | Path, method: Method | None = None, config: HitDetectionConfig | None = None
) -> HitDetection:
    """Detect the hits in a rally video (`method` defaults to `config.method`, i.e. "auto")."""
    config = config or HitDetectionConfig()
    result = get_hit_detector(method or config.method, config).detect(video_path)  # type: ignore[arg-type]
    logger.info("%s: %d hits (%s)", Path(video_path).name, len(result), result.method)
    return result
