"""``digits``: sklearn's 1,797 real 8x8 handwritten digits (10 classes), rendered as 32x32 RGB images.

Real data that ships inside a package, so tests and smoke runs need no download.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import ClassVar

import numpy as np
from PIL import Image

from harness.compute.datasets.base import CLASS_FIELD, Dataset, Item, Manifest
from harness.compute.datasets.options import SPLIT_OPTIONS, int_option, split_options
from harness.compute.datasets.splits import stratified_split
from harness.spec.ids import Ref, check_options

SIZE = 32


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    """(images [n, 8, 8] in 0..16, targets [n]); loaded once per process, worker processes included."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images, bunch.target


def render(index: int) -> Image.Image:
    """Digit ``index`` as RGB: 0..16 scaled to 0..255, 8x8 upsampled to 32x32 (nearest), grey to RGB."""
    pixels = _digits()[0][index].astype(np.int64)
    grey = ((pixels * 255 + 8) // 16).astype(np.uint8)  # integer rounding: 16 -> 255, 8 -> 128
    return Image.fromarray(grey, "L").resize((SIZE, SIZE), Image.Resampling.NEAREST).convert("RGB")


@dataclass
class DigitsDataset(Dataset):
    """Options: ``per_class`` (keep the first N of each class, for small smoke runs), ``test_fraction``
    (default 0.5) and ``seed`` (default 0) of the stratified split."""

    OPTIONS: ClassVar[frozenset[str]] = SPLIT_OPTIONS | {"per_class"}
    TEXT_FIELDS: ClassVar[tuple[str, ...]] = (CLASS_FIELD,)  # "0".."9", as CLIP_benchmark's MNIST names them

    id: str
    per_class: int | None
    test_fraction: float
    seed: int
    _manifest: Manifest | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_ref(cls, ref: Ref) -> DigitsDataset:
        check_options(ref, set(cls.OPTIONS), "dataset")
        per_class = int_option(ref, "per_class", 0, minimum=1) if ref.option("per_class") else None
        test_fraction, seed = split_options(ref)
        return cls(str(ref), per_class, test_fraction, seed)

    def manifest(self) -> Manifest:
        if self._manifest is None:
            self._manifest = self._build()
        return self._manifest

    def _build(self) -> Manifest:
        targets = _digits()[1]
        kept: list[int] = []
        taken: dict[int, int] = {}
        for index, target in enumerate(targets.tolist()):
            if self.per_class is None or taken.get(target, 0) < self.per_class:
                kept.append(index)
                taken[target] = taken.get(target, 0) + 1
        labels = [int(targets[i]) for i in kept]
        splits = stratified_split(labels, self.test_fraction, self.seed)
        items = tuple(
            Item(
                key=f"digits/{index}",
                label=label,
                class_name=str(label),
                split=split,
                content=hashlib.sha256(render(index).tobytes()).hexdigest(),
            )
            for index, label, split in zip(kept, labels, splits, strict=True)
        )
        return Manifest(self.id, items)

    def load_image(self, item: Item) -> Image.Image:
        return render(int(item.key.removeprefix("digits/")))
