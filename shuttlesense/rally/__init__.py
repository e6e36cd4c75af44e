"""Rally: find the hits in a rally video, cut it hit to hit, and name every stroke.

`hits` (audio onsets) and `visual_hits` (shuttle tracking) share `hit_detection`; `segments` cuts
hit-to-hit windows; `ensemble` combines Qwen-VL and VideoMAE; `config` reads `config.yaml`;
`pipeline` is `QwenVLEnhancedDetector`; `timeline` draws the report, `analyze` is the command.
Depends on `data`, `inference` and `evaluation`.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "config": ["PipelineArguments", "PipelineConfig", "load_pipeline_config"],
        "hits": ["HitDetection", "detect_hits"],
        "pipeline": ["QwenVLEnhancedDetector", "create_qwen_vl_enhanced_detector"],
        "segments": ["Segment", "make_segments"],
    },
)
