"""Rally: find the hits in a rally or a whole match, group them into rallies, name every stroke and its player.

`video_stream` reads a file once, front to back, stopping cleanly at damage; `hits` (audio onsets)
and `visual_hits` (shuttle tracking) share `hit_detection`; `segments` lays hit-to-hit windows
rally by rally; `frame_collector` takes each window's sampled frames in one decoding pass;
`players` tells who served; `ensemble` combines Qwen-VL and VideoMAE; `config` reads
`config.yaml`; `pipeline` is `QwenVLEnhancedDetector`; `report` builds the rallies and the match
summary, `timeline` draws them, `analyze` is the command. Depends on `data`, `inference` and
`evaluation`.
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
