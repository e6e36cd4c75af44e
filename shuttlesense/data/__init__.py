"""Data: the VideoBadminton folders -> a `datasets.DatasetDict`, and clips back out of it as frames.

`prepare` scans the class folders (`scan`), splits by clip or by session (`splits`), writes parquet
shards with a dataset card (`dataset_card`) and the ShareGPT JSON (`export`); `video_io` decodes
and probes video, `video_writer` encodes it, `loading` turns dataset rows into sampled frames.
Depends on nothing else in the package but `labels` and `paths`.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "loading": [
            "ClipCache",
            "FixedFrameSampling",
            "FrameSampling",
            "load_clip",
            "load_split",
            "load_video",
        ],
        "prepare": ["PrepareArguments", "prepare_dataset"],
        "scan": ["parse_clip_name", "scan_clips"],
        "video_io": ["DecodedClip", "VideoDecodeError", "VideoInfo", "decode_frames", "probe_video"],
        "video_writer": ["write_video"],
    },
)
