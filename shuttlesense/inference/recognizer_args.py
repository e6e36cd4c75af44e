"""The options every command that loads a `QwenVLActionRecognizer` shares (predict, evaluate).

Kept apart from `recognizer.py` so `--help` and argument errors never wait for torch to import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shuttlesense import labels


def check_sampling_overrides(num_frames: int | None, max_pixels: int | None, prefix: str) -> None:
    """Frame count and pixel budget, when given, are at least 1 (0 must not mean "the default").

    `prefix` "--" names command-line options (`--num-frames`), anything else config keys.
    """
    for name, value in (("num_frames", num_frames), ("max_pixels", max_pixels)):
        if value is not None and value < 1:
            option = f"--{name.replace('_', '-')}" if prefix == "--" else f"{prefix}{name}"
            raise ValueError(f"{option} must be at least 1 (or left unset); got {value}.")


@dataclass(kw_only=True)
class RecognizerArguments:
    """Which model to load and how clips are sampled for it (use what the model was trained with)."""

    model_path: str = field(metadata={"help": "Adapter folder, full (merged) model folder or Hub id."})
    base_model: str | None = field(
        default=None,
        metadata={"help": "Base model for an adapter, if not the one named in its adapter_config.json."},
    )
    language: str | None = field(
        default=None,
        metadata={
            "help": "Prompt and answer language the model was trained with (default: from its "
            "training_config.json, else zh).",
            "choices": list(labels.LANGUAGES),
        },
    )
    num_frames: int | None = field(
        default=None,
        metadata={"help": "Frames sampled uniformly from each clip (default: as trained, else 16)."},
    )
    max_pixels: int | None = field(
        default=None,
        metadata={
            "help": "Pixel budget per frame (width x height), applied in the decoder (default: as trained, "
            "else 200704 = 448x448)."
        },
    )
    device: str | None = field(
        default=None, metadata={"help": "Device (cuda, cuda:1, cpu); default: best available."}
    )
    dtype: str | None = field(
        default=None,
        metadata={"help": "bfloat16, float16, float32 or auto; default: bf16/fp16 on GPU, fp32 on CPU."},
    )
    calibration: str | None = field(
        default=None,
        metadata={
            "help": "calibration.json from `evaluate --calibrate`: its temperature makes confidences "
            "calibrated (default: the model's own calibration.json, if any)."
        },
    )

    def __post_init__(self) -> None:
        check_sampling_overrides(self.num_frames, self.max_pixels, "--")
        if self.calibration is not None:  # a missing or broken file: said before the model loads
            from shuttlesense.inference.calibration import read_calibration

            read_calibration(self.calibration)

    def build_recognizer(self, **extra: Any):
        """The `QwenVLActionRecognizer` these options describe (`extra`: e.g. mode)."""
        return build_recognizer(self, **extra)


RECOGNIZER_OPTIONS = (
    "model_path", "base_model", "language", "num_frames", "max_pixels", "device", "dtype", "calibration"
)  # fmt: skip


def build_recognizer(options: Any, **extra: Any):
    """The `QwenVLActionRecognizer` that `options` describe: anything with the `RECOGNIZER_OPTIONS`
    attributes (`RecognizerArguments`, the pipeline config's `qwen_vl` section). Under
    `accelerate launch` each process takes its own device unless one is named."""
    from shuttlesense.inference.processes import process_state
    from shuttlesense.inference.recognizer import QwenVLActionRecognizer

    given = {name: getattr(options, name) for name in RECOGNIZER_OPTIONS}
    state = process_state()
    if given["device"] is None and state.num_processes > 1:
        given["device"] = str(state.device)
    return QwenVLActionRecognizer(given.pop("model_path"), **given, **extra)


@dataclass(kw_only=True)
class ThroughputArguments:
    """How many clips at once (predict --video-dir, evaluate): decoded ahead, scored in batches.

    Neither changes a prediction: workers decode the same frames, and a batch gives the scores
    of one clip at a time.
    """

    batch_size: int = field(
        default=1,
        metadata={
            "help": "Clips scored together: one prefill per batch, then every candidate of every clip in "
            "one forward (clips of one frame count and size; the same scores as one at a time)."
        },
    )
    num_workers: int | None = field(
        default=None,
        metadata={
            "help": "Processes decoding clips while the model scores (0: decode and score in turn; "
            "default: on a GPU the cores shared among the processes, at most 8 each; on the CPU 0, "
            "since a real model needs every core. A model on the CPU runs on the cores the workers "
            "leave, at least one)."
        },
    )

    def __post_init__(self) -> None:
        if (checks := getattr(super(), "__post_init__", None)) is not None:  # the other option groups
            checks()
        if self.num_workers is not None and self.num_workers < 0:
            raise ValueError(f"--num-workers must be >= 0; got {self.num_workers}.")
        if self.batch_size < 1:
            raise ValueError(f"--batch-size must be at least 1; got {self.batch_size}.")
