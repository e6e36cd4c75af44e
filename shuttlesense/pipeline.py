"""`shuttlesense.pipeline`: the rally pipeline under the name the original scripts and the README use.

The code lives in the rally stage (`shuttlesense.rally.pipeline`); this alias keeps
`from shuttlesense.pipeline import create_qwen_vl_enhanced_detector` working.
"""

from shuttlesense.rally.pipeline import QwenVLEnhancedDetector, create_qwen_vl_enhanced_detector

__all__ = ["QwenVLEnhancedDetector", "create_qwen_vl_enhanced_detector"]
