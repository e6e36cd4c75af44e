"""ShuttleSense: badminton stroke recognition with LoRA-tuned Qwen-VL models."""

from shuttlesense.labels import CLASS_NAMES_EN, CLASS_NAMES_ZH, CLASSES, NUM_CLASSES

__version__ = "0.1.0.dev0"

__all__ = ["CLASSES", "CLASS_NAMES_EN", "CLASS_NAMES_ZH", "NUM_CLASSES", "__version__"]
