"""Fused product documents: normalise(w * image + (1 - w) * title), both unit vectors (Marqo's multi-field
documents: its category tasks use w = 0.9). One definition for the retrieval suite's image queries and the
text_retrieval suite's text queries; an item without a title stays its image."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.compute.extract.vectors import l2_normalise
from harness.compute.suites.declarations.retrieval import FUSED_FIELD
from harness.compute.text.encode import prompt_embeddings

if TYPE_CHECKING:
    from harness.compute.datasets.base import Dataset, Item
    from harness.compute.models.base import EmbeddingModel
    from harness.spec.settings import Extraction


def fused_documents(
    model: EmbeddingModel, dataset: Dataset, items: Sequence[Item], images: np.ndarray, weight: float,
    settings: Extraction,
) -> tuple[np.ndarray, dict[str, Any]]:  # fmt: skip
    """The documents of ``items`` (rows of ``images``, unit vectors) and what was fused, for the cell's details."""
    texts = dataset.texts(FUSED_FIELD)
    titled = [i for i, item in enumerate(items) if item.key in texts.by_key]
    titles = images.copy()
    if titled:
        words = [texts.by_key[items[i].key] for i in titled]
        titles[titled] = prompt_embeddings(model, words, ("{c}",), settings)
    details = {"image_weight": weight, "field": FUSED_FIELD, "texts_digest": texts.digest,
               "items_without_title": len(items) - len(titled)}  # fmt: skip
    return l2_normalise(weight * images + (1.0 - weight) * titles), details
