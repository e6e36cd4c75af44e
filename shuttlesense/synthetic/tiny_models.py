"""Tiny, RANDOMLY initialised Qwen-VL and VideoMAE models for tests and the offline demo.

Nothing can be downloaded from the Hugging Face Hub on our machines, so tests, the CPU recipes and
the offline demo run on models built here: the real transformers classes (configs, processors,
`*ForConditionalGeneration`) at toy sizes, with a tokenizer trained locally
(`shuttlesense.synthetic.tokenizer`). They load with the Auto classes like any Hub checkpoint but know
nothing about badminton (or anything else): their predictions are noise until trained.

Only the networks are small. Processors, patch sizes and chat templates are the real checkpoints'
(`Qwen/Qwen2-VL-*`, `Qwen/Qwen2.5-VL-*-Instruct`, `Qwen/Qwen3-VL-*-Instruct`), because that is where
real runs break: Qwen3-VL's video processor samples frames itself (`do_sample_frames: true`, 2 fps),
uses 16-pixel patches (frame sides multiples of 32) and a per-clip pixel budget; Qwen2/2.5-VL use
14-pixel patches, 3,136 to 12,845,056 pixels per frame and a default system prompt.

Calling a saved processor with frames that are already sampled (uint8, ``(T, H, W, 3)``)::

    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    meta = {"fps": 60.0, "total_num_frames": 104, "frames_indices": [0, 7, 14, ...]}
    inputs = processor(text=[text], videos=[frames], video_metadata=[meta], do_sample_frames=False,
                       return_tensors="pt")

`shuttlesense.inference.conversation.video_processor_kwargs` builds those kwargs for each family.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import (
    AutoModelForImageTextToText,
    GenerationConfig,
    PreTrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    ProcessorMixin,
    Qwen2_5_VLConfig,
    Qwen2_5_VLProcessor,
    Qwen2VLConfig,
    Qwen2VLImageProcessor,
    Qwen2VLProcessor,
    Qwen2VLVideoProcessor,
    Qwen3VLConfig,
    Qwen3VLProcessor,
    Qwen3VLVideoProcessor,
    VideoMAEConfig,
    VideoMAEForVideoClassification,
    VideoMAEImageProcessor,
)

from shuttlesense.inference.model_source import MARKER, is_tiny_model_dir
from shuttlesense.labels import CLASS_NAMES_EN
from shuttlesense.paths import claim_output_dir, seal_output_dir
from shuttlesense.synthetic.tokenizer import CHAT_TEMPLATES, build_tokenizer, special_token_ids

logger = logging.getLogger(__name__)

FAMILIES: tuple[str, ...] = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")
"""Qwen-VL families `build_tiny_model` can build."""
ALL_FAMILIES: tuple[str, ...] = (*FAMILIES, "videomae")
"""Everything the `tiny-model` command can build."""

RANDOM_WARNING = (
    "This is a tiny RANDOMLY initialised model for tests and the offline demo only: "
    "it knows nothing about badminton and its predictions are noise."
)

# Text: hidden 64, 2 layers, 4 heads of 16 dims (2 kv heads). mrope sections sum to head_dim / 2.
TEXT_SIZES = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 32768,
}
HEAD_DIM = 16
# Vision: depth 2, hidden 32, 2 heads, 2x2 spatial merge, 2-frame temporal patches. The patch size is
# the real family's: 14 pixels for Qwen2/2.5-VL, 16 for Qwen3-VL.
PATCH = {"qwen2_vl": 14, "qwen2_5_vl": 14, "qwen3_vl": 16}
MERGE, TEMPORAL = 2, 2
VISION_SIZES = {"depth": 2, "num_heads": 2, "spatial_merge_size": MERGE, "temporal_patch_size": TEMPORAL}
# The real checkpoints' processor settings (their preprocessor/video_preprocessor configs).
QWEN2_PIXELS = {"min_pixels": 3136, "max_pixels": 12845056}  # per frame, Qwen2-VL and Qwen2.5-VL
QWEN3_IMAGE_SIZE = {"shortest_edge": 65536, "longest_edge": 16777216}
QWEN3_VIDEO = {
    "size": {"shortest_edge": 4096, "longest_edge": 25165824},  # pixels over the whole clip
    "do_sample_frames": True,
    "fps": 2,
    "min_frames": 4,
    "max_frames": 768,
}
STANDARD_NORM = {"image_mean": [0.5] * 3, "image_std": [0.5] * 3}  # Qwen3-VL; Qwen2/2.5-VL use CLIP's

_CONFIG_CLASSES = {"qwen2_vl": Qwen2VLConfig, "qwen2_5_vl": Qwen2_5_VLConfig, "qwen3_vl": Qwen3VLConfig}
_PROCESSOR_CLASSES = {
    "qwen2_vl": Qwen2VLProcessor,
    "qwen2_5_vl": Qwen2_5_VLProcessor,
    "qwen3_vl": Qwen3VLProcessor,
}


def _check_family(family: str, allowed: Sequence[str] = FAMILIES) -> None:
    """Raise a ValueError naming every valid family (and which function builds it)."""
    if family not in allowed:
        raise ValueError(
            f"Unknown tiny model family {family!r}; valid families: {', '.join(FAMILIES)} "
            "(build_tiny_model) and videomae (build_tiny_videomae)."
        )


def _text_config(family: str, ids: dict[str, int], vocab_size: int) -> dict:
    """Text-tower sizes and rope; Qwen3-VL interleaves its mrope sections and has no bos/eos fields."""
    if family == "qwen3_vl":
        rope = {
            "rope_type": "default",
            "rope_theta": 5e6,
            "mrope_section": [4, 2, 2],
            "mrope_interleaved": True,
        }
        extra = {"head_dim": HEAD_DIM, "pad_token_id": ids["pad_token_id"]}
    else:
        rope = {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]}
        extra = {k: ids[k] for k in ("bos_token_id", "eos_token_id", "pad_token_id")}
    assert sum(rope["mrope_section"]) == HEAD_DIM // 2, "mrope sections must cover head_dim / 2"
    return {**TEXT_SIZES, **extra, "vocab_size": vocab_size, "rope_parameters": rope}


def _vision_config(family: str) -> dict:
    """Vision-tower sizes; each family names its widths differently."""
    out = TEXT_SIZES["hidden_size"]
    sizes = {**VISION_SIZES, "patch_size": PATCH[family]}
    if family == "qwen2_vl":
        return {**sizes, "embed_dim": 32, "mlp_ratio": 2, "hidden_size": out}
    common = {**sizes, "hidden_size": 32, "intermediate_size": 64, "out_hidden_size": out}
    if family == "qwen2_5_vl":
        # window_size 112 = one 8x8-patch window per 112x112 frame; block 1 attends globally.
        return {**common, "window_size": 112, "fullatt_block_indexes": [1], "tokens_per_second": 2}
    # Qwen3-VL: learned 8x8 position grid (interpolated), one deepstack feature into text layer 0.
    return {**common, "num_position_embeddings": 64, "deepstack_visual_indexes": [0]}


def tiny_config(family: str, tokenizer: PreTrainedTokenizerBase) -> PreTrainedConfig:
    """The real config class of `family` at toy size, with token ids read from `tokenizer`."""
    _check_family(family)
    ids = special_token_ids(tokenizer)
    config = _CONFIG_CLASSES[family](
        text_config=_text_config(family, ids, vocab_size=len(tokenizer)),
        vision_config=_vision_config(family),
        image_token_id=ids["image_token_id"],
        video_token_id=ids["video_token_id"],
        vision_start_token_id=ids["vision_start_token_id"],
        vision_end_token_id=ids["vision_end_token_id"],
        tie_word_embeddings=False,
    )
    setattr(config, MARKER, True)
    return config


def tiny_processor(family: str, tokenizer: PreTrainedTokenizerBase) -> ProcessorMixin:
    """The real processor of `family` with the real checkpoint's settings and chat template."""
    _check_family(family)
    grid = {"patch_size": PATCH[family], "temporal_patch_size": TEMPORAL, "merge_size": MERGE}
    if family == "qwen3_vl":
        image_processor = Qwen2VLImageProcessor(size=QWEN3_IMAGE_SIZE, **grid, **STANDARD_NORM)
        video_processor = Qwen3VLVideoProcessor(**QWEN3_VIDEO, **grid, **STANDARD_NORM)
    else:
        image_processor = Qwen2VLImageProcessor(**QWEN2_PIXELS, **grid)
        video_processor = Qwen2VLVideoProcessor(**QWEN2_PIXELS, **grid)
    return _PROCESSOR_CLASSES[family](
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=CHAT_TEMPLATES[family],
    )


def _init_model(build: Callable[[], PreTrainedModel], seed: int) -> PreTrainedModel:
    """Run `build()` under `seed` without disturbing the caller's global torch RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build().float().eval()


def count_parameters(model: torch.nn.Module) -> int:
    """Total number of parameters (trainable or not)."""
    return sum(p.numel() for p in model.parameters())


def _write_model_card(output_dir: Path, title: str, details: str, n_params: int, seed: int) -> None:
    """A README.md that says plainly, in metadata and text, that the weights are random."""
    card = f"""---
tags:
- {MARKER.replace("_", "-")}
- random-weights
- test-fixture
{MARKER}: true
---

# {title} (tiny, RANDOM)

**{RANDOM_WARNING}**

Built offline by `shuttlesense tiny-model` (seed {seed}, {n_params:,} parameters). {details}
Use it to exercise code paths (loading, processing, training loops, scoring), never for results.
"""
    (output_dir / "README.md").write_text(card, encoding="utf-8")


def build_tiny_model(family: str, output_dir: str | Path, seed: int = 0) -> Path:
    """Write a tiny random `family` model + processor to `output_dir`; same seed, same weights.

    Loads back with `AutoModelForImageTextToText.from_pretrained(dir)` and
    `AutoProcessor.from_pretrained(dir)`. See the module docstring for how to call the processor.
    """
    return _build_qwen(family, output_dir, seed)[0]


def _build_qwen(family: str, output_dir: str | Path, seed: int) -> tuple[Path, int]:
    _check_family(family)
    output_dir = Path(output_dir)
    tokenizer = build_tokenizer()
    tokenizer.chat_template = CHAT_TEMPLATES[family]
    config = tiny_config(family, tokenizer)
    model = _init_model(lambda: AutoModelForImageTextToText.from_config(config), seed)
    ids = special_token_ids(tokenizer)
    model.generation_config = GenerationConfig(
        bos_token_id=ids["bos_token_id"],
        eos_token_id=[ids["eos_token_id"], ids["pad_token_id"]],
        pad_token_id=ids["pad_token_id"],
        do_sample=False,
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    tiny_processor(family, tokenizer).save_pretrained(output_dir)
    details = f"Family `{family}` (`{type(model).__name__}`), tokenizer: {len(tokenizer)}-token local BPE."
    n_params = count_parameters(model)
    _write_model_card(output_dir, f"shuttlesense tiny {family}", details, n_params, seed)
    return output_dir, n_params


def build_tiny_videomae(
    output_dir: str | Path, seed: int = 0, num_frames: int = 8, image_size: int = 56
) -> Path:
    """Write a tiny random VideoMAE classifier over the 18 strokes (English names as labels).

    Loads back with `AutoModelForVideoClassification` / `AutoImageProcessor`; the processor resizes
    and centre-crops frames to `image_size`, the model takes exactly `num_frames` frames.
    """
    return _build_videomae(output_dir, seed, num_frames, image_size)[0]


def _build_videomae(output_dir: str | Path, seed: int, num_frames: int, image_size: int) -> tuple[Path, int]:
    output_dir = Path(output_dir)
    config = VideoMAEConfig(
        image_size=image_size,
        patch_size=14,
        num_frames=num_frames,
        tubelet_size=2,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=len(CLASS_NAMES_EN),
        id2label=dict(enumerate(CLASS_NAMES_EN)),
        label2id={name: i for i, name in enumerate(CLASS_NAMES_EN)},
    )
    setattr(config, MARKER, True)
    model = _init_model(lambda: VideoMAEForVideoClassification(config), seed)
    processor = VideoMAEImageProcessor(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    processor.save_pretrained(output_dir)
    details = f"VideoMAE classifier: {num_frames} frames of {image_size}x{image_size}, 18 stroke labels."
    n_params = count_parameters(model)
    _write_model_card(output_dir, "shuttlesense tiny VideoMAE", details, n_params, seed)
    return output_dir, n_params


@dataclass
class TinyModelArguments:
    """Options of `shuttlesense tiny-model`."""

    family: str = field(
        metadata={
            "help": "Which model to build: qwen2_vl, qwen2_5_vl, qwen3_vl (image-text-to-text) or "
            "videomae (video classifier over the 18 strokes).",
            "choices": list(ALL_FAMILIES),
        }
    )
    output: str = field(metadata={"help": "Directory to write the model, processor and model card to."})
    seed: int = field(default=0, metadata={"help": "Weight-initialisation seed (same seed, same weights)."})
    overwrite: bool = field(
        default=False,
        metadata={"help": "Replace a tiny model this command wrote earlier at --output (never other files)."},
    )


DESCRIPTION = (
    "Write a tiny, RANDOMLY initialised Qwen-VL (or VideoMAE) model with its processor, built offline "
    "from the real transformers classes. It is for tests and the offline demo only: it knows nothing "
    "about badminton and its predictions are noise until trained."
)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `shuttlesense tiny-model`."""
    from shuttlesense.cli import parse_dataclass_args

    args = parse_dataclass_args(TinyModelArguments, argv, prog="tiny-model", description=DESCRIPTION)
    _check_family(args.family, ALL_FAMILIES)
    output = claim_output_dir(args.output, "tiny-model", args.overwrite, legacy=is_tiny_model_dir)
    if args.family == "videomae":
        _, n_params = _build_videomae(output, args.seed, num_frames=8, image_size=56)
    else:
        _, n_params = _build_qwen(args.family, output, args.seed)
    logger.info(
        "Wrote a tiny RANDOM %s model to %s: %s parameters, seed %d.",
        args.family,
        output,
        f"{n_params:,}",
        args.seed,
    )
    seal_output_dir(output)
    logger.warning(RANDOM_WARNING)
    return 0
