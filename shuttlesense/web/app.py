"""The ShuttleSense web app (Gradio): one stroke clip, or a whole rally, analysed in the browser.

Why a thin layer: everything that decides a stroke lives in `QwenVLEnhancedDetector`
(`shuttlesense.rally.pipeline`); this module only checks uploads, calls the detector and lays out its
answer, so the page can never disagree with the CLI or the Python API. The handlers are plain
methods of `WebHandlers` (testable without a browser); `build_app` wires them into a `gr.Blocks`.

Uploads are refused with a readable message (`gr.Error`), never a traceback, unless they are a
video container by extension, within the size limit and decodable. A tiny random model (the
offline fallback of `shuttlesense serve`) is announced by a banner on every view and next to
every prediction: it must never pass for a trained recogniser.

On a Hugging Face Space, `app.py` is::

    from shuttlesense.web.serve import ServeArguments, create_app
    create_app(ServeArguments(model_path="<adapter repo>")).launch(max_file_size="200mb")
"""

from __future__ import annotations

import atexit
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from shuttlesense.data.video_io import VideoDecodeError, probe_video
from shuttlesense.paths import VIDEO_EXTENSIONS, public_name

logger = logging.getLogger(__name__)

DEFAULT_MAX_UPLOAD_MB = 4096.0  # an hour of 1080p match video
TOP_K = 5
"""Classes shown in the clip view's chart."""
KEEP_RUNS = 16
"""Rally runs whose timeline and report stay on disk (older ones are deleted)."""
SEGMENT_COLUMNS = [
    "#",
    "rally",
    "player",
    "start (s)",
    "end (s)",
    "hit (s)",
    "stroke",
    "动作",
    "confidence",
    "decided by",
    "top classes",
]
RANDOM_BANNER = (
    "⚠ Demo model with RANDOM weights. No trained model was given, so this app runs a tiny "
    "randomly initialised Qwen-VL built offline. Its predictions are meaningless: the page only "
    "shows that the pipeline works. Start it with --model-path (a LoRA adapter or merged model) "
    "or qwen_vl.model_path in --config for real stroke recognition."
)
TOY_BANNER = (
    "⚠ Toy model: trained from a tiny RANDOM base model, so at best it knows the synthetic "
    "clips it was trained on. Its predictions on real badminton are meaningless."
)


class UploadError(ValueError):
    """An upload the app refuses (not a video, too large, undecodable); the message is for the page."""


def check_video_upload(video: str | Path | None, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB) -> Path:
    """The uploaded file if it is a decodable video container within the size limit, else `UploadError`.

    Gradio's `max_file_size` already stops large uploads at the server; checking again keeps the
    handlers safe when called directly or behind another front end.
    """
    if not video:
        raise UploadError("Upload a video first.")
    path = Path(video)
    name = path.name
    if path.suffix.lower() not in VIDEO_EXTENSIONS:
        allowed = ", ".join(sorted(VIDEO_EXTENSIONS))
        raise UploadError(f"“{name}” is not a video file. Upload a video ({allowed}).")
    if not path.is_file():
        raise UploadError(f"“{name}” did not arrive; upload it again.")
    size_mb = path.stat().st_size / 2**20
    if size_mb > max_upload_mb:
        raise UploadError(f"“{name}” is {size_mb:.0f} MB; the limit is {max_upload_mb:g} MB.")
    try:
        info = probe_video(path)
    except (VideoDecodeError, OSError) as err:
        logger.info("Refused upload %s: %s", path, err)
        raise UploadError(
            f"“{name}” could not be decoded as a video. Is it a complete, unencrypted video file?"
        ) from err
    logger.info(
        "Upload %s: %d frames at %.1f fps, %dx%d", name, info.num_frames, info.fps, info.width, info.height
    )
    return path


def model_warnings(detector: Any) -> list[str]:
    """Banners for tiny random models (or adapters on one) among the detector's loaded models."""
    found = set(getattr(detector, "tiny_kinds", {}).values())
    banners = []
    if "random" in found:
        banners.append(RANDOM_BANNER)
    if "tiny-base" in found:
        banners.append(TOY_BANNER)
    return banners


def model_summary(detector: Any) -> str:
    """One markdown line per loaded model, plus the detector's notes (fallbacks it took at load time)."""
    config = detector.config
    lines = []
    if getattr(detector, "qwen_vl", None) is not None:
        qwen = detector.qwen_vl
        lines.append(
            f"- Qwen-VL: `{public_name(config.qwen_vl.model_path)}` (language {qwen.language}, "
            f"{qwen.sampling.num_frames} frames, max_pixels {qwen.sampling.max_pixels})"
        )
    if getattr(detector, "videomae", None) is not None:
        lines.append(f"- VideoMAE: `{public_name(config.videomae.model_path)}`")
    paths = [p for p in (config.qwen_vl.model_path, config.videomae.model_path) if p]
    lines += [f"- note: {without_paths(note, paths)}" for note in getattr(detector, "notes", [])]
    return "\n".join(lines)


def without_paths(text: str, paths: list[str]) -> str:
    """`text` with each local path in `paths` replaced by its public name (longest first)."""
    for path in sorted(paths, key=len, reverse=True):
        text = text.replace(path, public_name(path))
    return text


def clip_markdown(result: dict[str, Any], random_model: bool) -> str:
    """The clip view's headline: the stroke in English (bold, the test reads it) and Chinese."""
    if result.get("predicted_action") is None:
        return "### No stroke recognised\nThe model's answer named no stroke class."
    decided = {"qwen_vl": "Qwen-VL", "ensemble": "Qwen-VL + VideoMAE ensemble", "videomae": "VideoMAE"}
    by = decided.get(result.get("decided_by", "qwen_vl"), result.get("decided_by"))
    text = (
        f"### **{result['predicted_action']}** · {result['predicted_action_zh']}\n\n"
        f"Confidence {result['confidence'] * 100:.1f} % · decided by {by}"
    )
    timing = result.get("models", {}).get("qwen_vl") or result
    if "timing" in timing:
        text += f" · {timing['timing']['total_s']:.2f} s"
    if random_model:
        text += "\n\n**Test model with random weights: this prediction is meaningless.**"
    return text


def chart_value(result: dict[str, Any]) -> dict[str, float]:
    """`gr.Label` value: the top classes ("English · 中文") and their probabilities."""
    return {
        f"{entry['action']} · {entry['action_zh']}": float(entry["probability"]) for entry in result["top_k"]
    }


def segments_frame(report: dict[str, Any]) -> pd.DataFrame:
    """The rally's segments as a table (failed segments show their error in the stroke column)."""
    rows = []
    for seg in report.get("segments", []):
        top = (seg.get("top_classes") or {}).get("qwen_vl") or (seg.get("top_classes") or {}).get("videomae")
        rows.append(
            [
                seg["index"] + 1,
                seg.get("rally", 0) + 1,
                seg.get("player") or "?",
                seg["start"],
                seg["end"],
                seg["hit_time"],
                seg.get("stroke") or f"not recognised ({seg.get('error', '?')})",
                seg.get("stroke_zh") or "",
                round(seg["confidence"], 3) if seg.get("confidence") is not None else None,
                seg.get("decided_by", ""),
                ", ".join(f"{e['action']} {e['probability']:.2f}" for e in top or []),
            ]
        )
    return pd.DataFrame(rows, columns=SEGMENT_COLUMNS)


def rally_markdown(report: dict[str, Any], random_model: bool) -> str:
    """Summary above the timeline: hits, rallies, strokes per player, time taken, every note of the run."""
    summary = report.get("summary") or {}
    rallies = summary.get("rallies", 1)
    text = (
        f"### {report['total_hits']} hits · {rallies} {'rally' if rallies == 1 else 'rallies'}"
        f" · {report['total_segments']} strokes\n\n"
        f"Hit detection: {report['hit_detection']['method']}"
        f" · ensemble: {'on' if report.get('ensemble') else 'off'}"
    )
    if "timing" in report:
        text += f" · {report['timing'].get('total_s', 0):.1f} s"
    if random_model:
        text += "\n\n**Test model with random weights: the strokes below are meaningless.**"
    if summary.get("rallies"):
        text += (
            f"\n\nRally lengths (hits): {', '.join(str(n) for n in summary['rally_hits'])}"
            f" · mean {summary['mean_rally_hits']} · longest {summary['longest_rally_hits']}"
        )
        for player, strokes in summary["strokes_per_player"].items():
            counts = ", ".join(f"{name} {count}" for name, count in strokes.items())
            text += f"\n\n**{'Player ' + player if player != 'unknown' else 'Player unknown'}:** {counts}"
    stopped = report.get("stopped_at")
    if stopped:
        text += f"\n\n**The video is damaged: analysed up to {stopped['time']:.1f} s.**"
    notes = report.get("notes") or []
    if notes:
        text += "\n\n" + "\n".join(f"- {note}" for note in notes)
    return text


class WebHandlers:
    """The app's event handlers, bound to one detector loaded at start-up.

    They raise `gr.Error` with a one-line message for anything the user can fix or should know
    (bad upload, unreadable rally); unexpected failures are logged with their traceback on the
    server and reported on the page in one line.
    """

    def __init__(
        self, detector: Any, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB, top_k: int = TOP_K
    ) -> None:
        self.detector = detector
        self.max_upload_mb = max_upload_mb
        self.top_k = top_k
        self.banners = model_warnings(detector)
        self.random_model = bool(self.banners)
        self.work_dir = Path(tempfile.mkdtemp(prefix="shuttlesense-web-"))
        atexit.register(shutil.rmtree, self.work_dir, ignore_errors=True)

    def _checked(self, video: str | Path | None) -> Path:
        try:
            return check_video_upload(video, self.max_upload_mb)
        except UploadError as err:
            raise gr.Error(str(err), title="Not a usable video", print_exception=False) from err

    def _failure(self, path: Path, what: str, err: Exception) -> gr.Error:
        """A gr.Error for a failed analysis, without server paths in the message."""
        if isinstance(err, ValueError | OSError | TypeError):
            logger.warning("%s failed for %s: %s", what, path, err)
            message = str(err).replace(str(path), path.name)
        else:
            logger.exception("%s failed for %s", what, path)
            message = f"unexpected {type(err).__name__} (details in the server log)"
        return gr.Error(f"{what} failed for “{path.name}”: {message}", print_exception=False)

    def classify_clip(self, video: str | None, use_ensemble: bool = True) -> tuple[str, dict[str, float]]:
        """Clip view: (headline markdown, chart value) for one uploaded stroke clip."""
        path = self._checked(video)
        try:
            result = self.detector.recognize_clip(path, use_ensemble=use_ensemble, top_k=self.top_k)
        except Exception as err:
            raise self._failure(path, "Stroke recognition", err) from err
        logger.info("Clip %s: %s (%.3f)", path.name, result["predicted_action"], result["confidence"])
        return clip_markdown(result, self.random_model), chart_value(result)

    def _run_dir(self) -> Path:
        """A fresh folder for one rally's outputs; only the newest `KEEP_RUNS` are kept."""
        runs = sorted(self.work_dir.glob("run-*"), key=lambda p: p.stat().st_mtime)
        for old in runs[: max(0, len(runs) - KEEP_RUNS + 1)]:
            shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(prefix="run-", dir=self.work_dir))

    def analyze_rally(
        self, video: str | None, use_ensemble: bool = True, progress: Any = gr.Progress(track_tqdm=True)
    ) -> tuple[str, str, pd.DataFrame, str]:
        """Rally view: (summary markdown, timeline PNG, segments table, JSON report path)."""
        from shuttlesense.rally.timeline import plot_timeline

        path = self._checked(video)
        progress(0.05, desc="Detecting hits")
        start = time.perf_counter()

        def recognised(done: int, total: int) -> None:
            progress(0.1 + 0.85 * done / max(total, 1), desc=f"Recognising strokes: {done} of {total}")

        try:
            report = self.detector.process_video_with_action_recognition(
                path, use_ensemble=use_ensemble, progress=recognised
            )
        except Exception as err:
            raise self._failure(path, "Rally analysis", err) from err
        report["video"] = path.name  # the server's upload path means nothing to the user
        report["models"] = {role: name and public_name(name) for role, name in report["models"].items()}
        progress(0.95, desc="Drawing the timeline")
        out = self._run_dir()
        timeline = plot_timeline(report, out / f"{path.stem}_timeline.png")
        report_path = out / f"{path.stem}_report.json"
        report_path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        logger.info(
            "Rally %s: %d hits, %d segments in %.1f s",
            path.name,
            report["total_hits"],
            report["total_segments"],
            time.perf_counter() - start,
        )
        return (
            rally_markdown(report, self.random_model),
            str(timeline),
            segments_frame(report),
            str(report_path),
        )


def _banner_html(text: str) -> str:
    style = (
        "background:#b91c1c;color:#fff;padding:12px 16px;border-radius:8px;"
        "font-weight:600;font-size:1.05em;line-height:1.4"
    )
    return f'<div class="shuttlesense-banner" role="alert" style="{style}">{text}</div>'


def build_app(
    detector: Any,
    *,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    top_k: int = TOP_K,
    title: str = "ShuttleSense",
) -> gr.Blocks:
    """The two-tab Gradio app (stroke clip, rally) around an already-loaded detector.

    `detector` is a `QwenVLEnhancedDetector` (anything with its `recognize_clip`,
    `process_video_with_action_recognition`, `config`, `qwen_vl`, `videomae` and `notes`).
    Launch with `max_file_size` set (`shuttlesense serve` does) so large uploads stop at the server.
    """
    handlers = WebHandlers(detector, max_upload_mb=max_upload_mb, top_k=top_k)
    has_ensemble = (
        getattr(detector, "videomae", None) is not None and getattr(detector, "qwen_vl", None) is not None
    )
    ensemble_default = bool(detector.config.qwen_vl.use_ensemble) if has_ensemble else False
    extensions = sorted(VIDEO_EXTENSIONS)
    with gr.Blocks(title=title, analytics_enabled=False, delete_cache=(3600, 24 * 3600)) as app:
        app.handlers = handlers  # for tests and embedding: the plain functions behind the events
        gr.Markdown(f"# {title}: badminton stroke recognition")
        for banner in handlers.banners:
            gr.HTML(_banner_html(banner), elem_id="model-banner")
        with gr.Accordion("Models", open=False):
            gr.Markdown(model_summary(detector))
        with gr.Tab("Stroke clip", id="clip"):
            gr.Markdown(
                f"Upload one stroke clip (hit to next hit, as in VideoBadminton; up to {max_upload_mb:g} MB)."
            )
            with gr.Row():
                with gr.Column():
                    clip_video = gr.Video(
                        label="Stroke clip",
                        sources=["upload"],
                        autoplay=True,
                        loop=True,
                        elem_id="clip-video",
                    )
                    clip_ensemble = gr.Checkbox(
                        value=ensemble_default, label="Ensemble with VideoMAE", visible=has_ensemble
                    )
                    clip_button = gr.Button("Recognise stroke", variant="primary")
                with gr.Column():
                    clip_result = gr.Markdown(elem_id="clip-prediction")
                    clip_chart = gr.Label(
                        label="Top classes (probability)",
                        num_top_classes=top_k,
                        show_heading=False,
                        elem_id="clip-chart",
                    )
        with gr.Tab("Rally / match", id="rally"):
            gr.Markdown(
                "Upload a rally or a whole match: hits are found (the crack of each hit in the sound, or the "
                "shuttle's turns without sound), grouped into rallies, and every stroke is named with the "
                "player who hit it (A and B as in VideoBadminton). A long match shows its progress here."
            )
            with gr.Row():
                with gr.Column(scale=1):
                    rally_video = gr.Video(label="Rally or match", sources=["upload"], elem_id="rally-video")
                    rally_ensemble = gr.Checkbox(
                        value=ensemble_default, label="Ensemble with VideoMAE", visible=has_ensemble
                    )
                    rally_button = gr.Button("Analyse", variant="primary")
                with gr.Column(scale=2):
                    rally_summary = gr.Markdown(elem_id="rally-summary")
                    rally_timeline = gr.Image(
                        label="Timeline", show_label=False, type="filepath", elem_id="rally-timeline"
                    )
            rally_table = gr.Dataframe(
                headers=SEGMENT_COLUMNS,
                label="Segments",
                interactive=False,
                wrap=True,
                elem_id="rally-segments",
            )
            rally_report = gr.File(label="JSON report", elem_id="rally-report")
        gr.Markdown(f"Accepted videos: {', '.join(extensions)}.")

        clip_inputs, clip_outputs = [clip_video, clip_ensemble], [clip_result, clip_chart]
        # a clip is classified as soon as it is uploaded; the button re-runs it (e.g. ensemble toggled)
        clip_video.upload(
            handlers.classify_clip, clip_inputs, clip_outputs, api_name=False, concurrency_id="model"
        )
        clip_button.click(
            handlers.classify_clip,
            clip_inputs,
            clip_outputs,
            api_name="classify_clip",
            concurrency_id="model",
        )
        clip_video.clear(lambda: ("", None), None, clip_outputs, api_name=False)
        rally_button.click(
            handlers.analyze_rally,
            [rally_video, rally_ensemble],
            [rally_summary, rally_timeline, rally_table, rally_report],
            api_name="analyze_rally",
            concurrency_id="model",
        )
    app.queue(default_concurrency_limit=1)
    return app
