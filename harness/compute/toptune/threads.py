"""Head training on the CPU runs on few threads: its matrices (a few hundred embeddings x a small MLP) are
too small to gain from more, and on a busy shared machine extra threads only wait for each other (we
measured Keras epochs ~10x slower with 2 torch threads than with 1 on a loaded 2-core box).

``ECOMBENCH_HEAD_THREADS`` sets the cap (default 1; 0 leaves torch's own setting). Extraction and fine-tuning
are not affected: the cap is set around head training and restored after.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from harness.core.errors import HarnessError

ENV = "ECOMBENCH_HEAD_THREADS"
DEFAULT = 1


def head_threads() -> int:
    text = os.environ.get(ENV, str(DEFAULT)).strip()
    if not text.isdigit():
        raise HarnessError(f"{ENV}={text!r}: expected a whole number of threads (0 = torch's own setting)")
    return int(text)


def trains_on_cpu(device: str = "cpu") -> bool:
    """True when Keras runs on torch and the head of a cell on ``device`` trains on the CPU."""
    import keras

    from harness.compute.toptune.device import head_device

    if keras.config.backend() != "torch":
        return False  # TensorFlow/JAX fix their thread pools at start-up: nothing to cap here
    return head_device(device) == "cpu"


@contextmanager
def capped_threads(device: str = "cpu") -> Iterator[int]:
    """Cap torch's intra-op threads for the block (CPU training only); yields the count in effect."""
    import torch

    cap = head_threads()
    before = torch.get_num_threads()
    if cap == 0 or cap >= before or not trains_on_cpu(device):
        yield before
        return
    torch.set_num_threads(cap)
    try:
        yield cap
    finally:
        torch.set_num_threads(before)
