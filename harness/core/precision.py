"""The numeric precisions the harness runs and stores in, in one table (listing imports no torch)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

#: bytes per value at each precision (an embedding component stored, an activation computed)
BYTES_PER_VALUE = {"fp32": 4, "bf16": 2, "fp16": 2}
PRECISIONS = tuple(BYTES_PER_VALUE)


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The torch dtype that autocast runs ``precision`` in; None for fp32 (no autocast)."""
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
