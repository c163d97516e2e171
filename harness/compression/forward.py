"""Embeddings from a reduced-precision forward pass (bf16 or fp16 autocast), cached beside the fp32 ones.

The fp32 entry is harness.embed's own; a reduced-precision entry's key is that key plus the precision, so the
two never mix. Autocast wraps harness.embed.extract (decoding workers do no arithmetic, so they need none).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from harness.embed import extract, split_embeddings
from harness.errors import HarnessError
from harness.keys import content_key
from harness.precision import PRECISIONS, autocast_dtype

if TYPE_CHECKING:
    from harness.datasets.base import Dataset
    from harness.embed import EmbeddingCache, ExtractionSettings
    from harness.models.base import EmbeddingModel


def forward_embeddings(
    model: EmbeddingModel,
    dataset: Dataset,
    split: str,
    cache: EmbeddingCache,
    settings: ExtractionSettings,
    precision: str,
) -> tuple[np.ndarray, bool]:
    """(float32 embeddings of ``split`` from a ``precision`` forward pass, was_cached)."""
    import torch

    if precision not in PRECISIONS:
        raise HarnessError(f"forward precision '{precision}': expected one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return split_embeddings(model, dataset, split, cache, settings)
    manifest = dataset.manifest()
    base = cache.key(model, manifest, split, settings.device)
    key = content_key({"embeddings": base, "forward_precision": precision}, length=64)
    cached = cache.load(key)
    if cached is not None:
        return cached, True
    items = [manifest.items[i] for i in manifest.indices(split)]
    if not items:
        raise HarnessError(f"dataset '{dataset.id}' has no images in split '{split}'")
    device_type = torch.device(settings.device).type
    label = f"{model.model_id} on {dataset.id}/{split} ({precision} forward)"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with torch.autocast(device_type=device_type, dtype=autocast_dtype(precision)):
                array = extract(model, dataset, items, settings, label)
        except RuntimeError as exc:
            raise HarnessError(f"{precision} forward pass on {settings.device} failed: {exc}") from exc
    # torch warns, and silently runs fp32, where a device's autocast lacks the dtype: an error here
    refused = [str(w.message) for w in caught if "autocast" in str(w.message).lower()]
    if refused:
        raise HarnessError(f"{precision} autocast is not supported on {settings.device}: {refused[0]}")
    for w in caught:  # the others, as they were
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    cache.store(key, array, {"model": model.model_id, "dataset": dataset.id, "split": split,
                             "forward_precision": precision, "shape": array.shape})  # fmt: skip
    return array, False
