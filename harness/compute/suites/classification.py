"""The classification suite: a top-tuned MLP head on frozen embeddings, scored once on the test split.

``finetuned``: the same head procedure on the embeddings of the backbone fine-tuned on the training split.
"""

from __future__ import annotations

import numpy as np

from harness.compute.extract.embeddings import split_embeddings
from harness.compute.suites import Context, per_query
from harness.compute.suites.heads import head_costs, trained_head
from harness.compute.suites.tuning import backbone, tuned_on
from harness.compute.toptune.metrics import classification_metrics, per_image_metrics
from harness.core.errors import HarnessError


def run(ctx: Context) -> dict[str, float]:
    manifest = ctx.dataset.manifest()
    test = manifest.indices(ctx.params["split"])
    labels = np.asarray(manifest.labels(test))
    tuning, source = tuned_on(ctx)
    model, costs = backbone(ctx, tuning, source)
    head = trained_head(ctx, model, ctx.dataset)
    classes = np.asarray(head.classes)
    unseen = ~np.isin(labels, classes)
    if unseen.any():
        names = sorted({manifest.items[i].class_name for i, u in zip(test, unseen, strict=True) if u})
        raise HarnessError(
            f"dataset '{ctx.dataset.id}': {int(unseen.sum())} {ctx.params['split']} images belong to "
            f"{len(names)} classes absent from the training split (e.g. {names[0]!r}); classification needs "
            "every evaluated class in training (metric-learning splits with disjoint classes: use retrieval)"
        )
    # The test split is touched here, once, after the search and the final training.
    x, _ = split_embeddings(model, ctx.dataset, ctx.params["split"], ctx.cache, ctx.extraction)
    y_true, proba = np.searchsorted(classes, labels), head.predict_proba(x)
    metrics = classification_metrics(y_true, proba)
    metrics.update(per_query.record(ctx, np.arange(len(y_true)), per_image_metrics(y_true, proba)))
    return {**metrics, **costs, **head_costs(head), "n_classes": float(len(classes)), "n_test": float(len(labels))}
