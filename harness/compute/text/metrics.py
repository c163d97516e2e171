"""Ranked metrics of text queries against an image gallery, per query, in pure numpy.

Each query q has a group g(q) (its title, its category, its class); a gallery item is relevant to q when its
group is g(q), and R(q) counts the relevant items of the gallery. The search returns each query's K nearest
gallery items; rel(i) is 1 when the item at rank i (1-based) is relevant, P(i) the precision over ranks 1..i.
These are trec_eval's definitions on a run holding the top K items per query, binary relevance (the qrels
list every relevant item, so R is the whole gallery's count, not only the retrieved ones):

- hit@k (trec_eval ``success_k``): 1 if some item of ranks 1..k is relevant, else 0 (k = 1, 5, 10).
- Recall@1, Recall@10 (``recall_1``, ``recall_10``): relevant items among ranks 1..k / R (Marqo's leaderboards'
  Recall@k, BEIR's recall; equal to hit@k where every query has one relevant item).
- P@10 (``P_10``): relevant items among ranks 1..10 / 10, whatever R (Marqo's category-to-product
  leaderboards' P@10: a category query has many relevant products, so precision is what a shop sees).
- MRR (``recip_rank``): 1 / the rank of the first relevant item within K, 0 if none.
- nDCG@10 (``ndcg_cut_10``): sum_{i<=10} rel(i)/log2(i+1) over the ideal sum_{i<=min(10,R)} 1/log2(i+1).
- mAP (``map``): sum_{i<=K} P(i) rel(i) / R: relevant items ranked below K count as never retrieved.

Every query averages in (a query's own text comes from a gallery item, so R >= 1; a query with R = 0 would
be excluded and counted). Ties are broken by gallery index (trec_eval itself breaks score ties by document
name: tests compare on untied scores).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HIT_AT = (1, 5, 10)
CUTOFF = 10


@dataclass(frozen=True)
class TextScores:
    """Per counted query, each metric (name -> (Q',) float64); ``query`` the counted queries' positions."""

    query: np.ndarray
    values: dict[str, np.ndarray]
    n_excluded: int

    def means(self) -> dict[str, float]:
        return {name: float(v.mean()) for name, v in self.values.items()}


def group_counts(query_groups: np.ndarray, gallery_groups: np.ndarray) -> np.ndarray:
    """R per query: how many gallery items are in the query's group."""
    values, counts = np.unique(gallery_groups, return_counts=True)
    where = np.clip(np.searchsorted(values, query_groups), 0, len(values) - 1)
    return np.where(values[where] == query_groups, counts[where], 0).astype(np.int64)


def group_relevance(neighbour_groups: np.ndarray, query_groups: np.ndarray) -> np.ndarray:
    """(Q, K) rel: the neighbour at rank i is in the query's group."""
    return np.asarray(neighbour_groups) == np.asarray(query_groups)[:, None]


def text_scores(relevant: np.ndarray, n_relevant: np.ndarray) -> TextScores:
    """Every metric of the module docstring per query.

    Args:
        relevant: (Q, K) rel(i) of each query's K nearest gallery items, nearest first
            (:func:`group_relevance`, or a qrels file's judgements).
        n_relevant: (Q,) R per query (:func:`group_counts`, or the judged items present in the gallery).

    Raises:
        ValueError: on malformed shapes, or a query with more relevant neighbours than its R.
    """
    rel_all, r_all = np.asarray(relevant, dtype=bool), np.asarray(n_relevant)
    if rel_all.ndim != 2 or rel_all.shape[1] < 1 or r_all.shape != (len(rel_all),):
        raise ValueError(f"expected (Q, K>=1) relevance and (Q,) counts, got {rel_all.shape}, {r_all.shape}")
    if (rel_all.sum(axis=1) > r_all).any():
        raise ValueError("some query has more relevant neighbours than its n_relevant; R is inconsistent")
    counted = r_all > 0
    if not counted.any():
        raise ValueError(f"no query has a relevant item in the gallery (all {len(r_all)} excluded)")
    rel, r = rel_all[counted], r_all[counted].astype(np.float64)
    k = rel.shape[1]
    ranks = np.arange(1, k + 1)
    values: dict[str, np.ndarray] = {f"text_hit_at_{n}": np.any(rel[:, :n], axis=1).astype(np.float64) for n in HIT_AT}
    values["text_recall_at_1"] = rel[:, 0].astype(np.float64) / r
    values["text_recall_at_10"] = rel[:, :CUTOFF].sum(axis=1) / r
    values["text_precision_at_10"] = rel[:, :CUTOFF].sum(axis=1) / CUTOFF
    values["text_mrr"] = np.where(rel.any(axis=1), 1.0 / (rel.argmax(axis=1) + 1), 0.0)
    discounts = 1.0 / np.log2(np.arange(2, CUTOFF + 2))
    ideal = np.cumsum(discounts)[np.minimum(CUTOFF, r.astype(np.int64)) - 1]
    values["text_ndcg_at_10"] = (rel[:, :CUTOFF] @ discounts[: min(CUTOFF, k)]) / ideal
    values["text_map"] = (np.cumsum(rel, axis=1) / ranks * rel).sum(axis=1) / r
    return TextScores(np.flatnonzero(counted), values, int((~counted).sum()))
