"""A decoded, pre-resized uint8 image cache: each split decoded, resized and cropped once, shared by every
model with the same geometric preprocessing; the rest (to float, normalise) runs on the extraction device.

A model's evaluation transform (timm's, open_clip's: ``Resize, CenterCrop[, to RGB], ToTensor, Normalize``)
is split at ``ToTensor``: the PIL steps before it make the cached pixels, ``x / 255`` then ``(x - mean) / std``
is done on the device, by the same float32 operations torchvision does (true divisions by tensors, never the
reciprocal multiply torch uses for a CPU scalar on CUDA), so the input tensors are the PIL path's bit for bit
and so are the embeddings on the CPU (tested). A transform of any other shape is not cached (``split_transform``
returns None) and decodes per model as before.

Entries live in ``<workdir>/images/<key>.npy`` (N, H, W, 3 uint8, manifest order, read memory-mapped) with a
JSON sidecar saying what they are. The key covers the dataset's manifest digest, the split, the geometric
steps' descriptions (sizes, crop, interpolation) and the Pillow version: a different preprocessing never
reuses an entry, while models differing only in mean/std or in the network share one. Written atomically
under a file lock, so two processes build an entry once. Opt-in (``--image-cache``): an entry costs
H x W x 3 bytes per image (SOP's 120k images at 224 px: 18 GB).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.core.errors import HarnessError
from harness.core.keys import content_key, item_keys_digest
from harness.storage.workdir import Workdir

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from harness.compute.datasets.base import Dataset, Item, Manifest

log = logging.getLogger(__name__)

#: bump when the stored format or the way pixels are made changes
IMAGE_CACHE_FORMAT = 1


@dataclass(frozen=True)
class SplitTransform:
    """A model's transform split at ToTensor: ``geometry`` (PIL -> PIL, cached) and the device-side rest."""

    geometry: Callable[[Image.Image], Image.Image]
    description: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def normalise(self, batch: torch.Tensor, memory_format: torch.memory_format) -> torch.Tensor:
        """(N, H, W, 3) uint8 on the device -> (N, 3, H, W) float32 as ToTensor + Normalize make it."""
        import torch

        device = batch.device
        x = batch.permute(0, 3, 1, 2).contiguous(memory_format=memory_format).to(torch.float32)
        x = x.div_(torch.tensor(255.0, device=device))
        mean = torch.tensor(self.mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        return x.sub_(mean).div_(std)


def _describe(step: Any) -> str:
    """A stable description of one transform step: its repr (sizes, crop, interpolation), or its qualified
    name where the repr carries an address (a function's, which changes with every process)."""
    text = repr(step)
    if " at 0x" in text:
        name = getattr(step, "__qualname__", type(step).__qualname__)
        return f"{getattr(step, '__module__', type(step).__module__)}.{name}"
    return text


def split_transform(transform: Any) -> SplitTransform | None:
    """The transform as cached geometry + device-side normalisation, or None where it is not a torchvision
    ``Compose`` ending in ``ToTensor`` (timm's MaybeToTensor too) and ``Normalize``."""
    from torchvision import transforms as T

    steps = list(getattr(transform, "transforms", []))
    if len(steps) < 2 or not isinstance(steps[-1], T.Normalize) or "ToTensor" not in type(steps[-2]).__name__:
        return None
    mean, std = steps[-1].mean, steps[-1].std
    if len(mean) != 3 or len(std) != 3:
        return None
    geometric = steps[:-2]
    return SplitTransform(
        T.Compose(geometric), [_describe(s) for s in geometric], tuple(map(float, mean)), tuple(map(float, std))
    )


def entry_key(manifest: Manifest, split_name: str, transform: SplitTransform) -> str:
    import PIL

    return content_key(
        {"format": IMAGE_CACHE_FORMAT, "dataset": manifest.dataset_id, "manifest": manifest.digest,
         "split": split_name, "geometry": transform.description, "pillow": PIL.__version__},
        length=64,
    )  # fmt: skip


class _Pixels:
    """A torch-style map dataset: item -> (H, W, 3) uint8 after the geometric steps, or the error as text."""

    def __init__(self, dataset: Dataset, items: list[Item], geometry: Callable[[Image.Image], Image.Image]) -> None:
        self.dataset, self.items, self.geometry = dataset, items, geometry

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[np.ndarray | None, str]:
        try:
            return np.asarray(self.geometry(self.dataset.load_image(self.items[index]))), ""
        except HarnessError as exc:
            return None, str(exc)


def _stack(batch: list[tuple[np.ndarray | None, str]]) -> tuple[np.ndarray | None, list[str]]:
    errors = [error for _, error in batch if error]
    shapes = {p.shape for p, _ in batch if p is not None}
    if not errors and (len(shapes) > 1 or any(len(s) != 3 or s[2] != 3 for s in shapes)):
        errors = [f"the preprocessing makes images of shapes {sorted(shapes)}, not one (H, W, 3): not cacheable"]
    return (None if errors else np.stack([p for p, _ in batch if p is not None])), errors


class ImageCache:
    """A folder of ``<key>.npy`` (uint8 pixels) + ``<key>.json`` entries; see the module docstring."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / f"{key}.npy"

    def load(self, key: str, count: int) -> np.ndarray | None:
        """The entry, memory-mapped, or None where it is missing or not a complete (count, H, W, 3) uint8 array."""
        path = self.path(key)
        if not path.exists() or not path.with_suffix(".json").exists():
            return None
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
            if array.dtype != np.uint8 or array.ndim != 4 or array.shape[0] != count or array.shape[3] != 3:
                raise ValueError(f"shape {array.shape}, dtype {array.dtype}")
        except (OSError, ValueError, EOFError) as exc:
            log.warning("image cache entry '%s' is unreadable (%s): building it again", path, exc)
            return None
        return array

    def get(
        self, dataset: Dataset, split_name: str, items: list[Item], transform: SplitTransform, workers: int
    ) -> tuple[np.ndarray, bool]:
        """The split's pixels (memory-mapped) and whether they were there already; built under a lock."""
        from harness.core.locks import file_lock

        key = entry_key(dataset.manifest(), split_name, transform)
        found = self.load(key, len(items))
        if found is not None:
            return found, True
        with file_lock(
            Workdir(self.root.parent).lock(f"images-{key}"), f"the image cache of {dataset.id}/{split_name}"
        ):
            found = self.load(key, len(items))
            if found is not None:
                return found, True
            self._build(key, dataset, split_name, items, transform, workers)
        built = self.load(key, len(items))
        if built is None:  # pragma: no cover  (just written and renamed)
            raise HarnessError(f"image cache entry '{self.path(key)}' vanished after it was written")
        return built, False

    def _build(
        self, key: str, dataset: Dataset, split_name: str, items: list[Item], transform: SplitTransform, workers: int
    ) -> None:
        from torch.utils.data import DataLoader

        from harness.core.io import atomic_path, atomic_write
        from harness.core.procs import die_with_parent
        from harness.core.progress import progress_bar

        started = time.perf_counter()
        loader: DataLoader[tuple[np.ndarray | None, list[str]]] = DataLoader(
            _Pixels(dataset, items, transform.geometry),  # type: ignore[arg-type]
            batch_size=64,
            num_workers=workers,
            collate_fn=_stack,
            worker_init_fn=die_with_parent,
            prefetch_factor=4 if workers > 0 else None,
        )
        # the sidecar is written inside, so the entry's .npy appears (renamed last) only with its sidecar beside it
        with atomic_path(self.path(key)) as tmp:
            out: np.memmap | None = None
            done = 0
            with progress_bar(transient=True) as progress:
                task = progress.add_task(f"decoding {dataset.id}/{split_name} into the image cache", total=len(items))
                for pixels, errors in loader:
                    if pixels is None:
                        raise HarnessError(errors[0])
                    if out is None:
                        shape = (len(items), *pixels.shape[1:])
                        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
                    if pixels.shape[1:] != out.shape[1:]:
                        raise HarnessError(
                            f"the preprocessing makes images of different shapes ({pixels.shape[1:]} and "
                            f"{out.shape[1:]}): not cacheable"
                        )
                    out[done : done + len(pixels)] = pixels
                    done += len(pixels)
                    progress.advance(task, len(pixels))
            if out is None:
                raise HarnessError(f"dataset '{dataset.id}' has no images in split '{split_name}'")
            shape = out.shape
            out.flush()
            del out
            meta = {"format": IMAGE_CACHE_FORMAT, "dataset": dataset.id, "manifest": dataset.manifest().digest,
                    "split": split_name, "geometry": transform.description, "shape": shape,
                    "item_keys_sha256": item_keys_digest([item.key for item in items]),
                    "build_s": time.perf_counter() - started}  # fmt: skip
            atomic_write(self.path(key).with_suffix(".json"), json.dumps(meta, indent=2).encode())
        log.info("image cache: %s/%s decoded once in %.1f s", dataset.id, split_name, time.perf_counter() - started)
