"""Web: the Gradio page (`shuttlesense serve`) for one stroke clip or a whole rally.

`serve` parses the options, loads the models once and launches; `app` builds the page and its
handlers (upload checks, tables, the timeline). The top stage: it may use every other one.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "app": ["build_app"],
        "serve": ["ServeArguments", "create_app"],
    },
)
