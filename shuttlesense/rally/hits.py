"""Find the racket-shuttle hits in a rally video: from the soundtrack, from motion, or both.

Why two detectors: the impact click is the sharpest, best-timed cue when the video has sound
(phone footage usually does), but broadcast cuts and re-encodes often come without audio, and
then the shuttle's motion is all we have. Both sit behind one small `HitDetector` protocol so a
better detector (a shuttle tracker, a learned model) can replace them without touching the
segmentation or the recognisers downstream.

The visual detector (a shuttle tracker) lives in `visual_hits`; both detectors share the result
type and the video opener of `hit_detection`. All of them are re-exported here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from shuttlesense.rally.hit_detection import (
    HitDetection,
    HitDetectionError,
    HitDetector,
    open_video,
    video_duration,
)
from shuttlesense.rally.visual_hits import VisualHitConfig, VisualHitDetector

__all__ = [
    "AudioHitConfig",
    "AudioHitDetector",
    "CombinedHitDetector",
    "HitDetection",
    "HitDetectionConfig",
    "HitDetectionError",
    "HitDetector",
    "VisualHitConfig",
    "VisualHitDetector",
    "detect_hits",
    "get_hit_detector",
]

logger = logging.getLogger(__name__)

Method = Literal["auto", "audio", "visual"]


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

        container = open_video(video_path)
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
        duration = video_duration(open_video(video_path))
        if audio is None:
            return HitDetection([], [], "audio", [f"no audio track in {Path(video_path).name}"], duration)
        times, strengths = self.detect_in_signal(audio)
        notes = [] if times else ["audio track has no detectable onsets"]
        return HitDetection(
            times, strengths, "audio", notes, duration or audio.size / self.config.sample_rate
        )


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
