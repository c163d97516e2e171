"""Leave-one-out retrieval inside a sample: every sampled item queries every other sampled item, exactly
(L2 on L2-normalised vectors, ties broken by position), and each query's mMP@5 and mR@1 come from
harness.compute.retrieval.metrics, the grid's own metric code. Samples are small, so this is a dense
similarity matrix in blocks of rows."""

from __future__ import annotations

import numpy as np

from harness.compute.retrieval.metrics import per_query_metrics, relevant_counts

#: the per-query metrics racing reads (names as in the results database)
METRICS = ("mmp_at_5", "recall_at_1")
DEPTH = 5
_BLOCK = 1024


def sample_values(vectors: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """(N,) per-query values of each of ``METRICS`` for the N sampled items (every one has R >= 1)."""
    x = np.asarray(vectors, dtype=np.float32)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    y = np.asarray(labels)
    depth = min(DEPTH, len(x) - 1)
    neighbours = np.empty((len(x), depth), dtype=np.int64)
    for start in range(0, len(x), _BLOCK):
        sims = x[start : start + _BLOCK] @ x.T
        rows = np.arange(len(sims))
        sims[rows, start + rows] = -np.inf  # leave the query itself out
        neighbours[start : start + len(sims)] = np.argsort(-sims, axis=1, kind="stable")[:, :depth]
    per_query = per_query_metrics(y[neighbours], y, relevant_counts(y, y, leave_one_out=True))
    if per_query.n_excluded:  # a stratified sample holds >= 2 of each class; anything else is a caller's bug
        raise ValueError(f"{per_query.n_excluded} sampled queries have no relevant item")
    return {name: per_query.values[name] for name in METRICS}
