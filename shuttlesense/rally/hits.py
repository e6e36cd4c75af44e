"""Find the racket-shuttle hits in a rally or match video: from the soundtrack, from motion, or both.

Why two detectors: the impact click is the sharpest, best-timed cue when the video has sound
(phone footage usually does), but broadcast cuts and re-encodes often come without audio, and
then the shuttle's motion is all we have. A match's sound is more than hits: onsets are measured
above `fmin_hz` (footsteps and voices sit lower) and an onset among many others (applause, a
burst of sharp claps as loud as a hit) is not a hit. Both sit behind one small `HitDetector` protocol so a
better detector (a shuttle tracker, a learned model) can replace them without touching the
segmentation or the recognisers downstream.

The visual detector (a shuttle tracker) lives in `visual_hits`; both detectors share the result
type and the video opener of `hit_detection`. All of them are re-exported here.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from shuttlesense.rally.hit_detection import HitDetection, HitDetectionError, HitDetector
from shuttlesense.rally.video_stream import VideoStream
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
    fmin_hz: float = field(
        default=2000.0,
        metadata={
            "help": "Lowest frequency (Hz) the onsets are measured on: the impact's crack is broadband, while "
            "footsteps and voices sit below it."
        },
    )
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
    crowd_window_s: float = field(
        default=1.0, metadata={"help": "Window (s) around an onset in which crowd noise is counted."}
    )
    crowd_max_onsets: int = field(
        default=4,
        metadata={
            "help": "An onset with more sharp onsets than this in its window (applause: dozens a second) is "
            "crowd noise, not a hit."
        },
    )


class AudioHitDetector:
    """Hits as sharp onsets in the soundtrack: the racket-shuttle impact is a short broadband click."""

    def __init__(self, config: AudioHitConfig | None = None):
        self.config = config or AudioHitConfig()

    def _samples(self, stream: VideoStream) -> Iterator[np.ndarray]:
        """The first audio track as mono float32 pieces at `config.sample_rate`, as it is decoded."""
        import av

        resampler = av.AudioResampler(format="flt", layout="mono", rate=self.config.sample_rate)
        for frame in stream.audio_frames():
            yield from (f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
        yield from (f.to_ndarray().reshape(-1) for f in resampler.resample(None))

    def load_audio(self, video_path: str | Path) -> np.ndarray | None:
        """The whole first audio track as mono float32 at `config.sample_rate`, or None if there is none."""
        with VideoStream(video_path) as stream:
            if not stream.has_audio:
                return None
            pieces = list(self._samples(stream))
        return np.concatenate(pieces).astype(np.float32) if pieces else np.zeros(0, np.float32)

    def read_envelope(
        self, video_path: str | Path, chunk_s: float = 30.0
    ) -> tuple[np.ndarray | None, VideoStream, float]:
        """The onset envelope of the first audio track (None without one), the finished stream and the seconds heard.

        Computed `chunk_s` at a time as the sound is decoded, each chunk with a few hops of context
        on both sides, so it equals the envelope of the whole track while an hour of sound never
        sits in memory.
        """
        cfg = self.config
        hop = cfg.hop_length
        chunk = max(1, int(chunk_s * cfg.sample_rate) // hop) * hop
        context = (cfg.n_fft // hop + 4) * hop
        with VideoStream(video_path) as stream:
            if not stream.has_audio:
                return None, stream, 0.0
            held, start, done, total = np.zeros(0, np.float32), 0, 0, 0
            parts: list[np.ndarray] = []
            for piece in self._samples(stream):
                held, total = np.concatenate([held, piece]), total + len(piece)
                while total - done >= chunk + context:
                    parts.append(self._envelope_part(held, start, done, done + chunk, context, total))
                    done += chunk
                    drop = max(0, done - context - start)
                    held, start = held[drop:], start + drop
            if total >= cfg.n_fft and total > done:
                parts.append(self._envelope_part(held, start, done, total, context, total))
        envelope = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        return envelope, stream, total / cfg.sample_rate

    def _envelope_part(
        self, held: np.ndarray, start: int, lo: int, hi: int, context: int, total: int
    ) -> np.ndarray:
        """Envelope frames of samples [lo, hi) (all remaining frames when `hi` is the end), from `held`."""
        hop = self.config.hop_length
        first, last = max(lo - context, start), min(hi + context, start + len(held))
        envelope = self.onset_envelope(held[first - start : last - start])
        count = (total // hop + 1 - lo // hop) if hi == total else (hi - lo) // hop
        offset = (lo - first) // hop
        return envelope[offset : offset + count]

    def onset_envelope(self, audio: np.ndarray) -> np.ndarray:
        """Onset strength per hop, measured above `fmin_hz` only."""
        import librosa

        cfg = self.config
        fmin = min(cfg.fmin_hz, cfg.sample_rate / 4)  # keep some bands at low sample rates
        return librosa.onset.onset_strength(
            y=audio,
            sr=cfg.sample_rate,
            n_fft=cfg.n_fft,
            hop_length=cfg.hop_length,
            n_mels=cfg.n_mels,
            fmin=fmin,
        )

    def detect_in_signal(self, audio: np.ndarray) -> tuple[list[float], list[float]]:
        """Hit times and strengths (onset strength / track median) in a mono signal."""
        if audio.size < self.config.n_fft:
            return [], []
        return self.detect_in_envelope(self.onset_envelope(audio))

    def detect_in_envelope(self, env: np.ndarray) -> tuple[list[float], list[float]]:
        """Hit times and strengths from an onset envelope (see `onset_envelope`).

        A hit is a strong onset standing alone: one inside a burst of many (applause) is dropped.
        """
        cfg = self.config
        if env.size == 0:
            return [], []
        median = float(np.median(env))
        floor = max(median, 1e-8)
        height = max(median + cfg.relative_threshold * (float(env.max()) - median), cfg.min_ratio * floor)
        hop_s = cfg.hop_length / cfg.sample_rate
        onsets = _peaks(env, max(height / 2, cfg.min_ratio * floor), 2)  # every sharp sound, claps too
        reach = cfg.crowd_window_s / 2 / hop_s
        alone = [
            p
            for p in _peaks(env, height, int(round(cfg.min_gap_s / hop_s)))
            if np.count_nonzero(np.abs(onsets - p) <= reach) <= cfg.crowd_max_onsets
        ]
        return [float(p * hop_s) for p in alone], [float(env[p] / floor) for p in alone]

    def detect(self, video_path: str | Path) -> HitDetection:
        envelope, stream, heard = self.read_envelope(video_path)
        if envelope is None:
            name = Path(video_path).name
            return HitDetection([], [], "audio", [f"no audio track in {name}"], stream.duration)
        times, strengths = self.detect_in_envelope(envelope)
        notes = [] if times else ["audio track has no detectable onsets"]
        duration = heard if stream.stopped else (stream.duration or heard)
        return HitDetection(times, strengths, "audio", notes, duration, stream.stopped)


# ----------------------------------------------------------------------------- combined


@dataclass
class HitDetectionConfig:
    """Which detector runs, and the settings of each."""

    method: str = field(
        default="auto",
        metadata={
            "help": "auto (audio if the track has onsets, else visual), audio or visual.",
            "choices": list(get_args(Method)),
        },
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
            return dataclasses.replace(seen, notes=[note, *seen.notes])
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
        return dataclasses.replace(heard, notes=notes)


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
