"""ShuttleSense: badminton stroke recognition with LoRA-tuned Qwen-VL models."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shuttlesense.labels import CLASS_NAMES_EN, CLASS_NAMES_ZH, CLASSES, NUM_CLASSES

if TYPE_CHECKING:
    from shuttlesense.inference.recognizer import QwenVLActionRecognizer
    from shuttlesense.inference.videomae import VideoMAEActionRecognizer
    from shuttlesense.rally.pipeline import QwenVLEnhancedDetector, create_qwen_vl_enhanced_detector

__version__ = "0.1.0.dev0"

__all__ = [
    "CLASSES",
    "CLASS_NAMES_EN",
    "CLASS_NAMES_ZH",
    "NUM_CLASSES",
    "QwenVLActionRecognizer",
    "QwenVLEnhancedDetector",
    "VideoMAEActionRecognizer",
    "__version__",
    "create_qwen_vl_enhanced_detector",
]

# Heavy classes (torch, transformers) load on first use, so `import shuttlesense` stays light.
_LAZY = {
    "QwenVLActionRecognizer": "shuttlesense.inference.recognizer",
    "VideoMAEActionRecognizer": "shuttlesense.inference.videomae",
    "QwenVLEnhancedDetector": "shuttlesense.rally.pipeline",
    "create_qwen_vl_enhanced_detector": "shuttlesense.rally.pipeline",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'shuttlesense' has no attribute {name!r}")
