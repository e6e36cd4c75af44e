"""The processes `accelerate launch` started, for commands that spread clips over them."""

from __future__ import annotations

from typing import Any


def process_state() -> Any:
    """accelerate's `PartialState`: this process's index, their number, its device.

    On a machine without GPUs the processes join over gloo on the CPU (accelerate does that only
    when told `cpu`), so `accelerate launch --multi_gpu --num_processes N` shards there too.
    """
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())
