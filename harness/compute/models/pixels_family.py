"""Raw pixels as the embedding: ``pixels:<side>[mode=L|RGB]`` resizes to side x side and flattens.

A baseline and a test hook: with sklearn's digits, ``pixels:8`` gives back (a rendering of) the original
8x8 digits, so top-tuning on it can be checked against known MLP accuracy. It has no weights.
"""

from __future__ import annotations

import torch
from PIL import Image

from harness.compute.models.base import EmbeddingModel
from harness.core.errors import HarnessError
from harness.core.keys import content_key
from harness.spec.ids import Ref, check_options

OPTIONS = {"mode"}


class PixelTransform:
    """PIL image -> flat float tensor in [0, 1]; a class (not a lambda) so worker processes can pickle it."""

    def __init__(self, side: int, mode: str) -> None:
        self.side, self.mode = side, mode

    def __call__(self, image: Image.Image) -> torch.Tensor:
        small = image.convert(self.mode).resize((self.side, self.side), Image.Resampling.BOX)
        return torch.frombuffer(bytearray(small.tobytes()), dtype=torch.uint8).float().div_(255.0)


def load(ref: Ref) -> EmbeddingModel:
    check_options(ref, OPTIONS, "model")
    if not ref.name.isdigit() or not 1 <= int(ref.name) <= 256:
        raise HarnessError(f"model id '{ref}': expected pixels:<side> with a side of 1 to 256 pixels")
    mode = ref.option("mode", "L") or "L"
    if mode not in ("L", "RGB"):
        raise HarnessError(f"option mode={mode} in model id '{ref}': expected L (grey) or RGB")
    preprocessing = {"library": "pixels", "size": int(ref.name), "mode": mode, "resample": "box", "scale": "1/255"}
    return EmbeddingModel(
        model_id=str(ref),
        module=torch.nn.Identity(),
        transform=PixelTransform(int(ref.name), mode),
        embed=lambda batch: batch,
        preprocessing=preprocessing,
        weights_digest=content_key(preprocessing, length=64),
        random_init=False,
    )
