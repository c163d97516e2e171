"""``fashion_mnist:PATH``: Zalando's Fashion-MNIST (Xiao et al., 2017), 70,000 28x28 grey product photos.

PATH is the folder holding the four IDX files exactly as Zalando publishes them
(https://github.com/zalandoresearch/fashion-mnist; Debian's ``dataset-fashion-mnist`` package installs
byte-identical copies in ``/usr/share/datasets/fashion-mnist``)::

    train-images-idx3-ubyte.gz  train-labels-idx1-ubyte.gz   60,000 images: the train split
    t10k-images-idx3-ubyte.gz   t10k-labels-idx1-ubyte.gz    10,000 images: the test split

- Split: the official one (no ``test_fraction``/``seed``). Evaluation split: ``test``.
- Labels: the files' 0..9, with Zalando's class names (``CLASSES``).
- ``per_class=N`` keeps the first N images of each class in each split (for small runs).
- Images are returned as 28x28 RGB (grey replicated); the model's own preprocessing resizes them.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

import numpy as np
from PIL import Image

from harness.compute.datasets.base import CLASS_FIELD, Dataset, Item, Manifest
from harness.compute.datasets.options import int_option
from harness.core.errors import HarnessError
from harness.spec.ids import Ref, check_options

CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
#: IDX magic numbers: two zero bytes, the type code 0x08 (unsigned byte), the number of dimensions
IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801
HINT = (
    "get the four files from https://github.com/zalandoresearch/fashion-mnist (data/fashion) "
    "or `apt-get install dataset-fashion-mnist` (/usr/share/datasets/fashion-mnist)"
)


def read_idx(path: Path, magic: int) -> np.ndarray:
    """One IDX file (gzip-compressed or not) as a uint8 array of the shape its header gives.

    Raises:
        HarnessError: naming the file, for a missing, unreadable, wrongly typed or truncated one.
    """
    try:
        raw = path.read_bytes()
        data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except FileNotFoundError:
        raise HarnessError(f"Fashion-MNIST file '{path}' does not exist: {HINT}") from None
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError; a cut stream, an EOFError
        raise HarnessError(f"Fashion-MNIST file '{path}' is damaged or truncated ({exc}): {HINT}") from exc
    dims = magic & 0xFF
    header = 4 + 4 * dims
    if len(data) < 4 or struct.unpack(">I", data[:4])[0] != magic:
        found = f"0x{struct.unpack('>I', data[:4])[0]:08x}" if len(data) >= 4 else "nothing"
        raise HarnessError(
            f"Fashion-MNIST file '{path}' is not an IDX {'image' if dims == 3 else 'label'} file: "
            f"magic number {found}, expected 0x{magic:08x}"
        )
    if len(data) < header:
        raise HarnessError(f"Fashion-MNIST file '{path}' is truncated: its header is cut short")
    shape = struct.unpack(f">{dims}I", data[4:header])
    size = int(np.prod(shape))
    if len(data) != header + size:
        raise HarnessError(
            f"Fashion-MNIST file '{path}' is truncated or padded: its header gives {'x'.join(map(str, shape))} "
            f"= {size:,} bytes of data, the file holds {len(data) - header:,}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def load_split(root: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images [n, 28, 28], labels [n]) of one split; read once per process (worker processes included)
    while the files stay the same."""
    stamp = tuple((s.st_size, s.st_mtime_ns) for s in _stats(Path(root), FILES[split]))
    return _read_split(root, split, stamp)


def _stats(root: Path, names: tuple[str, ...]) -> list[os.stat_result]:
    try:
        return [(root / name).stat() for name in names]
    except OSError:
        return []  # read_idx names the missing file


@lru_cache(maxsize=2)
def _read_split(root: str, split: str, stamp: tuple[tuple[int, int], ...]) -> tuple[np.ndarray, np.ndarray]:
    image_name, label_name = FILES[split]
    images = read_idx(Path(root) / image_name, IMAGES_MAGIC)
    labels = read_idx(Path(root) / label_name, LABELS_MAGIC)
    if len(images) != len(labels):
        raise HarnessError(
            f"Fashion-MNIST files '{image_name}' ({len(images):,} images) and '{label_name}' "
            f"({len(labels):,} labels) in '{root}' do not match"
        )
    if labels.size and int(labels.max()) >= len(CLASSES):
        raise HarnessError(f"Fashion-MNIST file '{Path(root) / label_name}' holds label {labels.max()}: expected 0-9")
    return images, labels


@dataclass
class FashionMnistDataset(Dataset):
    OPTIONS: ClassVar[frozenset[str]] = frozenset({"per_class"})
    TEXT_FIELDS: ClassVar[tuple[str, ...]] = (CLASS_FIELD,)  # Zalando's class names

    id: str
    root: Path
    per_class: int | None
    _manifest: Manifest | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_ref(cls, ref: Ref) -> FashionMnistDataset:
        check_options(ref, set(cls.OPTIONS), "dataset")
        per_class = int_option(ref, "per_class", 0, minimum=1) if ref.option("per_class") else None
        return cls(str(ref), Path(ref.name).expanduser(), per_class)

    def manifest(self) -> Manifest:
        if self._manifest is None:
            self._manifest = self._build()
        return self._manifest

    def _build(self) -> Manifest:
        if not self.root.is_dir():
            raise HarnessError(f"dataset '{self.id}': folder '{self.root}' does not exist; {HINT}")
        items: list[Item] = []
        for split in FILES:
            images, labels = load_split(str(self.root.absolute()), split)
            taken = [0] * len(CLASSES)
            for index, label in enumerate(labels.tolist()):
                if self.per_class is not None:
                    if taken[label] >= self.per_class:
                        continue
                    taken[label] += 1
                content = hashlib.sha256(images[index].tobytes()).hexdigest()
                items.append(Item(f"{split}/{index}", label, CLASSES[label], split, content))
        return Manifest(self.id, tuple(items))

    def load_image(self, item: Item) -> Image.Image:
        split, _, index = item.key.partition("/")
        images, _ = load_split(str(self.root.absolute()), split)
        return Image.fromarray(images[int(index)], "L").convert("RGB")
