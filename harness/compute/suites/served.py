"""The embeddings a cell serves: its strategy's backbone (pre-trained or fine-tuned) and head (top-tuned), at a
forward precision, L2-normalised; shared by the compression and leakage suites."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from harness.compute.extract.embeddings import split_embeddings
from harness.compute.extract.vectors import l2_normalise
from harness.compute.suites.heads import head_costs, trained_head
from harness.compute.suites.tuning import backbone, tuned_on
from harness.core.errors import HarnessError

if TYPE_CHECKING:
    from harness.compute.suites import Context

Vectors = Callable[[str, str], np.ndarray]  # (split, forward precision) -> (N, D) unit rows


def served(ctx: Context) -> tuple[Vectors, dict[str, float]]:
    """(split, precision) -> embeddings, and the cost of making the model (a fine-tune, a head search)."""
    tuning, source = tuned_on(ctx)  # tuned on a training split only
    model, costs = backbone(ctx, tuning, source)
    head = trained_head(ctx, model, source) if tuning == "toptuned" else None
    if head is not None:
        costs = {**costs, **head_costs(head)}

    def vectors(split: str, precision: str) -> np.ndarray:
        settings = dataclasses.replace(ctx.extraction, precision=precision)  # its own cache entry per precision
        raw, _ = split_embeddings(model, ctx.dataset, split, ctx.cache, settings)
        return l2_normalise(head.embed(raw) if head is not None else raw)

    return vectors, costs


def split_labels(ctx: Context, split: str) -> np.ndarray:
    """Labels of ``split``; a split of one class is an error (every neighbour would be relevant)."""
    manifest = ctx.dataset.manifest()
    labels = np.asarray(manifest.labels(manifest.indices(split)))
    if len(np.unique(labels)) < 2:
        raise HarnessError(
            f"split '{split}' of '{ctx.dataset.id}' has one class: retrieval needs images of 2 classes or more"
        )
    return labels
