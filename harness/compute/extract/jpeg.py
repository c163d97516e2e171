"""Batched JPEG decoding with torchvision (nvJPEG on CUDA), resize and crop on the same device.

On a GPU host the CPU's JPEG decoding (a few hundred 500-px images per second per core) bounds base-size models;
``decode_resized`` decodes a batch of file bytes with ``torchvision.io.decode_jpeg`` on the device (nvJPEG on CUDA;
libjpeg-turbo on the CPU) and applies the model's geometric steps (harness.compute.extract.image_cache's
``SplitTransform.geometry``: torchvision's Resize/CenterCrop work on tensors) there. Its pixels are not the PIL
path's bit for bit (decoders' IDCTs and tensor vs PIL resampling differ by a few levels: the tolerance is tested), so
it is a measured option of benchmarks/gpu_decode.py, not part of a cell's extraction, whose numbers the PIL path
defines.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch


def decode_jpegs(data: list[bytes], device: str) -> list[torch.Tensor]:
    """(3, H, W) uint8 RGB tensors on ``device``, one per JPEG file's bytes, decoded in one batched call."""
    from torchvision.io import ImageReadMode, decode_jpeg

    tensors = [torch.frombuffer(bytearray(b), dtype=torch.uint8) for b in data]
    with warnings.catch_warnings():  # torchvision 0.29 marks its decoders deprecated in favour of TorchCodec
        warnings.filterwarnings("ignore", message=".*TorchCodec.*")
        warnings.filterwarnings("ignore", message=".*deprecated.*", category=UserWarning)
        out: Any = decode_jpeg(tensors, mode=ImageReadMode.RGB, device=device)
    return list(out)


def decode_resized(data: list[bytes], geometry: Callable[[Any], Any], device: str) -> torch.Tensor:
    """A batch of JPEG files decoded and put through the geometric steps on ``device``: (N, H, W, 3) uint8,
    the layout of harness.compute.extract.image_cache's entries (so ``SplitTransform.normalise`` takes it as it is)."""
    images = [geometry(image) for image in decode_jpegs(data, device)]
    return torch.stack(images).permute(0, 2, 3, 1).contiguous()


def pil_resized(data: list[bytes], geometry: Callable[[Any], Any]) -> np.ndarray:
    """The PIL path's pixels of the same files (decode, RGB, the same geometric steps): (N, H, W, 3) uint8."""
    import io

    from PIL import Image

    return np.stack([np.asarray(geometry(Image.open(io.BytesIO(b)).convert("RGB"))) for b in data])
