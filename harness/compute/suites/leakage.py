"""The leakage suite: train/test pairs of the same picture (harness.compute.datasets.duplicates), counted and listed,
and the retrieval metrics of the evaluated split with and without the queries that have such a partner in training.

The embeddings are the cell's strategy's (harness.compute.suites.served): the pre-trained backbone's finds the pairs a
user would call duplicates; a top-tuned one shows how much its score rests on them. ``threshold`` is the
cosine at or above which two images count as near-identical (stated in every row: ``leak_threshold``).

Metrics: the retrieval suite's (every query), ``clean_mmp_at_5`` / ``clean_recall_at_1`` / ``clean_map_at_r``
(the same per-query values averaged over the queries without a training partner; absent when none is left),
``n_near_duplicate_pairs``, ``n_identical_pairs``, ``n_leaked_queries``, ``n_clean_queries``. The pairs (at most
``list_pairs`` of them, highest cosine first) are in the run's details, and the report lists them per dataset.
"""

from __future__ import annotations

import numpy as np

from harness.compute.datasets.duplicates import find_pairs
from harness.compute.retrieval import leave_one_out
from harness.compute.retrieval.metrics import per_query_metrics, relevant_counts
from harness.compute.suites import Context, per_query
from harness.compute.suites.declarations.leakage import check_params
from harness.compute.suites.retrieval import MAX_DEPTH, MIN_DEPTH, cell_index
from harness.compute.suites.served import served, split_labels

CLEANED = ("mmp_at_5", "recall_at_1", "map_at_r")


def run(ctx: Context) -> dict[str, float]:
    p = ctx.params
    check_params(p)
    vectors, costs = served(ctx)
    labels = split_labels(ctx, p["split"])
    train, test = vectors("train", "fp32"), vectors(p["split"], "fp32")
    pairs = find_pairs(ctx.dataset.manifest(), train, test, float(p["threshold"]), p["split"])
    leaked = np.unique([pair.test for pair in pairs]).astype(np.int64)

    n_relevant = relevant_counts(labels, labels, leave_one_out=True)
    depth = int(min(max(MIN_DEPTH, n_relevant.max()), MAX_DEPTH, len(labels) - 1))
    with cell_index(ctx) as index:
        neighbours = leave_one_out(index, test, depth)
    scored = per_query_metrics(labels[neighbours], labels, n_relevant)
    metrics = scored.means().as_dict()
    metrics.update(per_query.record(ctx, scored.query, scored.values))
    clean = ~np.isin(scored.query, leaked)
    if clean.any():
        metrics.update({f"clean_{name}": float(scored.values[name][clean].mean()) for name in CLEANED})
    metrics.update(
        leak_threshold=float(p["threshold"]),
        n_near_duplicate_pairs=float(sum(pair.near for pair in pairs)),
        n_identical_pairs=float(sum(pair.identical for pair in pairs)),
        n_leaked_queries=float(len(leaked)),
        n_clean_queries=float(clean.sum()),
        search_depth=float(depth),
        embedding_dim=float(test.shape[1]),
    )
    shown = sorted(pairs, key=lambda pair: (-(pair.cosine or 0.0), pair.train, pair.test))[: p["list_pairs"]]
    ctx.details["leakage"] = {
        "threshold": float(p["threshold"]),
        "pairs": [pair.as_dict() for pair in shown],
        "listed": len(shown),
        "total": len(pairs),
    }
    return {**metrics, **costs}
