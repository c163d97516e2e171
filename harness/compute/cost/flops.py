"""FLOPs per image, counted by ``torch.utils.flop_counter.FlopCounterMode`` (no hand-written counter).

FlopCounterMode counts the matrix products, convolutions and attention kernels that dominate a network, at
2 FLOPs per multiply-add (a Linear(8, 16) on one row: 2 * 8 * 16 = 256); bias additions, normalisations,
activations and other elementwise operations are not counted. Those are the conventions of the "GFLOPs"
columns in papers that count multiply-adds twice (divide by 2 for "MACs").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def count_flops(fn: Callable[[torch.Tensor], object], batch: torch.Tensor) -> int:
    """Total FLOPs of one call of ``fn`` on ``batch``, under inference mode."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        fn(batch)
    return int(counter.get_total_flops())


def flops_per_image(fn: Callable[[torch.Tensor], object], batch: torch.Tensor) -> float:
    """FLOPs of ``fn`` on ``batch`` divided by the batch size."""
    return count_flops(fn, batch) / batch.shape[0]
