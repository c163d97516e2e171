"""Which device the top-tuning head trains on: the cell's own, never merely the one that exists.

Keras on torch places every variable on its default device, which is CUDA whenever CUDA is visible; left
alone, a ``--device cpu`` cell's head would train on the GPU and be priced as CPU time. The head therefore
trains inside ``keras.device(head_device(cell_device))``, and that device is recorded with the head so the
cost ledger prices the time where it was spent.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from harness.core.errors import HarnessError


def head_device(device: str, cuda_available: bool | None = None) -> str:
    """The torch device string the head trains on for a cell on ``device`` ("cpu", "cuda", "cuda:1", "mps").

    ``cuda_available`` defaults to torch's answer; tests pass it to check the choice on any machine.
    """
    kind = device.partition(":")[0]
    if kind == "cuda":
        if cuda_available is None:
            import torch

            cuda_available = torch.cuda.is_available()
        if not cuda_available:
            raise HarnessError(f"top-tuning on '{device}': no CUDA GPU is visible here")
        return device
    if kind in ("cpu", "mps"):
        return device
    raise HarnessError(f"top-tuning on '{device}': expected cpu, cuda, cuda:N or mps")


@contextmanager
def on_device(device: str) -> Iterator[str]:
    """Keras creates and runs the head's variables on ``head_device(device)`` inside the block.

    ``keras.device`` alone is not enough on torch: when Keras builds a model symbolically and its trace on
    torch's "meta" device fails, it retries under its module-level default device (CUDA whenever CUDA
    exists), and variables created then land there (a test shows it). That default is the one Keras reads
    from ``KERAS_TORCH_DEVICE`` at import; it is set to the cell's device for the block and restored after.
    """
    import keras

    name = head_device(device)
    if keras.config.backend() != "torch":
        with keras.device(name):
            yield name
        return
    from keras.src.backend.torch import core

    before = core.DEFAULT_DEVICE
    core.DEFAULT_DEVICE = name
    try:
        with keras.device(name):
            yield name
    finally:
        core.DEFAULT_DEVICE = before
