"""`QwenVLActionRecognizer`: one clip in, the stroke and calibrated probabilities over all 18 classes out.

The recognizer loads a LoRA adapter (on the base named in its `adapter_config.json`, or an explicit
`base_model`) or a full/merged Qwen-VL model, then classifies by scoring every class name as the
assistant's answer (`shuttlesense.inference.scoring`): the answer is always one of the 18 classes, and the
softmax over the 18 log-likelihoods gives probabilities usable for thresholds and ensembles.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from shuttlesense import labels
from shuttlesense.data.loading import FrameSampling, load_video
from shuttlesense.data.video_io import DecodedClip
from shuttlesense.inference.calibration import resolve_calibration
from shuttlesense.inference.conversation import answer_token_ids, frame_grid
from shuttlesense.inference.model_source import ModelSource, resolve_model_source
from shuttlesense.inference.results import error_result, result_from_probabilities
from shuttlesense.inference.scoring import (
    EncodedClip,
    PromptEncoder,
    generate_answer,
    naive_scores,
    score_candidates,
    score_clips,
)
from shuttlesense.inference.trained_settings import (
    DEFAULT_LANGUAGE,
    DEFAULT_MAX_PIXELS,
    DEFAULT_NUM_FRAMES,
    read_training_config,
    trained_class_names,
    trained_settings,
)

logger = logging.getLogger(__name__)

MODES = ("score", "naive", "generate")
"""score: shared-prefix scoring (default); naive: 18 full forwards (reference); generate: greedy text."""
_DTYPE_ALIASES = {
    "bf16": "bfloat16",
    "fp16": "float16",
    "half": "float16",
    "fp32": "float32",
    "float": "float32",
}


def resolve_device_dtype(
    device: str | None, dtype: str | torch.dtype | None
) -> tuple[str, torch.dtype | str]:
    """Best device by default; bf16 (else fp16) on GPU, fp32 on CPU where half precision is slow."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(dtype, torch.dtype) or dtype == "auto":
        return device, dtype
    if dtype is None:
        if device.startswith("cuda"):
            # Native bf16 only: T4/V100 report bf16 "supported" through slow emulation.
            native_bf16 = torch.cuda.is_bf16_supported(including_emulation=False)
            return device, torch.bfloat16 if native_bf16 else torch.float16
        return device, torch.float32
    resolved = getattr(torch, _DTYPE_ALIASES.get(dtype, dtype), None)
    if not isinstance(resolved, torch.dtype):
        raise ValueError(f"Unknown dtype {dtype!r}; use bfloat16, float16, float32 or auto.")
    return device, resolved


def load_model(
    source: ModelSource,
    device: str = "cpu",
    dtype: torch.dtype | str = torch.float32,
    attn_implementation: str = "sdpa",
    merge_lora: bool = True,
) -> tuple[torch.nn.Module, Any]:
    """Base model (+ adapter, merged unless `merge_lora=False`) in eval mode, and its processor."""
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText, AutoProcessor

    # device_map loads the weights straight onto the device (no full copy in CPU memory first)
    model = AutoModelForImageTextToText.from_pretrained(
        source.base_model, dtype=dtype, attn_implementation=attn_implementation, device_map=device
    )
    if source.adapter is not None:
        model = PeftModel.from_pretrained(model, source.adapter)
        if merge_lora:  # plain weights afterwards: no LoRA matmuls at inference
            model = model.merge_and_unload()
    processor = AutoProcessor.from_pretrained(source.processor_path)
    return model.to(device).eval(), processor


class QwenVLActionRecognizer:
    """Recognise the badminton stroke in a clip with a (LoRA-tuned) Qwen2-VL / Qwen2.5-VL / Qwen3-VL.

    `model_path`: adapter folder or Hub id (base from its adapter config, or `base_model`), or a
    full/merged model. `language`, `num_frames` and `max_pixels` default to what the model was
    trained with (its `training_config.json`), else zh / 16 / 448x448; a model answers well only
    with its training prompt and sampling. The 18 scored answers are the class names it was trained
    on (`class_names`: recorded in that file; earlier spellings for older adapters). `mode`: "score" (shared-prefix scoring, default), "naive" (the same scores the slow way)
    or "generate" (greedy text matched to a class name, for comparison; one-hot probabilities).
    `calibration`: a `calibration.json` whose temperature divides the log-likelihoods before the
    softmax (default: the model's own `calibration.json`, if it has one).
    """

    def __init__(
        self,
        model_path: str,
        base_model: str | None = None,
        device: str | None = None,
        dtype: str | torch.dtype | None = None,
        language: str | None = None,
        num_frames: int | None = None,
        max_pixels: int | None = None,
        mode: str = "score",
        *,
        sampling: FrameSampling | None = None,
        attn_implementation: str = "sdpa",
        merge_lora: bool = True,
        calibration: str | Path | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"Unknown mode {mode!r}; choose one of {MODES}.")
        if mode != "generate" and attn_implementation.startswith("flash"):
            raise ValueError(
                "Label scoring needs a 4-D attention mask: use attn_implementation sdpa or eager."
            )
        self.model_path, self.mode = str(model_path), mode
        record = read_training_config(self.model_path)
        trained = trained_settings(record)
        self.language = language or trained.get("language", DEFAULT_LANGUAGE)
        labels.prompt(self.language)  # unknown language: fail before loading anything
        if sampling is None:
            sampling = FrameSampling(
                **{k: v for k, v in trained.items() if k in ("fps", "min_frames", "max_frames")},
                num_frames=num_frames
                if num_frames is not None
                else trained.get("num_frames", DEFAULT_NUM_FRAMES),
                max_pixels=max_pixels
                if max_pixels is not None
                else trained.get("max_pixels", DEFAULT_MAX_PIXELS),
            )
            if num_frames is not None:  # an explicit frame count wins over the trained fps sampling
                sampling.fps = None
        self.sampling = sampling
        self.source = resolve_model_source(self.model_path, base_model)
        self.calibration = resolve_calibration(self.model_path, calibration) if mode != "generate" else None
        self.base_model = self.source.base_model
        self.device, self.dtype = resolve_device_dtype(device, dtype)
        self.model, self.processor = load_model(
            self.source, self.device, self.dtype, attn_implementation, merge_lora
        )
        self.grid = frame_grid(self.processor)  # decode straight to sizes the processor keeps
        self.class_names = trained_class_names(record, self.language, self.model_path)
        self.candidates = [answer_token_ids(self.processor, self.language, name) for name in self.class_names]
        # What decode workers may do for this recogniser before the model sees a clip (score mode).
        pixel_dtype = next(self.model.parameters()).dtype  # what `encode_prompt` casts to
        self.prompt_encoder = (
            PromptEncoder(self.processor, self.language, pixel_dtype) if mode == "score" else None
        )
        logger.info(
            "Loaded %s%s on %s (%s), mode %s; language %s, %s frames, max_pixels %d%s.",
            self.source.adapter or self.source.base_model,
            f" on base {self.base_model}" if self.source.adapter else "",
            self.device,
            self.dtype,
            mode,
            self.language,
            f"{self.sampling.fps} fps" if self.sampling.fps else self.sampling.num_frames,
            self.sampling.max_pixels,
            " (as in its training_config.json)" if trained else "",
        )

    def load_clip(self, video: Any, fps: float | None = None) -> DecodedClip | EncodedClip:
        """Frames + metadata from a path, bytes, a `DecodedClip` or a (T, H, W, 3) uint8 frame array
        (an `EncodedClip`, from `prompt_encoder`, is passed through).

        A frame array is treated as the whole clip at `fps` (default 24): frames are sampled and
        scaled with the same rules as files, so an array of a file's frames gives the same clip.
        """
        if isinstance(video, EncodedClip) and self.mode != "score":
            raise TypeError(f"An EncodedClip can only be scored (mode 'score'), not in mode {self.mode!r}.")
        if isinstance(video, DecodedClip | EncodedClip):
            return video
        return load_video(video, self.sampling, fps, self.grid)

    def class_log_likelihoods(self, clip: DecodedClip | EncodedClip) -> torch.Tensor:
        """Sum log-prob of each class name (+ end of turn) as the answer, in class-id order."""
        if self.mode == "naive":
            return naive_scores(self.model, self.processor, clip, self.candidates, self.language)
        return score_candidates(self.model, self.processor, clip, self.candidates, self.language)

    def recognize_action(self, video: Any, top_k: int = 5, fps: float | None = None) -> dict[str, Any]:
        """Classify one clip: predicted class (English and Chinese), confidence, all 18 probabilities.

        `fps` applies to frame-array inputs only. In "generate" mode the result also has
        `generated_text` and `matched`; text that names no class gives uniform probabilities and
        `predicted_action` None.
        """
        start = time.perf_counter()
        clip = self.load_clip(video, fps)
        decoded = time.perf_counter()
        if self.mode == "generate":
            result = self._generated_result(
                generate_answer(self.model, self.processor, clip, self.language), top_k
            )
        else:
            result = self._scored_result(self.class_log_likelihoods(clip), top_k)
        done = time.perf_counter()
        timing = {"decode_s": decoded - start, "model_s": done - decoded, "total_s": done - start}
        return {**result, "timing": timing, "mode": self.mode}

    def _scored_result(self, log_likelihoods: torch.Tensor, top_k: int) -> dict[str, Any]:
        """The result of 18 log-likelihoods: softmax (over the calibration temperature, if any)."""
        log_likelihoods = log_likelihoods.double()
        temperature = self.calibration.temperature if self.calibration else 1.0
        result = result_from_probabilities(torch.softmax(log_likelihoods / temperature, dim=0), top_k)
        result["log_likelihoods"] = dict(zip(labels.CLASS_NAMES_EN, log_likelihoods.tolist(), strict=True))
        result["temperature"] = temperature
        return result

    def _generated_result(self, text: str, top_k: int) -> dict[str, Any]:
        """One-hot probabilities on the class the generated text names; uniform if it names none."""
        try:
            class_id = labels.by_name(text).id
        except KeyError:
            logger.warning("Generated answer %r is not a class name.", text)
            uniform = torch.full((labels.NUM_CLASSES,), 1.0 / labels.NUM_CLASSES, dtype=torch.float64)
            result = result_from_probabilities(uniform, top_k)
            result.update(predicted_action=None, predicted_action_zh=None, class_id=None, confidence=0.0)
            return {**result, "generated_text": text, "matched": False}
        one_hot = torch.nn.functional.one_hot(torch.tensor(class_id), labels.NUM_CLASSES).double()
        return {**result_from_probabilities(one_hot, top_k), "generated_text": text, "matched": True}

    def recognize_actions(
        self, videos: Iterable[Any], batch_size: int = 1, top_k: int = 5, errors: str = "raise"
    ) -> list[dict[str, Any]]:
        """Classify many clips, in order. `errors="record"` returns {"error": ...} for a bad clip.

        In "score" mode clips go `batch_size` at a time: those whose prompts have one length (same
        frame count and size) share one prefill and one packed forward over every candidate
        (`score_clips`), with the log-likelihoods of one clip at a time. A clip's `model_s` is its
        share of its batch. Other modes run clip by clip.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1; got {batch_size}.")
        if errors not in ("raise", "record"):
            raise ValueError("errors must be 'raise' or 'record'.")
        results: list[dict[str, Any]] = []
        pending: list[tuple[int, Any, float]] = []  # (result index, clip, decode seconds)
        for video in videos:
            start = time.perf_counter()
            try:
                if self.mode != "score" or batch_size == 1:
                    results.append(self.recognize_action(video, top_k=top_k))
                    continue
                pending.append((len(results), self.load_clip(video), time.perf_counter() - start))
                results.append({})
            except (ValueError, OSError, TypeError) as err:
                if errors == "raise":
                    raise
                results.append(error_result(err))
            if len(pending) == batch_size:
                self._score_pending(pending, results, top_k)
        if pending:
            self._score_pending(pending, results, top_k)
        return results

    def _score_pending(
        self, pending: list[tuple[int, Any, float]], results: list[dict[str, Any]], top_k: int
    ) -> None:
        start = time.perf_counter()
        clips = [clip for _, clip, _ in pending]
        scores = score_clips(self.model, self.processor, clips, self.candidates, self.language, len(clips))
        model_s = (time.perf_counter() - start) / len(pending)
        for (index, _, decode_s), row in zip(pending, scores, strict=True):
            timing = {"decode_s": decode_s, "model_s": model_s, "total_s": decode_s + model_s}
            results[index] = {**self._scored_result(row, top_k), "timing": timing, "mode": self.mode}
        pending.clear()
