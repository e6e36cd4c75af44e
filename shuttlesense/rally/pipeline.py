"""`QwenVLEnhancedDetector`: a rally video in, every hit and the stroke played at it out.

rally -> hits (`shuttlesense.rally.hits`) -> hit-to-hit clips (`shuttlesense.rally.segments`) -> stroke per
clip (Qwen-VL, optionally ensembled with VideoMAE) -> one JSON-ready report. The names
`create_qwen_vl_enhanced_detector` and `process_video_with_action_recognition` are the seed's
public API. Models load once, in the constructor; everything the run had to fall back on (no
audio, VideoMAE missing, a clip that would not decode) is written into the report's notes.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

import shuttlesense
from shuttlesense.inference.model_source import tiny_model_kind
from shuttlesense.rally.config import PipelineConfig, load_pipeline_config
from shuttlesense.rally.ensemble import combine_results
from shuttlesense.rally.hits import HitDetection, detect_hits
from shuttlesense.rally.segments import Segment, cut_segments, make_segments

logger = logging.getLogger(__name__)


def _tiny_note(role: str, model_path: str, kind: str | None) -> str | None:
    """A warning for the report when a model is (or sits on) a tiny random test model."""
    name = Path(model_path).name
    if kind == "random":
        return f"{role} model {name} is a tiny RANDOM test model: its strokes are meaningless."
    if kind == "tiny-base":
        return (
            f"{role} model {name} was trained from a tiny test model: it can only know the "
            "synthetic data it was trained on, not real badminton."
        )
    return None


class QwenVLEnhancedDetector:
    """Hit detection + segmentation + stroke recognition over a whole rally.

    Pass already-built recognisers (`qwen_vl`, `videomae`) to share them between detectors, e.g.
    in the web app; otherwise they are loaded from `config` (paths, devices, dtypes).
    """

    def __init__(
        self,
        config: PipelineConfig,
        qwen_vl: Any | None = None,
        videomae: Any | None = None,
    ) -> None:
        self.config = config
        self.notes: list[str] = []
        self.tiny_kinds: dict[str, str | None] = {"qwen_vl": None, "videomae": None}
        """Per model: "random" (tiny random test model), "tiny-base" (trained from one) or None."""
        self.qwen_vl = qwen_vl if qwen_vl is not None else self._load_qwen_vl()
        self.videomae = videomae if videomae is not None else self._load_videomae()
        if self.qwen_vl is None and self.videomae is None:
            raise ValueError(
                "Neither model is available: enable qwen_vl (with a model_path) or videomae in the config."
            )
        for key, role in (("qwen_vl", "Qwen-VL"), ("videomae", "VideoMAE")):
            model = getattr(self, key)
            if model is not None:
                self.tiny_kinds[key] = tiny_model_kind(model.model_path, getattr(model, "base_model", None))
                note = _tiny_note(role, model.model_path, self.tiny_kinds[key])
                if note:
                    self.notes.append(note)

    def _load_qwen_vl(self) -> Any | None:
        section = self.config.qwen_vl
        if not section.enabled:
            self.notes.append("Qwen-VL disabled in the config: VideoMAE alone.")
            return None
        if not section.model_path:
            raise ValueError("qwen_vl.model_path is not set: name an adapter folder, model folder or Hub id.")
        from shuttlesense.inference.recognizer import QwenVLActionRecognizer

        return QwenVLActionRecognizer(
            section.model_path,
            base_model=section.base_model,
            device=section.device,
            dtype=section.dtype,
            language=section.language,
            num_frames=section.num_frames,
            max_pixels=section.max_pixels,
        )

    def _load_videomae(self) -> Any | None:
        section = self.config.videomae
        if not section.enabled:
            if self.config.qwen_vl.use_ensemble:
                self.notes.append("VideoMAE disabled in the config: Qwen-VL alone, no ensemble.")
            return None
        if not section.model_path:
            self.notes.append("VideoMAE enabled but videomae.model_path is not set: Qwen-VL alone.")
            return None
        from shuttlesense.inference.videomae import VideoMAEActionRecognizer

        try:
            return VideoMAEActionRecognizer(section.model_path, device=section.device, dtype=section.dtype)
        except (OSError, ValueError) as err:
            message = f"VideoMAE model {section.model_path} could not be loaded ({err}): Qwen-VL alone."
            logger.warning(message)
            self.notes.append(message)
            return None

    def ensemble_active(self, use_ensemble: bool = True) -> bool:
        """Both models are there and both the call and the config ask for the ensemble."""
        return bool(
            use_ensemble and self.config.qwen_vl.use_ensemble and self.qwen_vl is not None and self.videomae
        )

    def recognize_clip(
        self, video: Any, use_ensemble: bool = True, top_k: int | None = None
    ) -> dict[str, Any]:
        """The stroke in one clip: the recogniser result shape + `decided_by` and each model's result."""
        top_k = top_k or self.config.top_k
        if self.qwen_vl is None:
            result = self.videomae.recognize_action(video, top_k=top_k)
            return {**result, "decided_by": "videomae", "models": {"qwen_vl": None, "videomae": result}}
        qwen_vl = self.qwen_vl.recognize_action(video, top_k=top_k)
        videomae = (
            self.videomae.recognize_action(video, top_k=top_k) if self.ensemble_active(use_ensemble) else None
        )
        return combine_results(
            qwen_vl,
            videomae,
            qwen_vl_weight=self.config.ensemble.qwen_vl_weight,
            videomae_weight=self.config.ensemble.videomae_weight,
            confidence_threshold=self.config.qwen_vl.confidence_threshold,
            top_k=top_k,
        )

    def detect_hits(self, video_path: str | Path) -> HitDetection:
        return detect_hits(video_path, config=self.config.hit_detection)

    def process_video_with_action_recognition(
        self, video_path: str | Path, use_ensemble: bool = True, clips_dir: str | Path | None = None
    ) -> dict[str, Any]:
        """Analyse a rally: the report (see `build_report`). Clips are kept in `clips_dir` if given."""
        start = time.perf_counter()
        video_path = Path(video_path)
        hits = self.detect_hits(video_path)
        segments = make_segments(hits.times, hits.duration or None, self.config.segmentation)
        detected = time.perf_counter()
        if clips_dir is None:
            with tempfile.TemporaryDirectory(prefix="shuttlesense-clips-") as tmp:
                entries = self._recognise_segments(video_path, segments, Path(tmp), use_ensemble, keep=False)
        else:
            entries = self._recognise_segments(video_path, segments, Path(clips_dir), use_ensemble, keep=True)
        done = time.perf_counter()
        timing = {
            "hit_detection_s": detected - start,
            "recognition_s": done - detected,
            "total_s": done - start,
        }
        return self.build_report(video_path, hits, entries, use_ensemble, timing)

    def _recognise_segments(
        self, video_path: Path, segments: list[Segment], out_dir: Path, use_ensemble: bool, keep: bool
    ) -> list[dict[str, Any]]:
        """Cut every segment, then recognise each clip; a clip that fails is recorded, not fatal."""
        clips = cut_segments(video_path, segments, out_dir) if segments else []
        entries = []
        for segment, clip in tqdm(
            list(zip(segments, clips, strict=True)), desc="strokes", unit="clip", disable=len(segments) < 2
        ):
            entry: dict[str, Any] = {
                "index": segment.index,
                "start": round(segment.start, 3),
                "end": round(segment.end, 3),
                "hit_time": round(segment.hit_time, 3),
                "clip": str(clip) if keep else None,
            }
            try:
                result = self.recognize_clip(clip, use_ensemble=use_ensemble)
            except (ValueError, OSError, TypeError) as err:
                logger.warning("Segment %d (%s) could not be recognised: %s", segment.index, clip.name, err)
                entries.append(
                    {**entry, "stroke": None, "stroke_zh": None, "error": f"{type(err).__name__}: {err}"}
                )
                continue
            models = result["models"]
            entries.append(
                {
                    **entry,
                    "stroke": result["predicted_action"],
                    "stroke_zh": result["predicted_action_zh"],
                    "class_id": result["class_id"],
                    "confidence": round(result["confidence"], 6),
                    "decided_by": result["decided_by"],
                    "top_classes": {
                        name: (_rounded_top(models[name]) if models[name] else None) for name in models
                    },
                }
            )
        return entries

    def build_report(
        self,
        video_path: Path,
        hits: HitDetection,
        entries: list[dict[str, Any]],
        use_ensemble: bool,
        timing: dict[str, float],
    ) -> dict[str, Any]:
        """The JSON-ready report of one rally."""
        notes = list(self.notes) + list(hits.notes)
        if not hits.times:
            notes.append("no hit detected: no segments")
        failed = sum(1 for e in entries if e.get("error"))
        if failed:
            notes.append(f"{failed} segment(s) could not be recognised (see their 'error')")
        return {
            "video": str(video_path),
            "duration_s": round(hits.duration, 3),
            "shuttlesense_version": shuttlesense.__version__,
            "models": {
                "qwen_vl": self.qwen_vl.model_path if self.qwen_vl is not None else None,
                "videomae": self.videomae.model_path if self.videomae is not None else None,
            },
            "ensemble": self.ensemble_active(use_ensemble),
            "confidence_threshold": self.config.qwen_vl.confidence_threshold,
            "hit_detection": {
                "method": hits.method,
                "times": [round(t, 3) for t in hits.times],
                "notes": list(hits.notes),
            },
            "total_hits": len(hits.times),
            "total_segments": len(entries),
            "segments": entries,
            "notes": notes,
            "timing": {key: round(value, 3) for key, value in timing.items()},
        }


def _rounded_top(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**entry, "probability": round(entry["probability"], 6)} for entry in result["top_k"]]


def create_qwen_vl_enhanced_detector(
    config: str | Path | dict[str, Any] | PipelineConfig | None = None,
) -> QwenVLEnhancedDetector:
    """The seed's factory: a detector from a `config.yaml` path, a dict of the same shape, or a config."""
    return QwenVLEnhancedDetector(load_pipeline_config(config))
