"""`VideoMAEActionRecognizer`: the stroke in a clip from a VideoMAE video classifier fine-tuned on our 18 classes.

The second opinion next to the Qwen-VL recogniser (and its ensemble partner): one forward pass of a
video classifier, probabilities straight from its softmax. It returns the same result shape
(`shuttlesense.inference.results`) and reads clips the same way (decord, uniform sampling, pixel budget),
so callers can swap one recogniser for the other.

The model's `id2label` is matched to our class ids by name, so a checkpoint whose head lists the
18 strokes in any order works, and one trained on other labels (Kinetics) is refused up front.
torch and transformers are imported when a recogniser is built, so importing this module is cheap.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from shuttlesense import labels
from shuttlesense.data.loading import FixedFrameSampling, load_video
from shuttlesense.data.video_io import DecodedClip, FrameGrid, sample_indices
from shuttlesense.inference.results import error_result, result_from_probabilities
from shuttlesense.paths import checked_model_config, looks_local

logger = logging.getLogger(__name__)

MODEL_NAME = "videomae"
"""Value of the `model` field in every result."""
SUPPORTED_MODEL_TYPES = ("videomae",)
_RECOVERABLE = (ValueError, OSError, TypeError)


def resolve_model_path(model_path: str | Path) -> str:
    """A local folder (user-expanded) or a Hub id; a missing local path fails at once, not on the Hub."""
    name = str(model_path)
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{name} has no config.json: it is not a saved model folder.")
        return str(path)
    if looks_local(name):
        raise FileNotFoundError(f"Model path not found: {name}")
    return name


def check_video_classifier(model_path: str, revision: str = "main") -> Any:
    """The checkpoint's config; a clear ValueError before any weights load if it is not a VideoMAE."""
    requirement = (
        ", not a VideoMAE video classifier (e.g. MCG-NJU/videomae-base-finetuned-kinetics fine-tuned "
        "with recipes/videomae.py)."
    )
    return checked_model_config(model_path, SUPPORTED_MODEL_TYPES, requirement, revision)


def class_ids_of(id2label: Mapping[Any, str]) -> list[int] | None:
    """Our class id for each model output index, or None unless the labels are exactly our 18 classes.

    Names are matched with `labels.by_name` (English in any case, or Chinese), so the order of the
    head does not matter.
    """
    if len(id2label) != labels.NUM_CLASSES:
        return None
    try:
        ids = [labels.by_name(str(id2label[key])).id for key in sorted(id2label, key=int)]
    except KeyError:
        return None
    return ids if sorted(ids) == list(range(labels.NUM_CLASSES)) else None


def require_stroke_labels(config: Any, model_path: str) -> list[int]:
    """`class_ids_of` for a model that must already classify the 18 strokes; ValueError naming the path."""
    id2label = getattr(config, "id2label", None) or {}
    ids = class_ids_of(id2label)
    if ids is None:
        shown = list(id2label.values())
        shown = shown[:8] + (["..."] if len(shown) > 8 else [])
        raise ValueError(
            f"{model_path} is not a badminton stroke classifier: its {len(id2label)} labels {shown} are not "
            f"the 18 VideoBadminton classes {labels.CLASS_NAMES_EN}. Fine-tune it first with "
            "recipes/videomae.py (which replaces the head)."
        )
    return ids


def _size_value(size: Any, key: str) -> int | None:
    """One entry of an image processor's `size`/`crop_size` (a dict or a transformers SizeDict)."""
    if size is None:
        return None
    value = size.get(key) if isinstance(size, Mapping) else getattr(size, key, None)
    return int(value) if value else None


def default_max_pixels(image_processor: Any) -> int:
    """Decode-time pixel budget: enough that the processor's resize/crop never has to upscale.

    Twice the square of the processor's target side keeps the short side at or above it for
    aspect ratios up to 2:1 (4:3 and 16:9 clips), while a 1280x960 clip decodes at about 364x252
    instead of full size. Training and inference both use this rule unless max_pixels is set.
    """
    sides = [
        _size_value(getattr(image_processor, "size", None), key)
        for key in ("shortest_edge", "height", "width")
    ]
    sides += [_size_value(getattr(image_processor, "crop_size", None), key) for key in ("height", "width")]
    side = max((s for s in sides if s), default=224)
    return 2 * side * side


def _resample(clip: DecodedClip, num_frames: int) -> DecodedClip:
    """`clip` with exactly `num_frames` frames, picked uniformly from the ones it has."""
    if len(clip.frames) == num_frames:
        return clip
    picks = sample_indices(len(clip.frames), num_frames)
    indices = [clip.indices[i] for i in picks] if len(clip.indices) == len(clip.frames) else picks
    return DecodedClip(np.ascontiguousarray(clip.frames[picks]), indices, clip.fps, clip.total_frames)


class VideoMAEActionRecognizer:
    """Recognise the badminton stroke in a clip with a VideoMAE classifier over the 18 classes.

    `model_path`: a local folder or a Hub id (same code path), e.g. the output of
    `recipes/videomae.py`. Clips get exactly the model's `config.num_frames` frames, sampled
    uniformly and decoded within `max_pixels` (default: `default_max_pixels(processor)`, the rule
    the training recipe uses), then the checkpoint's own image processor.
    """

    def __init__(
        self,
        model_path: str | Path,
        device: str | None = None,
        dtype: Any = None,
        *,
        max_pixels: int | None = None,
    ) -> None:
        import torch
        from transformers import AutoImageProcessor, AutoModelForVideoClassification

        from shuttlesense.inference.recognizer import resolve_device_dtype

        self.model_path = str(model_path)
        path = resolve_model_path(model_path)
        config = check_video_classifier(path)
        self.class_ids = require_stroke_labels(config, self.model_path)
        self._model_index = np.argsort(self.class_ids)  # class id -> output index
        self.device, dtype = resolve_device_dtype(device, dtype)
        self.model = AutoModelForVideoClassification.from_pretrained(
            path, dtype=dtype, device_map=self.device
        )
        self.model.eval()
        self.dtype: torch.dtype = self.model.dtype
        self.processor = AutoImageProcessor.from_pretrained(path)
        self.num_frames = int(config.num_frames)
        self.max_pixels = int(max_pixels) if max_pixels else default_max_pixels(self.processor)
        self.sampling = FixedFrameSampling(num_frames=self.num_frames, max_pixels=self.max_pixels)
        self.grid = FrameGrid()  # the image processor resizes anyway: any size is fine
        logger.info(
            "Loaded VideoMAE %s on %s (%s): %d frames, pixel budget %d.",
            self.model_path,
            self.device,
            self.dtype,
            self.num_frames,
            self.max_pixels,
        )

    def load_clip(self, video: Any, fps: float | None = None) -> DecodedClip:
        """`num_frames` frames from a path, bytes, a `DecodedClip` or a (T, H, W, 3) uint8 frame array.

        A frame array is treated as the whole clip (at `fps`, default 24, for the record): frames are
        sampled and scaled with the same rules as files, so an array of a file's frames gives the
        same clip. A `DecodedClip` is used as decoded, re-sampled only if its frame count differs.
        """
        if isinstance(video, DecodedClip):
            return _resample(video, self.num_frames)
        return load_video(video, self.sampling, fps, self.grid)

    def class_probabilities(self, clips: list[DecodedClip]) -> np.ndarray:
        """Softmax over the 18 classes for each clip, (len(clips), 18) float64 in class-id order."""
        import torch

        inputs = self.processor([clip.frames for clip in clips], return_tensors="pt")
        pixel_values = inputs["pixel_values"].to(self.model.device, self.dtype)
        with torch.inference_mode():
            logits = self.model(pixel_values=pixel_values).logits
        probs = torch.softmax(logits.double(), dim=-1).cpu().numpy()
        return probs[:, self._model_index]

    def recognize_action(self, video: Any, top_k: int = 5, fps: float | None = None) -> dict[str, Any]:
        """Classify one clip: predicted class (English and Chinese), confidence, all 18 probabilities."""
        start = time.perf_counter()
        clip = self.load_clip(video, fps)
        decoded = time.perf_counter()
        probs = self.class_probabilities([clip])[0]
        done = time.perf_counter()
        timing = {"decode_s": decoded - start, "model_s": done - decoded, "total_s": done - start}
        return {**result_from_probabilities(probs, top_k), "timing": timing, "model": MODEL_NAME}

    def recognize_actions(
        self, videos: Iterable[Any], batch_size: int = 8, top_k: int = 5, errors: str = "raise"
    ) -> list[dict[str, Any]]:
        """Classify many clips, in order, `batch_size` per forward pass.

        `errors="record"` returns {"error": ..., "error_type": ...} for a clip that cannot be read
        instead of raising. A clip's `model_s` is its share of its batch's forward pass.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1; got {batch_size}.")
        if errors not in ("raise", "record"):
            raise ValueError("errors must be 'raise' or 'record'.")
        results: list[dict[str, Any] | None] = []
        pending: list[tuple[int, DecodedClip, float]] = []  # (result index, clip, decode seconds)
        for video in videos:
            start = time.perf_counter()
            try:
                clip = self.load_clip(video)
            except _RECOVERABLE as err:
                if errors == "raise":
                    raise
                results.append(error_result(err))
                continue
            pending.append((len(results), clip, time.perf_counter() - start))
            results.append(None)
            if len(pending) == batch_size:
                self._run_batch(pending, results, top_k)
        if pending:
            self._run_batch(pending, results, top_k)
        return [r for r in results if r is not None]

    def _run_batch(
        self, pending: list[tuple[int, DecodedClip, float]], results: list[dict[str, Any] | None], top_k: int
    ) -> None:
        start = time.perf_counter()
        probs = self.class_probabilities([clip for _, clip, _ in pending])
        model_s = (time.perf_counter() - start) / len(pending)
        for (index, _, decode_s), row in zip(pending, probs, strict=True):
            timing = {"decode_s": decode_s, "model_s": model_s, "total_s": decode_s + model_s}
            results[index] = {**result_from_probabilities(row, top_k), "timing": timing, "model": MODEL_NAME}
        pending.clear()
