"""The retrieval suite: leave-one-out search over the evaluation split; metrics as the README's "Metrics"
section defines them."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from harness.cost.prices import price_metrics
from harness.embed import l2_normalise, split_embeddings
from harness.errors import HarnessError
from harness.retrieval import leave_one_out, make_backend
from harness.retrieval.metrics import per_query_metrics, relevant_counts
from harness.suites import Context, per_query
from harness.suites.heads import head_costs, trained_head
from harness.suites.tuning import backbone, tuned_on

DEFAULTS: dict[str, Any] = {"backend": "milvus", "split": "test"}
#: harness.strategies; ``toptuned``'s embedding is the head's last hidden layer
STRATEGIES = ("pretrained", "toptuned", "finetuned", "crosstuned")
#: at least this many neighbours are searched (NDCG@10), and at most Milvus's limit
MIN_DEPTH, MAX_DEPTH = 10, 16_383


def run(ctx: Context) -> dict[str, float]:
    split = ctx.params["split"]
    tuning, source = tuned_on(ctx)  # tuned on a training split only: no leakage into the evaluation
    model, costs = backbone(ctx, tuning, source)
    started = time.perf_counter()
    vectors, cached = split_embeddings(model, ctx.dataset, split, ctx.cache, ctx.extraction)
    extract_s = time.perf_counter() - started
    manifest = ctx.dataset.manifest()
    labels = np.asarray(manifest.labels(manifest.indices(split)))
    if len(np.unique(labels)) < 2:  # every neighbour would be relevant: each metric 1.0, measuring nothing
        raise HarnessError(
            f"split '{split}' of '{ctx.dataset.id}' has one class: retrieval needs images of 2 classes or more"
        )

    if tuning == "toptuned":
        head = trained_head(ctx, model, source)
        vectors, costs = head.embed(vectors), head_costs(head)
    vectors = l2_normalise(vectors)
    n_relevant = relevant_counts(labels, labels, leave_one_out=True)
    # Deep enough for MAP@R of the largest class, capped by Milvus's limit (capped queries are counted).
    depth = int(min(max(MIN_DEPTH, n_relevant.max()), MAX_DEPTH, len(labels) - 1))

    backend = make_backend(ctx.params["backend"], ctx.milvus_uri)
    started = time.perf_counter()
    neighbours = leave_one_out(backend, vectors, depth)
    search_s = time.perf_counter() - started

    scored = per_query_metrics(labels[neighbours], labels, n_relevant)
    metrics = scored.means().as_dict()
    metrics.update(per_query.record(ctx, scored.query, scored.values))
    metrics.update(
        search_s=search_s,
        search_depth=float(depth),
        embedding_dim=float(vectors.shape[1]),
        embeddings_cached=float(cached),
    )
    if not cached:  # the extraction's cost, once: a cached run did not pay it
        metrics.update(extract_s=extract_s, **price_metrics(extract_s, ctx.extraction.device, prefix="extract_"))
    return {**metrics, **costs}
