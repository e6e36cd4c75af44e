"""Inference: name the stroke in a clip with a Qwen-VL model (adapter or full) or VideoMAE.

`conversation` is the prompt format training uses too, `model_source` says what a model path
holds (adapter, base, family, tiny test model), `scoring` scores the 18 class names as the
answer with one shared prefill, `recognizer` / `videomae` are the recognisers, `results` their
common result shape, `predict` the command. Depends on `data` only.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "model_source": ["ModelSource", "resolve_model_source", "tiny_model_kind"],
        "recognizer": ["QwenVLActionRecognizer"],
        "recognizer_args": ["RecognizerArguments"],
        "scoring": ["score_candidates"],
        "videomae": ["VideoMAEActionRecognizer"],
    },
)
