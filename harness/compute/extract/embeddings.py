"""A split's embeddings: from the embedding cache (harness.compute.extract.cache) when present, else batched
forward passes under inference mode (and autocast where the settings ask for it), stored for the next user."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.compute.extract.batches import cached_pixels, image_batches, pixel_batches
from harness.core.errors import HarnessError
from harness.core.keys import item_keys_digest
from harness.core.precision import autocast_dtype

if TYPE_CHECKING:
    from harness.compute.datasets.base import Dataset, Item
    from harness.compute.extract.batches import Batches
    from harness.compute.extract.cache import EmbeddingCache
    from harness.compute.extract.image_cache import SplitTransform
    from harness.compute.models.base import EmbeddingModel
    from harness.spec.settings import Extraction

log = logging.getLogger(__name__)


def split_embeddings(
    model: EmbeddingModel,
    dataset: Dataset,
    split: str,
    cache: EmbeddingCache,
    settings: Extraction,
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


def extract(model: EmbeddingModel, dataset: Dataset, items: list[Item], settings: Extraction, label: str) -> np.ndarray:
    """The items' embeddings, decoding in worker processes (harness.compute.extract.batches.image_batches)."""
    return forward(model, settings, label, len(items), image_batches(model, dataset, items, settings))


def extract_pixels(
    model: EmbeddingModel, pixels: np.ndarray, transform: SplitTransform, settings: Extraction, label: str
) -> np.ndarray:
    """``extract`` over cached uint8 pixels (harness.compute.extract.batches.pixel_batches)."""
    return forward(model, settings, label, len(pixels), pixel_batches(pixels, transform, settings))


def forward(model: EmbeddingModel, settings: Extraction, label: str, total: int, batches: Batches) -> np.ndarray:
    """The forward loop every extraction path shares, with a progress bar: ``batches`` yields input batches
    already on the device; ``settings.precision`` (autocast) and ``channels_last`` apply where set. The CPU
    default (fp32, contiguous) is the plain path it always was."""
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


def forward_precision(settings: Extraction) -> Any:
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
