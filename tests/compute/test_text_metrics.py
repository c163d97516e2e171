"""The text-retrieval metrics: hand-computed cases, and trec_eval itself (pytrec_eval) on random runs.

trec_eval conventions followed: binary relevance; the qrels list every relevant gallery item (so R counts
relevant items the run never retrieved); the run holds the top K items in our order (scores are 1/rank, so
trec_eval's own score sort keeps it); measures ``success_1/5/10`` (hit@k), ``recall_1``, ``recall_10``, ``P_10``,
``recip_rank``, ``ndcg_cut_10`` and ``map``.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.compute.text.metrics import group_counts, group_relevance, text_scores

pytrec_eval = pytest.importorskip("pytrec_eval")

TREC = {"success_1": "text_hit_at_1", "success_5": "text_hit_at_5", "success_10": "text_hit_at_10",
        "recall_1": "text_recall_at_1", "recall_10": "text_recall_at_10", "P_10": "text_precision_at_10",
        "recip_rank": "text_mrr", "ndcg_cut_10": "text_ndcg_at_10", "map": "text_map"}  # fmt: skip
MEASURES = {"success.1,5,10", "recall.1,10", "P.10", "recip_rank", "ndcg_cut.10", "map"}


def test_a_hand_case() -> None:
    # one query of group 0; gallery groups ranked: miss, hit, miss, hit; R = 3 (one relevant never retrieved)
    neighbours = np.array([[1, 0, 2, 0]])
    scores = text_scores(group_relevance(neighbours, np.array([0])), np.array([3])).means()
    assert scores["text_hit_at_1"] == 0.0 and scores["text_hit_at_5"] == 1.0
    assert scores["text_mrr"] == 0.5
    assert scores["text_recall_at_10"] == pytest.approx(2 / 3) and scores["text_recall_at_1"] == 0.0
    assert scores["text_precision_at_10"] == pytest.approx(2 / 10)  # trec_eval's P_10: over 10, 4 retrieved
    assert scores["text_map"] == pytest.approx((1 / 2 + 2 / 4) / 3)
    ideal = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    assert scores["text_ndcg_at_10"] == pytest.approx((1 / np.log2(3) + 1 / np.log2(5)) / ideal)


def test_group_counts_and_a_query_nothing_matches() -> None:
    gallery = np.array([3, 1, 3, -1, 3])
    assert group_counts(np.array([3, 1, 7, -5]), gallery).tolist() == [3, 1, 0, 0]
    scored = text_scores(group_relevance(np.array([[0, 1], [2, 2]]), np.array([0, 5])), np.array([1, 0]))
    assert scored.n_excluded == 1 and scored.query.tolist() == [0]
    with pytest.raises(ValueError, match="R is inconsistent"):
        text_scores(np.array([[True, True]]), np.array([1]))


@pytest.mark.parametrize("seed", range(5))
def test_every_metric_equals_trec_eval_on_random_runs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_gallery, n_queries, k = 60, 25, int(rng.integers(10, 40))
    gallery = rng.integers(0, 8, size=n_gallery)  # a few queries' groups have no item: excluded
    groups = rng.integers(0, 9, size=n_queries)
    ranked = np.stack([rng.permutation(n_gallery)[:k] for _ in range(n_queries)])
    scored = text_scores(group_relevance(gallery[ranked], groups), group_counts(groups, gallery))

    qrels = {f"q{q}": {f"d{d}": 1 for d in np.flatnonzero(gallery == g)} for q, g in enumerate(groups)}
    qrels = {q: docs for q, docs in qrels.items() if docs}  # trec_eval averages over queries with qrels only
    run = {f"q{q}": {f"d{d}": 1.0 / (rank + 1) for rank, d in enumerate(row)} for q, row in enumerate(ranked)}
    trec = pytrec_eval.RelevanceEvaluator(qrels, MEASURES).evaluate(run)
    counted = [f"q{q}" for q in scored.query]
    assert sorted(counted) == sorted(trec) and scored.n_excluded == n_queries - len(trec)
    for measure, name in TREC.items():
        ours = scored.values[name]
        theirs = np.array([trec[q][measure] for q in counted])
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12, err_msg=measure)
