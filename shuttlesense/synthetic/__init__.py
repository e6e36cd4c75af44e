"""Synthetic assets for tests and the offline demo: tiny RANDOM models and synthetic video.

`tiny_models` (with its BPE `tokenizer`) builds tiny Qwen-VL and VideoMAE models offline;
`scene` draws the court and players, `rally` plans and renders rallies, `clips` cuts them hit to
hit into stroke clips in the VideoBadminton layout, `match` writes a rally or a whole match (with
`sound`: hits, applause, voices, footsteps) and its truth. Uses `data` and `inference` only; only the
demo, the CLI, the web page's no-model fallback and the tests import it.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "clips": ["write_synthetic_dataset"],
        "match": ["write_synthetic_match", "write_synthetic_rally"],
        "tiny_models": ["build_tiny_model", "build_tiny_videomae"],
    },
)
