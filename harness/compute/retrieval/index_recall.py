"""How much of the exact neighbourhood an approximate index returns: recall@k as ann-benchmarks counts it, and
the plain id overlap beside it.

Both compare, per query, the index's k nearest ids with the exact search's k nearest ids over the same
(L2-normalised) vectors, and average over queries:

- **tie-aware recall@k** (``index_recall_at_10``; ann-benchmarks' ``knn`` metric, its ``get_recall_values``
  with ``knn_threshold``): a returned neighbour counts when its distance to the query is at most the exact
  k-th distance plus ``EPSILON``; the per-query count is divided by k. Distances are the cosine distance
  1 - cos (ann-benchmarks' "angular" distance) and are recomputed here from the vectors for the ids the index
  returned, as ann-benchmarks recomputes them, so an index's approximate distances never enter. Two product
  photos with the same embedding are equally near: returning either one is correct.
- **id overlap@k** (``index_overlap_at_10``): |ANN ids ∩ exact ids| / k. An index that returns the other of
  two equally distant items is marked down here, though its answer is as good; kept because it is what an
  engineer checking "did the index return *these* items" reads, and because a large gap between the two says
  the dataset has many exact duplicates.
"""

from __future__ import annotations

import numpy as np

#: ann-benchmarks' default tolerance on the k-th exact distance (its ``get_recall_values(epsilon=1e-3)``)
EPSILON = 1e-3


def cosine_distances(vectors: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """(N, k): 1 - cos between query q (row q of ``vectors``) and each of ``ids[q]``; ``vectors`` unit-norm."""
    x = np.asarray(vectors, dtype=np.float64)
    return 1.0 - np.einsum("qd,qkd->qk", x, x[ids])


def tie_aware_recall(
    vectors: np.ndarray, ann: np.ndarray, exact: np.ndarray, k: int, epsilon: float = EPSILON
) -> np.ndarray:
    """Per query: the share of the index's first ``k`` ids within the exact k-th distance + ``epsilon``."""
    _check(ann, exact, k)
    threshold = cosine_distances(vectors, exact[:, k - 1 : k])[:, 0] + epsilon
    within = cosine_distances(vectors, ann[:, :k]) <= threshold[:, None]
    return within.sum(axis=1) / k


def id_overlap(ann: np.ndarray, exact: np.ndarray, k: int) -> np.ndarray:
    """Per query: the share of the exact first ``k`` ids among the index's first ``k``."""
    _check(ann, exact, k)
    return (ann[:, :k, None] == exact[:, None, :k]).any(axis=2).sum(axis=1) / k


def _check(ann: np.ndarray, exact: np.ndarray, k: int) -> None:
    if ann.shape[0] != exact.shape[0] or min(ann.shape[1], exact.shape[1]) < k or k < 1:
        raise ValueError(
            f"index recall@{k} needs k >= 1 neighbours of the same queries, got {ann.shape} and {exact.shape}"
        )
