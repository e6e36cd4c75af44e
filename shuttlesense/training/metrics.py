"""Stroke-classification accuracy during evaluation, from the evaluation forward pass itself.

Generating in the eval loop is slow and needs a second code path; teacher forcing gives the same
answer for free. The collator supervises exactly the class name and its `<|im_end|>`, so an
example whose every supervised token is the top-1 prediction is one that greedy decoding would
answer with exactly that class name and then stop: the example accuracy below is the real
classification accuracy of greedy decoding.

TRL's SFTTrainer computes the loss through a fused LM head that returns, per label token, whether
it is the top-1 prediction (`is_top1`, `label_mask`) without building the logits. A
`compute_metrics` function would make it run the model a second time to get logits (deprecated,
gone in TRL 2); `answer_exact_match` reads the fused outputs instead: one forward per clip.
"""

from __future__ import annotations

import torch


def answer_exact_match(is_top1: torch.Tensor, label_mask: torch.Tensor) -> torch.Tensor:
    """Per example with a supervised token: 1.0 if every supervised token is the top-1 prediction.

    Both tensors are (examples, positions), as TRL's fused LM head returns them; examples without
    any supervised token are left out (they have no answer to get right).
    """
    if is_top1.shape != label_mask.shape:
        raise ValueError(
            f"is_top1 {tuple(is_top1.shape)} and label_mask {tuple(label_mask.shape)} differ in shape."
        )
    supervised = label_mask.bool()
    right = (is_top1.bool() | ~supervised).all(dim=1)
    return right[supervised.any(dim=1)].float()
