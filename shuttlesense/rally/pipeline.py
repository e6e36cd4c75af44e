"""`QwenVLEnhancedDetector`: a rally or match video in, every hit, rally, stroke and player out.

video -> hits (`hits`, `visual_hits`) -> rallies and hit-to-hit segments (`segments`) -> each
segment's sampled frames from one decoding pass (`frame_collector`) -> stroke per segment (Qwen-VL,
optionally ensembled with VideoMAE) and who served (`players`) -> one JSON-ready report
(`report`). The names `create_qwen_vl_enhanced_detector` and
`process_video_with_action_recognition` are the seed's public API. Models load once, in the constructor; everything the run had to fall back on (no
audio, VideoMAE missing, a clip that would not decode) is written into the report's notes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

import shuttlesense
from shuttlesense.inference.model_source import tiny_model_kind
from shuttlesense.inference.recognizer_args import build_recognizer
from shuttlesense.rally.config import PipelineConfig, load_pipeline_config
from shuttlesense.rally.ensemble import combine_results
from shuttlesense.rally.frame_collector import ClipSpec, FrameCollector, SegmentClips, ServeWindow, ahead
from shuttlesense.rally.hits import HitDetection, VisualHitDetector, detect_hits
from shuttlesense.rally.players import player_of, serve_velocity, server_from_velocity, servers_from_paths
from shuttlesense.rally.report import match_summary, rally_entries
from shuttlesense.rally.segments import Segment, cut_segments, make_segments, refuse_existing_clips
from shuttlesense.rally.video_stream import VideoStream

logger = logging.getLogger(__name__)

BATCH = 4  # segments per recognize_actions call


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
        return build_recognizer(section)

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
        qwen_vl = self.qwen_vl.recognize_action(video, top_k=top_k) if self.qwen_vl is not None else None
        wanted = self.qwen_vl is None or self.ensemble_active(use_ensemble)
        videomae = self.videomae.recognize_action(video, top_k=top_k) if wanted else None
        return self._combine(qwen_vl, videomae, top_k)

    def _combine(self, qwen_vl: dict | None, videomae: dict | None, top_k: int) -> dict[str, Any]:
        if qwen_vl is None:
            return {**videomae, "decided_by": "videomae", "models": {"qwen_vl": None, "videomae": videomae}}
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

    def _recognisers(self, use_ensemble: bool) -> dict[str, Any]:
        """The models that look at every segment, by report key (Qwen-VL first)."""
        models = {"qwen_vl": self.qwen_vl}
        if self.qwen_vl is None or self.ensemble_active(use_ensemble):
            models["videomae"] = self.videomae
        return {key: model for key, model in models.items() if model is not None}

    def process_video_with_action_recognition(
        self,
        video_path: str | Path,
        use_ensemble: bool = True,
        clips_dir: str | Path | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, Any]:
        """Analyse a rally or a whole match: the report (see `build_report`).

        The video is read at most twice, front to back: once for the hits (only its sound when it
        has hits in it), once for the frames the recognisers sample, decoded in a worker thread
        while the models work. Clip files are written only into `clips_dir`, in the background.
        `progress(done, total)` is called as segments are recognised.
        """
        start = time.perf_counter()
        video_path = Path(video_path)
        with VideoStream(video_path) as video:
            video.require_video()  # a sound file has nothing to analyse
        hits = self.detect_hits(video_path)
        segments = make_segments(hits.times, hits.duration or None, self.config.segmentation)
        detected = time.perf_counter()
        first_hits = {seg.rally: seg.hit_time for seg in segments if seg.shot == 0}
        servers = servers_from_paths(
            hits, first_hits, self.config.players.a_side, self.config.hit_detection.visual.link_gap_s
        )
        if clips_dir is not None:
            refuse_existing_clips(video_path, segments, clips_dir)  # before the models work
        writer = None
        if clips_dir is not None and segments:
            writer = ThreadPoolExecutor(1, thread_name_prefix="shuttlesense-clips")
            clip_paths = writer.submit(cut_segments, video_path, segments, Path(clips_dir))
        try:
            entries, stopped = self._recognise_segments(
                video_path, segments, {r: t for r, t in first_hits.items() if r not in servers},
                servers, use_ensemble, progress,
            )  # fmt: skip
            if writer is not None:
                for entry, clip in zip(entries, clip_paths.result(), strict=True):
                    entry["clip"] = str(clip)
        finally:
            if writer is not None:
                writer.shutdown()
        for entry in entries:
            entry["player"] = player_of(servers.get(entry["rally"]), entry["shot"])
        done = time.perf_counter()
        timing = {
            "hit_detection_s": detected - start,
            "recognition_s": done - detected,
            "total_s": done - start,
        }
        return self.build_report(
            video_path, hits, entries, use_ensemble, timing, stopped or hits.stopped_at, servers
        )

    def _recognise_segments(
        self,
        video_path: Path,
        segments: list[Segment],
        serves: dict[int, float],
        servers: dict[int, str | None],
        use_ensemble: bool,
        progress: Callable[[int, int], None] | None,
    ) -> tuple[list[dict[str, Any]], Any]:
        """Every segment's entry, recognised from one decoding pass; a segment that fails is recorded."""
        models = self._recognisers(use_ensemble)
        players = self.config.players
        collector = FrameCollector(
            video_path,
            segments,
            [ClipSpec(model.sampling, model.grid) for model in models.values()],
            serves,
            before_s=players.before_s,
            after_s=players.after_s,
            gray_width=self.config.hit_detection.visual.width,
        )
        tracker = VisualHitDetector(self.config.hit_detection.visual)
        entries: dict[int, dict[str, Any]] = {}
        bar = tqdm(total=len(segments), desc="strokes", unit="segment", disable=len(segments) < 2)
        batch: list[SegmentClips] = []
        for item in ahead(collector, size=2 * BATCH):
            if isinstance(item, ServeWindow):
                velocity = serve_velocity(tracker, item.frames, collector.fps, item.hit_frame)
                servers[item.rally] = server_from_velocity(velocity, players.a_side)
                continue
            batch.append(item)
            if len(batch) == BATCH:
                self._recognise_batch(batch, models, entries)
                bar.update(len(batch))
                batch = []
                if progress:
                    progress(len(entries), len(segments))
        if batch:
            self._recognise_batch(batch, models, entries)
            bar.update(len(batch))
        bar.close()
        if progress:
            progress(len(entries), len(segments))
        stopped = collector.stopped
        for segment in segments:  # cut short by a damaged file
            if segment.index not in entries:
                reason = (
                    f"not analysed: the video cannot be read past {stopped.time:.2f} s"
                    if stopped
                    else "not decoded"
                )
                entries[segment.index] = {
                    **_entry(segment),
                    "stroke": None,
                    "stroke_zh": None,
                    "error": reason,
                }
        return [entries[segment.index] for segment in segments], stopped

    def _recognise_batch(
        self, batch: list[SegmentClips], models: dict[str, Any], entries: dict[int, dict[str, Any]]
    ) -> None:
        """Recognise a few segments with each model's `recognize_actions`, then combine per segment."""
        top_k = self.config.top_k
        results = {
            key: model.recognize_actions(
                [item.clips[spec] for item in batch], batch_size=len(batch), top_k=top_k, errors="record"
            )
            for spec, (key, model) in enumerate(models.items())
        }
        for number, item in enumerate(batch):
            entry = _entry(item.segment)
            per_model = {key: results[key][number] for key in results}
            failed = [r["error"] for r in per_model.values() if "error" in r]
            if failed:
                logger.warning("Segment %d could not be recognised: %s", item.segment.index, failed[0])
                entries[item.segment.index] = {**entry, "stroke": None, "stroke_zh": None, "error": failed[0]}
                continue
            result = self._combine(per_model.get("qwen_vl"), per_model.get("videomae"), top_k)
            models_used = result["models"]
            entries[item.segment.index] = {
                **entry,
                "stroke": result["predicted_action"],
                "stroke_zh": result["predicted_action_zh"],
                "class_id": result["class_id"],
                "confidence": round(result["confidence"], 6),
                "decided_by": result["decided_by"],
                "top_classes": {
                    name: (_rounded_top(models_used[name]) if models_used[name] else None)
                    for name in models_used
                },
            }

    def build_report(
        self,
        video_path: Path,
        hits: HitDetection,
        entries: list[dict[str, Any]],
        use_ensemble: bool,
        timing: dict[str, float],
        stopped: Any = None,
        servers: dict[int, str | None] | None = None,
    ) -> dict[str, Any]:
        """The JSON-ready report of a rally or match: the seed's keys, plus rallies and a summary."""
        notes = list(self.notes) + list(hits.notes)
        if not hits.times:
            notes.append("no hit detected: no segments")
        failed = sum(1 for e in entries if e.get("error"))
        if failed:
            notes.append(f"{failed} segment(s) could not be recognised (see their 'error')")
        if stopped is not None:
            notes.append(f"the video is damaged: analysed up to {stopped.time:.2f} s ({stopped.reason})")
        rallies = rally_entries(entries, servers or {})
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
            "rallies": rallies,
            "summary": match_summary(rallies),
            "stopped_at": stopped.to_dict() if stopped is not None else None,
            "notes": notes,
            "timing": {key: round(value, 3) for key, value in timing.items()},
        }


def _entry(segment: Segment) -> dict[str, Any]:
    """The fields every segment entry has, recognised or not."""
    return {
        "index": segment.index,
        "start": round(segment.start, 3),
        "end": round(segment.end, 3),
        "hit_time": round(segment.hit_time, 3),
        "rally": segment.rally,
        "shot": segment.shot,
        "player": None,
        "clip": None,
    }


def _rounded_top(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**entry, "probability": round(entry["probability"], 6)} for entry in result["top_k"]]


def create_qwen_vl_enhanced_detector(
    config: str | Path | dict[str, Any] | PipelineConfig | None = None,
) -> QwenVLEnhancedDetector:
    """The seed's factory: a detector from a `config.yaml` path, a dict of the same shape, or a config."""
    return QwenVLEnhancedDetector(load_pipeline_config(config))
