"""`QwenVLActionRecognizer`: one clip in, the stroke and calibrated probabilities over all 18 classes out.

The recognizer loads a LoRA adapter (on the base named in its `adapter_config.json`, or an explicit
`base_model`) or a full/merged Qwen-VL model, then classifies by scoring every class name as the
assistant's answer (`shuttlesense.scoring`): the answer is always one of the 18 classes, and the
softmax over the 18 log-likelihoods gives probabilities usable for thresholds and ensembles.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from shuttlesense import labels
from shuttlesense.conversation import answer_token_ids
from shuttlesense.data import FrameSampling, load_video
from shuttlesense.paths import looks_local
from shuttlesense.results import error_result, result_from_probabilities
from shuttlesense.scoring import generate_answer, naive_scores, score_candidates
from shuttlesense.video_io import (
    DecodedClip,
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
_PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json")


@dataclass(frozen=True)
class ModelSource:
    """Where the weights come from: a base (or full) model, optionally with a LoRA adapter on top."""

    model_path: str
    base_model: str
    adapter: str | None
    processor_path: str


def _adapter_base(adapter: str, base_model: str | None) -> str:
    """The base the adapter names (or the override); a clear error if it is missing or unfindable."""
    base = base_model
    if base is None:
        from peft import PeftConfig

        base = PeftConfig.from_pretrained(adapter).base_model_name_or_path
    if not base:
        raise ValueError(
            f"Adapter {adapter} does not name its base model (no base_model_name_or_path in "
            "adapter_config.json); pass base_model='<folder or Hub id>' (CLI: --base-model)."
        )
    hint = (
        f"Pass the base explicitly: QwenVLActionRecognizer({adapter!r}, base_model='<folder or Hub id>') "
        "or --base-model on the command line."
    )
    origin = "given as base_model" if base_model else "named in its adapter_config.json"
    if looks_local(base) and not Path(base).expanduser().exists():
        raise FileNotFoundError(
            f"Adapter {adapter} needs base model {base!r} ({origin}), but that folder does not exist. {hint}"
        )
    from shuttlesense.model_utils import check_model_type

    try:
        check_model_type(str(Path(base).expanduser()) if looks_local(base) else base)
    except OSError as err:
        raise FileNotFoundError(
            f"Adapter {adapter} needs base model {base!r} ({origin}), which cannot be found locally, in "
            f"the Hugging Face cache or on the Hub ({err}). {hint}"
        ) from err
    return base


def resolve_model_source(model_path: str, base_model: str | None = None) -> ModelSource:
    """Decide whether `model_path` is an adapter (local or Hub) or a full model, and find its base.

    Raises FileNotFoundError for a missing path or an unfindable base, ValueError for a model that
    is not a Qwen-VL (checked from the config, before any weights load).
    """
    from shuttlesense.model_utils import check_model_type

    path = Path(model_path).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"{model_path} is a file; give an adapter folder, a model folder or a Hub id.")
        if (path / "adapter_config.json").is_file():
            base = _adapter_base(str(path), base_model)
            has_processor = any((path / name).is_file() for name in _PROCESSOR_FILES)
            return ModelSource(model_path, base, str(path), str(path) if has_processor else base)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"{model_path} holds neither adapter_config.json (a LoRA adapter) nor config.json (a model)."
            )
        check_model_type(str(path))
        if base_model:
            logger.warning(
                "%s is a full model, not an adapter: ignoring base_model=%s.", model_path, base_model
            )
        return ModelSource(model_path, str(path), None, str(path))
    if looks_local(model_path):
        raise FileNotFoundError(f"Model path not found: {model_path}")
    try:  # a Hub id: adapter repos have adapter_config.json
        from peft import PeftConfig

        PeftConfig.from_pretrained(model_path)
        is_adapter = True
    except (OSError, ValueError):
        is_adapter = False
    if is_adapter:
        base = _adapter_base(model_path, base_model)
        return ModelSource(model_path, base, model_path, model_path)
    check_model_type(model_path)
    return ModelSource(model_path, model_path, None, model_path)


DEFAULT_LANGUAGE, DEFAULT_NUM_FRAMES, DEFAULT_MAX_PIXELS = "zh", 16, 448 * 448
"""Used when neither the caller nor the model's training_config.json says otherwise."""
_TRAINED_KEYS = ("language", "num_frames", "fps", "min_frames", "max_frames", "max_pixels")


def trained_settings(model_path: str) -> dict[str, Any]:
    """Prompt language and frame sampling the model was trained with (its `training_config.json`).

    `recipes/sft_lora.py` writes that file beside the adapter; a model without one (a base model,
    a merged model from elsewhere) gives {}.
    """
    path = Path(model_path).expanduser() / "training_config.json"
    if not path.is_file() and not looks_local(model_path) and not Path(model_path).expanduser().exists():
        try:
            from huggingface_hub import hf_hub_download

            path = Path(hf_hub_download(model_path, "training_config.json"))
        except Exception:  # no such file in the repo, or the Hub unreachable: defaults apply
            return {}
    try:
        script = json.loads(path.read_text(encoding="utf-8")).get("script", {})
    except (OSError, ValueError):
        return {}
    return {key: script[key] for key in _TRAINED_KEYS if script.get(key) is not None}


def resolve_device_dtype(
    device: str | None, dtype: str | torch.dtype | None
) -> tuple[str, torch.dtype | str]:
    """Best device by default; bf16 (else fp16) on GPU, fp32 on CPU where half precision is slow."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(dtype, torch.dtype) or dtype == "auto":
        return device, dtype
    if dtype is None:
        if device.startswith("cuda"):
            return device, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
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
    with its training prompt and sampling. `mode`: "score" (shared-prefix scoring, default), "naive" (the same scores the slow way)
    or "generate" (greedy text matched to a class name, for comparison; one-hot probabilities).
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
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"Unknown mode {mode!r}; choose one of {MODES}.")
        if mode != "generate" and attn_implementation.startswith("flash"):
            raise ValueError(
                "Label scoring needs a 4-D attention mask: use attn_implementation sdpa or eager."
            )
        self.model_path, self.mode = str(model_path), mode
        trained = trained_settings(self.model_path)
        self.language = language or trained.get("language", DEFAULT_LANGUAGE)
        labels.prompt(self.language)  # unknown language: fail before loading anything
        if sampling is None:
            sampling = FrameSampling(
                **{k: v for k, v in trained.items() if k in ("fps", "min_frames", "max_frames")},
                num_frames=num_frames or trained.get("num_frames", DEFAULT_NUM_FRAMES),
                max_pixels=max_pixels or trained.get("max_pixels", DEFAULT_MAX_PIXELS),
            )
            if num_frames:  # an explicit frame count wins over the trained fps sampling
                sampling.fps = None
        self.sampling = sampling
        self.source = resolve_model_source(self.model_path, base_model)
        self.base_model = self.source.base_model
        self.device, self.dtype = resolve_device_dtype(device, dtype)
        self.model, self.processor = load_model(
            self.source, self.device, self.dtype, attn_implementation, merge_lora
        )
        names = labels.class_names(self.language)
        self.candidates = [answer_token_ids(self.processor, self.language, name) for name in names]
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

    def load_clip(self, video: Any, fps: float | None = None) -> DecodedClip:
        """Frames + metadata from a path, bytes, a `DecodedClip` or a (T, H, W, 3) uint8 frame array.

        A frame array is treated as the whole clip at `fps` (default 24): frames are sampled and
        scaled with the same rules as files, so an array of a file's frames gives the same clip.
        """
        return video if isinstance(video, DecodedClip) else load_video(video, self.sampling, fps)

    def class_log_likelihoods(self, clip: DecodedClip) -> torch.Tensor:
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
            log_likelihoods = self.class_log_likelihoods(clip).double()
            result = result_from_probabilities(torch.softmax(log_likelihoods, dim=0), top_k)
            result["log_likelihoods"] = dict(
                zip(labels.CLASS_NAMES_EN, log_likelihoods.tolist(), strict=True)
            )
        done = time.perf_counter()
        timing = {"decode_s": decoded - start, "model_s": done - decoded, "total_s": done - start}
        return {**result, "timing": timing, "mode": self.mode}

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

        Clips run one at a time whatever `batch_size`: shared-prefix scoring already costs about one
        prefill per clip, and batching clips of different lengths needs padded prefixes with per-row
        rope deltas for little gain (none on CPU). `batch_size` is kept for API compatibility.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1; got {batch_size}.")
        if errors not in ("raise", "record"):
            raise ValueError("errors must be 'raise' or 'record'.")
        results = []
        for video in videos:
            try:
                results.append(self.recognize_action(video, top_k=top_k))
            except (ValueError, OSError, TypeError) as err:
                if errors == "raise":
                    raise
                results.append(error_result(err))
        return results
