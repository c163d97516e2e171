"""Embedding extraction with a content-addressed cache, computed once and reused by every suite.

The cache key covers everything that determines the numbers: the model id and the digest of the weights
actually loaded, the dataset's manifest digest, the split, the resolved preprocessing, the kind of device
that ran the forward passes (a GPU's embeddings differ from the CPU's in the last bits), and, where they are
not the defaults, the autocast precision and the memory format: an fp32 and a bf16 embedding never share an
entry, while every entry made before these settings existed (fp32, contiguous) keeps its key.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.core.errors import HarnessError
from harness.core.io import atomic_write, fsync_path
from harness.core.keys import content_key, item_keys_digest
from harness.core.precision import autocast_dtype
from harness.core.procs import die_with_parent
from harness.spec.settings import Extraction as ExtractionSettings  # re-exported: the settings live in spec
from harness.spec.settings import numeric_settings
from harness.storage.workdir import Workdir

if TYPE_CHECKING:
    import torch

    from harness.compute.datasets.base import Dataset, Item, Manifest
    from harness.compute.extract.image_cache import SplitTransform
    from harness.compute.models.base import EmbeddingModel

log = logging.getLogger(__name__)

#: bump when the stored format or the extraction procedure changes, so old entries are not reused
CACHE_FORMAT = 2


def default_workers() -> int:
    """Decoding workers sized from the cores this process may use: all but one for the forward loop, at most
    16 (CPU JPEG decoding runs at a few hundred images per second per core, so a GPU needs many)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(16, cores - 1))


class EmbeddingCache:
    """A folder of ``<key>.npy`` files (float32, one row per item, manifest order) with JSON sidecars.

    ``shared`` is a read-only folder consulted after ``root``: a container reads the host's cache there but
    writes only its own, so no run can plant vectors that another run reuses.
    """

    def __init__(self, root: Path, shared: Path | None = None) -> None:
        self.root, self.shared = root, shared

    @staticmethod
    def key(
        model: EmbeddingModel,
        manifest: Manifest,
        split: str,
        device: str,
        precision: str = "fp32",
        channels_last: bool = False,
    ) -> str:
        fields: dict[str, Any] = {
            "format": CACHE_FORMAT,
            "model": model.model_id,
            "weights": model.weights_digest,
            "dataset": manifest.dataset_id,
            "manifest": manifest.digest,
            "split": split,
            "preprocessing": model.preprocessing,
            "device": device.partition(":")[0],
        }
        fields.update(numeric_settings(precision, channels_last))  # older fp32 entries keep their keys
        return content_key(fields, length=64)

    def path(self, key: str) -> Path:
        return self.root / f"{key}.npy"

    @property
    def images(self) -> Path:
        """The workdir's decoded-image cache (harness.compute.extract.image_cache), beside this one."""
        return Workdir(self.root.parent).images

    def load(self, key: str) -> np.ndarray | None:
        """The stored array, or None where there is none or it is unreadable (a zero-byte or torn file, as a
        power cut can leave, or anything but a plain 2-D float32 array): that entry is then recomputed."""
        path = self.path(key)
        if not path.exists() and self.shared is not None:
            path = self.shared / path.name
        if not path.exists():
            return None
        try:
            array = np.load(path, allow_pickle=False)
            if not isinstance(array, np.ndarray) or array.ndim != 2 or array.dtype != np.float32:
                raise ValueError(f"not a 2-D float32 array ({getattr(array, 'dtype', type(array))})")
        except (OSError, ValueError, EOFError) as exc:
            log.warning(
                "embedding cache entry '%s' is unreadable (%s): computing it again", path, str(exc) or "empty file"
            )
            return None
        return array

    def store(self, key: str, array: np.ndarray, meta: dict[str, Any]) -> None:
        """Write atomically and durably: a crash or power cut leaves either no entry or a complete one."""
        atomic_write(self.path(key).with_suffix(".json"), json.dumps(meta, indent=2, default=str).encode())
        tmp_name = ""
        try:
            with tempfile.NamedTemporaryFile(dir=self.root, suffix=".tmp", delete=False) as tmp:
                tmp_name = tmp.name
                np.save(tmp, array)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp.name, self.path(key))
        except OSError as exc:  # a full disk, most likely: say where, and leave no half-written file
            if tmp_name:
                Path(tmp_name).unlink(missing_ok=True)
            raise HarnessError(f"cannot write embedding cache entry '{self.path(key)}': {exc.strerror or exc}") from exc
        fsync_path(self.root)


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (an all-zero row stays zero): the form every suite compares embeddings in."""
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def split_embeddings(
    model: EmbeddingModel,
    dataset: Dataset,
    split: str,
    cache: EmbeddingCache,
    settings: ExtractionSettings,
) -> tuple[np.ndarray, bool]:
    """Embeddings of one split in manifest order, from the cache when present; returns (array, was_cached)."""
    manifest = dataset.manifest()
    key = cache.key(model, manifest, split, settings.device, settings.precision, settings.channels_last)
    cached = cache.load(key)
    if cached is not None:
        return cached, True
    items = [manifest.items[i] for i in manifest.indices(split)]
    if not items:
        raise HarnessError(f"dataset '{dataset.id}' has no images in split '{split}'")
    label = f"{model.model_id} on {dataset.id}/{split}"
    pixels = cached_pixels(model, dataset, split, items, cache, settings) if settings.image_cache else None
    if pixels is None:
        array = extract(model, dataset, items, settings, label)
    else:
        array = extract_pixels(model, *pixels, settings, label)
    meta = {"model": model.model_id, "dataset": dataset.id, "split": split, "shape": array.shape,
            "precision": settings.precision, "channels_last": settings.channels_last,
            # the row order, for an outside checker: sha256 of the items' keys, one per line, in row order
            "item_keys_sha256": item_keys_digest([item.key for item in items])}  # fmt: skip
    cache.store(key, array, {**meta, "weights": model.weights_digest, "manifest": manifest.digest})
    return array, False


def cached_pixels(
    model: EmbeddingModel, dataset: Dataset, split: str, items: list[Item], cache: EmbeddingCache,
    settings: ExtractionSettings,
) -> tuple[np.ndarray, SplitTransform] | None:  # fmt: skip
    """The split decoded and resized once (harness.compute.extract.image_cache) with the model's device-side rest, or
    None
    where the model's transform is not cacheable (it then decodes per model, as without the cache)."""
    from harness.compute.extract.image_cache import ImageCache, split_transform

    transform = split_transform(model.transform)
    if transform is None:
        log.info("image cache: the preprocessing of %s is not resize/crop + ToTensor + Normalize", model.model_id)
        return None
    pixels, _ = ImageCache(cache.images).get(dataset, split, items, transform, settings.workers)
    return pixels, transform


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


def extract(
    model: EmbeddingModel, dataset: Dataset, items: list[Item], settings: ExtractionSettings, label: str
) -> np.ndarray:
    """Batched forward passes under inference mode, decoding in worker processes, with a progress bar.

    On CUDA, batches are collated into pinned memory and copied without blocking, so decoding the next batch
    overlaps the copy and the forward pass; ``settings.precision`` (autocast) and ``channels_last`` apply
    where set. The CPU default (fp32, contiguous) is the plain path it always was.
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

    return _forward(model, settings, label, len(items), batches)


def extract_pixels(
    model: EmbeddingModel, pixels: np.ndarray, transform: SplitTransform, settings: ExtractionSettings, label: str
) -> np.ndarray:
    """``extract`` over cached uint8 pixels (harness.compute.extract.image_cache): batches of the memory-mapped array
    are read
    (in up to 2 worker processes, so reading and pinning the next batch overlaps the forward pass), copied to
    the device (pinned, without blocking, on CUDA) and normalised there."""
    import torch
    from torch.utils.data import DataLoader

    filename = getattr(pixels, "filename", None)
    source = _PixelBatches(Path(filename), len(pixels), settings.batch_size) if filename else None
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

    return _forward(model, settings, label, len(pixels), batches)


class _PixelBatches:
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


def _forward(
    model: EmbeddingModel,
    settings: ExtractionSettings,
    label: str,
    total: int,
    batches: Callable[[torch.device, torch.memory_format], Iterator[torch.Tensor]],
) -> np.ndarray:
    """The forward loop both extraction paths share: ``batches`` yields input batches already on the device."""
    import torch

    from harness.core.progress import progress_bar

    device = torch.device(settings.device)
    memory_format = torch.channels_last if settings.channels_last else torch.contiguous_format
    model.module.to(device).eval()  # stays there: the next split or suite of this model reuses it
    if settings.channels_last:
        model.module.to(memory_format=memory_format)
    chunks: list[np.ndarray] = []
    with torch.inference_mode(), forward_precision(settings), progress_bar(transient=True) as progress:
        task = progress.add_task(f"embedding {label}", total=total)
        for batch in batches(device, memory_format):
            features = model.embed(batch)
            chunks.append(features.float().cpu().numpy())
            progress.advance(task, len(batch))
    if settings.channels_last:  # the next user of this model (fine-tuning, the cost suite) expects the default
        model.module.to(memory_format=torch.contiguous_format)
    array = np.concatenate(chunks).astype(np.float32)
    if not np.isfinite(array).all():
        raise HarnessError(f"model '{model.model_id}' produced non-finite embeddings on {label}")
    return array


def forward_precision(settings: ExtractionSettings) -> Any:
    """Autocast to the settings' precision on their device type, or nothing for fp32 (today's path).

    Where a device's autocast lacks the dtype, torch warns and silently runs fp32: an error here instead.
    """
    import contextlib
    import warnings

    import torch

    dtype = autocast_dtype(settings.precision)
    if dtype is None:
        return contextlib.nullcontext()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        context = torch.autocast(device_type=settings.device.partition(":")[0], dtype=dtype)
    refused = [str(w.message) for w in caught if "autocast" in str(w.message).lower()]
    if refused:
        raise HarnessError(f"{settings.precision} autocast is not supported on {settings.device}: {refused[0]}")
    for w in caught:  # the others, as they were
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return context
