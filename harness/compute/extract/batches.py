"""Input batches for the forward loop, already on the device: decoded and transformed per model in worker
processes, or read from the image cache (harness.compute.extract.image_cache) and normalised on the device.

Each source is a :data:`Batches` callable; the forward loop (harness.compute.extract.embeddings) calls it with
the device and the memory format once it has moved the model there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness.core.errors import HarnessError
from harness.core.procs import die_with_parent

if TYPE_CHECKING:
    import torch

    from harness.compute.datasets.base import Dataset, Item
    from harness.compute.extract.cache import EmbeddingCache
    from harness.compute.extract.image_cache import SplitTransform
    from harness.compute.models.base import EmbeddingModel
    from harness.spec.settings import Extraction

    #: (device, memory format) -> the batches of one split, on that device in that format
    Batches = Callable[[torch.device, torch.memory_format], Iterator[torch.Tensor]]

log = logging.getLogger(__name__)


class _Images:
    """A torch-style map dataset over items; errors travel back as text so the message stays clear."""

    def __init__(self, dataset: Dataset, items: list[Item], model: EmbeddingModel) -> None:
        self.dataset, self.items, self.transform = dataset, items, model.transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor | None, str]:
        try:
            return self.transform(self.dataset.load_image(self.items[index])), ""
        except HarnessError as exc:
            return None, str(exc)


def _collate(batch: list[tuple[torch.Tensor | None, str]]) -> tuple[torch.Tensor | None, list[str]]:
    """Runs in the worker: hand errors to the main process as data rather than as a wrapped exception."""
    import torch

    errors = [error for _, error in batch if error]
    return (None if errors else torch.stack([t for t, _ in batch if t is not None])), errors


def image_batches(model: EmbeddingModel, dataset: Dataset, items: list[Item], settings: Extraction) -> Batches:
    """The items decoded and transformed by the model's own transform in worker processes.

    On CUDA, batches are collated into pinned memory and copied without blocking, so decoding the next batch
    overlaps the copy and the forward pass.
    """
    from torch.utils.data import DataLoader

    loader: DataLoader[tuple[torch.Tensor | None, list[str]]] = DataLoader(
        _Images(dataset, items, model),  # type: ignore[arg-type]
        batch_size=settings.batch_size,
        num_workers=settings.workers,
        collate_fn=_collate,
        worker_init_fn=die_with_parent,  # a SIGKILLed run leaves no decoding worker behind (harness.core.procs)
        pin_memory=settings.on_cuda,
        persistent_workers=settings.workers > 0,
        prefetch_factor=4 if settings.workers > 0 else None,
    )

    def batches(device: torch.device, memory_format: torch.memory_format) -> Iterator[torch.Tensor]:
        for batch, errors in loader:
            if batch is None:
                raise HarnessError(errors[0])
            yield batch.to(device, non_blocking=True, memory_format=memory_format)

    return batches


def cached_pixels(
    model: EmbeddingModel, dataset: Dataset, split: str, items: list[Item], cache: EmbeddingCache,
    settings: Extraction,
) -> tuple[np.ndarray, SplitTransform] | None:  # fmt: skip
    """The split decoded and resized once (harness.compute.extract.image_cache) with the model's device-side
    rest, or None where the model's transform is not cacheable (it then decodes per model, as without the
    cache)."""
    from harness.compute.extract.image_cache import ImageCache, split_transform

    transform = split_transform(model.transform)
    if transform is None:
        log.info("image cache: the preprocessing of %s is not resize/crop + ToTensor + Normalize", model.model_id)
        return None
    pixels, _ = ImageCache(cache.images).get(dataset, split, items, transform, settings.workers)
    return pixels, transform


def pixel_batches(pixels: np.ndarray, transform: SplitTransform, settings: Extraction) -> Batches:
    """Batches of cached uint8 pixels: read from the memory-mapped array (in up to 2 worker processes, so
    reading and pinning the next batch overlaps the forward pass), copied to the device (pinned, without
    blocking, on CUDA) and normalised there."""
    import torch
    from torch.utils.data import DataLoader

    filename = getattr(pixels, "filename", None)
    source = PixelBatches(Path(filename), len(pixels), settings.batch_size) if filename else None
    workers = min(2, settings.workers) if source is not None else 0
    loader: DataLoader[torch.Tensor] | None = None
    if source is not None and workers:
        loader = DataLoader(source, batch_size=None, num_workers=workers, pin_memory=settings.on_cuda,  # type: ignore[arg-type]
                            worker_init_fn=die_with_parent, prefetch_factor=2)  # fmt: skip

    def batches(device: torch.device, memory_format: torch.memory_format) -> Iterator[torch.Tensor]:
        if loader is not None:
            hosts: Iterator[torch.Tensor] = iter(loader)
        else:
            hosts = (torch.from_numpy(np.array(pixels[start : start + settings.batch_size]))  # a writable copy
                     for start in range(0, len(pixels), settings.batch_size))  # fmt: skip
        for host in hosts:
            if settings.on_cuda and not host.is_pinned():
                host = host.pin_memory()
            yield transform.normalise(host.to(device, non_blocking=True), memory_format)

    return batches


class PixelBatches:
    """Batch ``i`` of a memory-mapped image cache entry, opened in the worker (a memmap pickles as a copy)."""

    def __init__(self, path: Path, count: int, batch_size: int) -> None:
        self.path, self.count, self.batch_size = path, count, batch_size
        self._array: np.ndarray | None = None

    def __len__(self) -> int:
        return -(-self.count // self.batch_size)

    def __getitem__(self, index: int) -> torch.Tensor:
        import torch

        if self._array is None:
            self._array = np.load(self.path, mmap_mode="r", allow_pickle=False)
        start = index * self.batch_size
        return torch.from_numpy(np.array(self._array[start : start + self.batch_size]))
