"""Retrieval metrics over ranked neighbour labels, in pure numpy.

Inputs: for each query q, the labels of its K nearest gallery items ranked nearest first (the query itself
already removed under leave-one-out), the query's label, and R = the number of relevant gallery items.
A gallery item at rank i (1-based) is relevant when ``neighbor_labels[q, i] == query_labels[q]``; rel(i) is
1 if so, else 0, and P(i) is the precision over ranks 1..i.

Per query, then averaged over the counted queries:

- mMP@5 (Google Universal Image Embedding challenge): (#relevant among the top 5) / min(5, R).
- mR@1: 1 if the nearest neighbour is relevant, else 0.
- MAP@R (Musgrave, Belongie, Lim 2020, "A Metric Learning Reality Check"):
  (1/R) * sum_{i=1..R} P(i) * rel(i). When R > K, R_eff = K replaces R in both the sum and the divisor and
  the query counts in ``n_capped``.
- MRR: 1 / rank of the first relevant item within the top K, 0 if there is none.
- NDCG@10 (binary relevance): DCG / IDCG with DCG = sum_{i=1..min(10,K)} rel(i) / log2(i+1) and
  IDCG = sum_{i=1..min(10,R)} 1 / log2(i+1).

Queries with R == 0 are excluded from every mean and counted in ``n_excluded``. mMP@5 and NDCG@10 keep their
divisors min(5, R) and IDCG even when K < 5 or K < 10, so a search shallower than the cut-off can only
lower them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

_NDCG_CUTOFF = 10
_MP_CUTOFF = 5


@dataclass(frozen=True)
class RetrievalMetrics:
    """Means over the counted queries, plus the query bookkeeping.

    Attributes:
        mmp_at_5: mMP@5.
        recall_at_1: mR@1.
        map_at_r: MAP@R.
        mrr: mean reciprocal rank of the first relevant item within the searched depth K.
        ndcg_at_10: binary-relevance NDCG@10.
        n_queries: queries that counted.
        n_excluded: queries with no relevant item in the gallery, excluded from every mean.
        n_capped: counted queries whose R exceeded the searched depth K (MAP@R computed over K).
    """

    mmp_at_5: float
    recall_at_1: float
    map_at_r: float
    mrr: float
    ndcg_at_10: float
    n_queries: int
    n_excluded: int
    n_capped: int

    def as_dict(self) -> dict[str, float]:
        return {key: float(value) for key, value in asdict(self).items()}


def relevant_counts(query_labels: np.ndarray, gallery_labels: np.ndarray, leave_one_out: bool) -> np.ndarray:
    """R per query: how many gallery items share the query's label.

    Args:
        query_labels: (Q,) labels.
        gallery_labels: (N,) labels.
        leave_one_out: the queries are themselves in the gallery, so each one's own item is not counted.

    Returns:
        (Q,) int64 counts.
    """
    queries, gallery = np.asarray(query_labels), np.asarray(gallery_labels)
    if queries.ndim != 1 or gallery.ndim != 1:
        raise ValueError(f"labels must be 1-D, got query {queries.shape} and gallery {gallery.shape}")
    values, counts = np.unique(gallery, return_counts=True)
    where = np.searchsorted(values, queries)
    found = where < len(values)
    found[found] = values[where[found]] == queries[found]
    result = np.zeros(len(queries), dtype=np.int64)
    result[found] = counts[where[found]]
    if leave_one_out:
        if not found.all():
            raise ValueError("leave_one_out needs every query label in the gallery (the query is its own item)")
        result -= 1
    return result


@dataclass(frozen=True)
class PerQuery:
    """Each metric's value per counted query (float64, in query order), and which queries counted.

    Attributes:
        query: (Q',) positions of the counted queries among the Q given (R > 0), ascending.
        values: metric name (as in :class:`RetrievalMetrics`) -> (Q',) values; their means are the metrics.
        n_excluded: queries with R == 0.
        n_capped: counted queries whose R exceeded K.
    """

    query: np.ndarray
    values: dict[str, np.ndarray]
    n_excluded: int
    n_capped: int

    def means(self) -> RetrievalMetrics:
        return RetrievalMetrics(
            **{name: float(v.mean()) for name, v in self.values.items()},
            n_queries=len(self.query),
            n_excluded=self.n_excluded,
            n_capped=self.n_capped,
        )


def retrieval_metrics(
    neighbor_labels: np.ndarray, query_labels: np.ndarray, n_relevant: np.ndarray
) -> RetrievalMetrics:
    """Compute every metric of the module docstring (the means of :func:`per_query_metrics`)."""
    return per_query_metrics(neighbor_labels, query_labels, n_relevant).means()


def per_query_metrics(neighbor_labels: np.ndarray, query_labels: np.ndarray, n_relevant: np.ndarray) -> PerQuery:
    """Every metric of the module docstring, per counted query (for intervals and paired tests).

    Args:
        neighbor_labels: (Q, K) labels of each query's K nearest gallery items, nearest first, self removed.
        query_labels: (Q,) labels of the queries.
        n_relevant: (Q,) number R of relevant gallery items per query.

    Raises:
        ValueError: on malformed shapes, negative R, more relevant neighbours than R, or no counted query.
    """
    neighbors, labels, r_all = np.asarray(neighbor_labels), np.asarray(query_labels), np.asarray(n_relevant)
    if neighbors.ndim != 2:
        raise ValueError(f"neighbor_labels must be 2-D (Q, K), got shape {neighbors.shape}")
    n_q, k = neighbors.shape
    if k < 1:
        raise ValueError("neighbor_labels must have at least one column (K >= 1)")
    if labels.shape != (n_q,) or r_all.shape != (n_q,):
        raise ValueError(
            f"query_labels {labels.shape} and n_relevant {r_all.shape} must both have shape ({n_q},) "
            "to match neighbor_labels"
        )
    if (r_all < 0).any():
        raise ValueError("n_relevant must be non-negative")
    relevant_all = neighbors == labels[:, None]
    # A caller that forgot to drop the query itself, or passed R from the wrong gallery, lands here.
    if (relevant_all.sum(axis=1) > r_all).any():
        raise ValueError("some query has more relevant neighbours than its n_relevant; R is inconsistent")

    counted = r_all > 0
    if not counted.any():
        raise ValueError(f"no query has a relevant item in the gallery (all {n_q} excluded)")
    rel = relevant_all[counted]
    r = r_all[counted].astype(np.int64)
    ranks = np.arange(1, k + 1)

    mmp = rel[:, :_MP_CUTOFF].sum(axis=1) / np.minimum(_MP_CUTOFF, r)

    r_eff = np.minimum(r, k)
    in_first_r = ranks[None, :] <= r_eff[:, None]
    precision = np.cumsum(rel, axis=1) / ranks
    map_r = np.where(rel & in_first_r, precision, 0.0).sum(axis=1) / r_eff

    has_hit = rel.any(axis=1)
    reciprocal = np.where(has_hit, 1.0 / (rel.argmax(axis=1) + 1), 0.0)

    discounts = 1.0 / np.log2(np.arange(2, _NDCG_CUTOFF + 2))
    dcg = rel[:, :_NDCG_CUTOFF] @ discounts[: min(_NDCG_CUTOFF, k)]
    idcg = np.cumsum(discounts)[np.minimum(_NDCG_CUTOFF, r) - 1]

    values = {
        "mmp_at_5": mmp,
        "recall_at_1": rel[:, 0].astype(np.float64),
        "map_at_r": map_r,
        "mrr": reciprocal,
        "ndcg_at_10": dcg / idcg,
    }
    return PerQuery(np.flatnonzero(counted), values, int(n_q - counted.sum()), int((r > k).sum()))
