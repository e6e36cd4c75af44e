"""The rally pipeline's `config.yaml`: which models run, how they are combined, how hits are found.

Why dataclasses under a YAML file: the seed's users already have a `config.yaml` with a `qwen_vl`
section (`enabled`, `model_path`, `use_ensemble`, `confidence_threshold`); the other sections
(VideoMAE, ensemble weights, hit detection, segmentation, players) are optional. A missing section falls
back to its defaults with a warning naming it; an unknown key is an error naming the file, so
a typo never silently changes a run.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_type_hints

import yaml

from shuttlesense import labels
from shuttlesense.inference.calibration import read_calibration
from shuttlesense.inference.recognizer_args import RECOGNIZER_OPTIONS, check_sampling_overrides
from shuttlesense.rally.ensemble import check_weights
from shuttlesense.rally.hits import HitDetectionConfig, Method
from shuttlesense.rally.players import PlayerConfig
from shuttlesense.rally.segments import SegmentConfig

logger = logging.getLogger(__name__)


@dataclass
class QwenVLSection:
    """The Qwen-VL recogniser (LoRA adapter or merged model) and when its answer stands alone."""

    enabled: bool = field(default=True, metadata={"help": "Run the Qwen-VL recogniser."})
    model_path: str | None = field(
        default=None, metadata={"help": "Adapter folder, merged model folder or Hub id."}
    )
    base_model: str | None = field(
        default=None, metadata={"help": "Base model for an adapter, if not the one in its adapter_config."}
    )
    language: str | None = field(
        default=None,
        metadata={"help": "Prompt/answer language; null: as trained (training_config.json), else zh."},
    )
    num_frames: int | None = field(
        default=None, metadata={"help": "Frames per stroke clip; null: as trained, else 16."}
    )
    max_pixels: int | None = field(
        default=None, metadata={"help": "Pixel budget per frame; null: as trained, else 448x448."}
    )
    use_ensemble: bool = field(
        default=True, metadata={"help": "Combine with VideoMAE when Qwen-VL is unsure (needs videomae)."}
    )
    confidence_threshold: float = field(
        default=0.7,
        metadata={
            "help": "Qwen-VL's answer stands at or above this confidence; below it the ensemble decides."
        },
    )
    device: str | None = field(default=None, metadata={"help": "cuda, cuda:1, cpu; default: best available."})
    dtype: str | None = field(
        default=None, metadata={"help": "bfloat16, float16, float32; default by device."}
    )
    calibration: str | None = field(
        default=None,
        metadata={
            "help": "calibration.json (from `evaluate --calibrate`) that makes the confidence the "
            "threshold compares calibrated; null: the model's own calibration.json, if any."
        },
    )


@dataclass
class VideoMAESection:
    """The optional VideoMAE classifier (trained with `recipes/videomae.py`)."""

    enabled: bool = field(default=False, metadata={"help": "Load VideoMAE for the ensemble."})
    model_path: str | None = field(default=None, metadata={"help": "VideoMAE model folder or Hub id."})
    device: str | None = field(default=None, metadata={"help": "Device; default: best available."})
    dtype: str | None = field(default=None, metadata={"help": "dtype; default by device."})


@dataclass
class EnsembleSection:
    """Weights of the weighted average of the two models' probability vectors."""

    qwen_vl_weight: float = field(default=0.6, metadata={"help": "Weight of Qwen-VL's probabilities."})
    videomae_weight: float = field(default=0.4, metadata={"help": "Weight of VideoMAE's probabilities."})

    def __post_init__(self) -> None:
        check_weights(self.qwen_vl_weight, self.videomae_weight)


@dataclass
class PipelineConfig:
    """Everything `QwenVLEnhancedDetector` needs; each section maps to a top-level YAML key."""

    qwen_vl: QwenVLSection = field(default_factory=QwenVLSection)
    videomae: VideoMAESection = field(default_factory=VideoMAESection)
    ensemble: EnsembleSection = field(default_factory=EnsembleSection)
    hit_detection: HitDetectionConfig = field(default_factory=HitDetectionConfig)
    segmentation: SegmentConfig = field(default_factory=SegmentConfig)
    players: PlayerConfig = field(default_factory=PlayerConfig)
    top_k: int = field(default=3, metadata={"help": "How many top classes per model go into the report."})

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Values a config file may hold wrong, said at once (again after command-line overrides)."""
        if self.top_k < 1:
            raise ValueError(f"top_k must be at least 1; got {self.top_k}.")
        check_sampling_overrides(self.qwen_vl.num_frames, self.qwen_vl.max_pixels, "qwen_vl.")
        if self.qwen_vl.language is not None:
            labels.prompt(self.qwen_vl.language)  # unknown language -> clear error now
        if self.qwen_vl.calibration is not None:  # a missing or broken file -> clear error now
            read_calibration(self.qwen_vl.calibration)
        if not 0.0 <= self.qwen_vl.confidence_threshold <= 1.0:
            raise ValueError(
                f"qwen_vl.confidence_threshold must be in [0, 1]; got {self.qwen_vl.confidence_threshold}."
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


SECTIONS = tuple(
    name for name, kind in get_type_hints(PipelineConfig).items() if dataclasses.is_dataclass(kind)
)
"""The top-level YAML keys that are sections (a missing one is warned about)."""


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    """`cls(**data)`, building nested dataclasses, refusing unknown keys (named with `where`)."""
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be a mapping, got {type(data).__name__}.")
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"Unknown key(s) {unknown} in {where}; known: {sorted(names)}.")
    kwargs = {}
    choices = {f.name: f.metadata.get("choices") for f in dataclasses.fields(cls)}
    for key, value in data.items():
        kind = hints[key]
        nested = dataclasses.is_dataclass(kind) and isinstance(kind, type)
        kwargs[key] = (
            _build(kind, value or {}, f"{where}.{key}") if nested else _typed(value, kind, f"{where}.{key}")
        )
        if choices[key] and kwargs[key] is not None and kwargs[key] not in choices[key]:
            raise ValueError(f"{where}.{key} must be one of {', '.join(choices[key])}; got {value!r}.")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ValueError(f"Invalid {where}: {err}") from err


_TRUE, _FALSE = {"true", "yes", "on"}, {"false", "no", "off"}


def _typed(value: Any, kind: Any, where: str) -> Any:
    """A YAML value as its field's type, or a ValueError naming the key.

    Booleans also from quoted "true"/"false" (a quoted "false" must not count as enabled), numbers
    never negative (no duration, size, count or weight here can be), ints whole, text text.
    """
    options = [arg for arg in get_args(kind) if arg is not type(None)] or [kind]
    base = options[0]
    if value is None:
        if type(None) in get_args(kind):
            return None
        raise ValueError(f"{where} needs a value.")
    if base is bool:
        text = value.strip().lower() if isinstance(value, str) else None
        if isinstance(value, bool) or text in _TRUE | _FALSE:
            return value if isinstance(value, bool) else text in _TRUE
        raise ValueError(f"{where} must be true or false; got {value!r}.")
    if base in (int, float):
        if isinstance(value, bool) or not isinstance(value, int if base is int else int | float):
            raise ValueError(
                f"{where} must be {'a whole number' if base is int else 'a number'}; got {value!r}."
            )
        if value < 0:
            raise ValueError(f"{where} must not be negative; got {value}.")
        return base(value)
    if base is str and not isinstance(value, str):
        raise ValueError(f"{where} must be text; got {value!r}.")
    return value


def load_pipeline_config(
    config: str | Path | dict[str, Any] | PipelineConfig | None = None,
) -> PipelineConfig:
    """A `PipelineConfig` from a YAML path, a dict (same shape) or defaults; warns about missing sections."""
    if isinstance(config, PipelineConfig):
        return config
    where = "config"
    if config is None:
        data: dict[str, Any] = {}
    elif isinstance(config, dict):
        data = config
    else:
        path = Path(config)
        if not path.is_file():
            raise FileNotFoundError(f"Config file not found: {path}")
        where = str(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as err:
            raise ValueError(f"{path} is not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be a YAML mapping of sections, got {type(data).__name__}.")
    if config is not None:
        missing = [name for name in SECTIONS if name not in data]
        if missing:
            logger.warning("%s has no section(s) %s: using their defaults.", where, ", ".join(missing))
    return _build(PipelineConfig, data, where)


@dataclass(kw_only=True)
class PipelineArguments:
    """Command-line options shared by `analyze` and `serve`: the config file and overrides of it."""

    config: str | None = field(
        default=None,
        metadata={
            "help": "Pipeline config.yaml (qwen_vl, videomae, ensemble, hit_detection, segmentation, players)."
        },
    )
    model_path: str | None = field(
        default=None,
        metadata={"help": "Override qwen_vl.model_path: LoRA adapter folder, merged model folder or Hub id."},
    )
    base_model: str | None = field(
        default=None, metadata={"help": "Override qwen_vl.base_model (the base of an adapter)."}
    )
    language: str | None = field(
        default=None,
        metadata={
            "help": "Override qwen_vl.language: the prompt language the model was trained with.",
            "choices": list(labels.LANGUAGES),
        },
    )
    num_frames: int | None = field(default=None, metadata={"help": "Override qwen_vl.num_frames."})
    max_pixels: int | None = field(default=None, metadata={"help": "Override qwen_vl.max_pixels."})
    device: str | None = field(default=None, metadata={"help": "Override qwen_vl.device (cuda, cpu)."})
    dtype: str | None = field(
        default=None, metadata={"help": "Override qwen_vl.dtype (bfloat16, float32...)."}
    )
    calibration: str | None = field(
        default=None, metadata={"help": "Override qwen_vl.calibration (a calibration.json)."}
    )
    videomae_path: str | None = field(
        default=None,
        metadata={"help": "Override videomae.model_path (and enable VideoMAE for the ensemble)."},
    )
    hit_method: str | None = field(
        default=None,
        metadata={"help": "Override hit_detection.method.", "choices": list(get_args(Method))},
    )

    def __post_init__(self) -> None:
        check_sampling_overrides(self.num_frames, self.max_pixels, "--")

    def pipeline_config(self) -> PipelineConfig:
        """The config from `--config` (or defaults) with every given override applied."""
        config = load_pipeline_config(self.config)
        for key in RECOGNIZER_OPTIONS:
            if getattr(self, key) is not None:
                setattr(config.qwen_vl, key, getattr(self, key))
        if self.videomae_path:
            config.videomae.enabled, config.videomae.model_path = True, self.videomae_path
        if self.hit_method:
            config.hit_detection.method = self.hit_method
        config.check()
        return config
