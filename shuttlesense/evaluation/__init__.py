"""Evaluation: score a model on a dataset split and write what a person reads.

`evaluator` runs a recogniser over a split (`shuttlesense evaluate`), `metrics` computes top-1,
mean class accuracy and the confusion matrix, `report` draws the figures and writes `report.md`
against the VideoBadminton baselines. Depends on `data` and `inference`.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "evaluator": ["EvaluateArguments", "evaluate_model"],
        "metrics": ["classification_metrics"],
        "report": ["write_markdown_report"],
    },
)
