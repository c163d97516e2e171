"""Tests for harness.compute.retrieval.metrics: hand-computed cases, a per-query loop, pml and sklearn."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
from sklearn.metrics import ndcg_score

from harness.compute.retrieval.metrics import RetrievalMetrics, relevant_counts, retrieval_metrics


def one(neighbors: list[int], label: int, r: int) -> RetrievalMetrics:
    return retrieval_metrics(np.array([neighbors]), np.array([label]), np.array([r]))


def disc(rank: int) -> float:
    """The NDCG discount 1 / log2(rank + 1)."""
    return 1.0 / math.log2(rank + 1)


# --- hand-computed cases --------------------------------------------------------------------------------


def test_first_relevant_at_rank_3() -> None:
    m = one([1, 2, 7, 7, 3], label=7, r=3)
    assert m.mmp_at_5 == pytest.approx(2 / 3)  # 2 relevant in the top 5 / min(5, 3)
    assert m.recall_at_1 == 0.0
    assert m.map_at_r == pytest.approx(1 / 9)  # (1/3) * P(3) = (1/3) * (1/3); rank 4 is past R
    assert m.mrr == pytest.approx(1 / 3)
    # DCG = 1/log2(4) + 1/log2(5) = 0.5 + 0.43068 = 0.93068
    # IDCG = 1 + 1/log2(3) + 1/log2(4) = 1 + 0.63093 + 0.5 = 2.13093  ->  0.43675
    assert m.ndcg_at_10 == pytest.approx(0.93068 / 2.13093, abs=1e-5)
    assert m.ndcg_at_10 == pytest.approx((disc(3) + disc(4)) / (disc(1) + disc(2) + disc(3)))
    assert (m.n_queries, m.n_excluded, m.n_capped) == (1, 0, 0)


def test_map_at_r_relevant_at_ranks_1_and_3() -> None:
    m = one([7, 1, 7, 7, 2], label=7, r=3)
    # (1/R) * (P(1) + P(3)) = (1/3) * (1 + 2/3) = 5/9; the hit at rank 4 is past R and does not count
    assert m.map_at_r == pytest.approx(5 / 9)
    assert m.mmp_at_5 == pytest.approx(1.0)  # 3 relevant in the top 5 / min(5, 3)
    assert m.recall_at_1 == 1.0
    assert m.mrr == 1.0
    # DCG = 1 + 0.5 + 0.43068 = 1.93068; IDCG = 2.13093  ->  0.90603
    assert m.ndcg_at_10 == pytest.approx(0.90603, abs=1e-5)


def test_mmp_divides_by_r_when_class_has_fewer_than_5_other_members() -> None:
    small = one([7, 1, 2, 7, 3, 4], label=7, r=2)
    assert small.mmp_at_5 == pytest.approx(1.0)  # 2 relevant in the top 5 / min(5, 2) = 2/2
    assert small.map_at_r == pytest.approx(0.5)  # (1/2) * P(1) = (1/2) * 1; rank 4 is past R
    # DCG = 1 + 1/log2(5) = 1.43068; IDCG = 1 + 1/log2(3) = 1.63093  ->  0.87722
    assert small.ndcg_at_10 == pytest.approx(0.87722, abs=1e-5)
    large = one([7, 1, 2, 7, 3, 4], label=7, r=8)
    assert large.mmp_at_5 == pytest.approx(0.4)  # same top 5, but divided by min(5, 8) = 5


def test_r_larger_than_k_is_capped() -> None:
    m = one([7, 7, 1], label=7, r=5)
    # R_eff = K = 3: (1/3) * (P(1) + P(2)) = (1/3) * (1 + 1) = 2/3 (pml would divide by R: 2/5 = 0.4)
    assert m.map_at_r == pytest.approx(2 / 3)
    assert m.n_capped == 1
    assert m.mmp_at_5 == pytest.approx(0.4)  # 2 relevant / min(5, 5); the search stopped at K = 3
    # DCG = 1 + 0.63093 = 1.63093; IDCG = 1 + 0.63093 + 0.5 + 0.43068 + 0.38685 = 2.94846  ->  0.55314
    assert m.ndcg_at_10 == pytest.approx(0.55314, abs=1e-5)
    assert (m.recall_at_1, m.mrr) == (1.0, 1.0)


def test_ndcg_ignores_hits_past_rank_10() -> None:
    m = one([1, 7, 1, 1, 1, 1, 1, 1, 1, 1, 7, 1], label=7, r=2)
    # DCG@10 = 1/log2(3) = 0.63093 (the rank-11 hit is past the cut-off); IDCG = 1 + 0.63093 -> 0.38685
    assert m.ndcg_at_10 == pytest.approx(0.38685, abs=1e-5)
    assert m.map_at_r == pytest.approx(0.25)  # (1/2) * P(2) = (1/2) * (1/2)
    assert m.mrr == pytest.approx(0.5)
    assert m.mmp_at_5 == pytest.approx(0.5)  # 1 relevant / min(5, 2)
    assert m.recall_at_1 == 0.0


def test_no_hit_within_k_scores_zero_but_counts() -> None:
    m = one([1, 2, 3], label=7, r=4)
    assert (m.mmp_at_5, m.recall_at_1, m.map_at_r, m.mrr, m.ndcg_at_10) == (0.0, 0.0, 0.0, 0.0, 0.0)
    assert (m.n_queries, m.n_excluded, m.n_capped) == (1, 0, 1)


def test_query_without_relevant_item_is_excluded_from_means() -> None:
    neighbors = np.array([[1, 2, 7, 7, 3], [1, 2, 3, 5, 6], [5, 5, 5, 1, 2]])
    m = retrieval_metrics(neighbors, np.array([7, 4, 5]), np.array([3, 0, 3]))
    # row 0 is the rank-3 case (2/3, 0, 1/9, 1/3, 0.43675); row 1 has R = 0; row 2 is perfect (all 1)
    assert (m.n_queries, m.n_excluded, m.n_capped) == (2, 1, 0)
    assert m.mmp_at_5 == pytest.approx((2 / 3 + 1) / 2)  # 5/6, not 5/9 as it would be with row 1 as a 0
    assert m.recall_at_1 == pytest.approx(0.5)
    assert m.map_at_r == pytest.approx((1 / 9 + 1) / 2)
    assert m.mrr == pytest.approx((1 / 3 + 1) / 2)
    assert m.ndcg_at_10 == pytest.approx((0.43675 + 1) / 2, abs=1e-5)


def test_as_dict_has_every_field() -> None:
    d = one([7, 1, 7, 7, 2], label=7, r=3).as_dict()
    assert list(d) == [f.name for f in dataclasses.fields(RetrievalMetrics)]
    assert d["map_at_r"] == pytest.approx(5 / 9)
    assert d["n_queries"] == 1.0 and d["n_excluded"] == 0.0 and d["n_capped"] == 0.0
    assert all(isinstance(v, float) for v in d.values())


# --- relevant_counts --------------------------------------------------------------------------------------


def test_relevant_counts() -> None:
    gallery = np.array([3, 3, 5, 3, 9])
    # label 3 appears three times, 5 once, 7 never
    assert relevant_counts(np.array([3, 5, 7]), gallery, leave_one_out=False).tolist() == [3, 1, 0]
    # each query is one of the gallery items, so its own item is taken off
    assert relevant_counts(gallery, gallery, leave_one_out=True).tolist() == [2, 2, 0, 2, 0]
    assert relevant_counts(np.array([3]), np.array([], dtype=int), leave_one_out=False).tolist() == [0]
    with pytest.raises(ValueError, match="every query label in the gallery"):
        relevant_counts(np.array([7]), gallery, leave_one_out=True)


# --- bad input ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("neighbors", "labels", "r", "message"),
    [
        (np.array([1, 2, 3]), np.array([1]), np.array([1]), "must be 2-D"),
        (np.zeros((2, 0), dtype=int), np.array([1, 2]), np.array([1, 1]), r"K >= 1"),
        (np.zeros((2, 3), dtype=int), np.array([1]), np.array([1, 1]), "must both have shape"),
        (np.zeros((2, 3), dtype=int), np.array([1, 2]), np.array([1]), "must both have shape"),
        (np.zeros((1, 3), dtype=int), np.array([1]), np.array([-1]), "non-negative"),
        (np.zeros((2, 3), dtype=int), np.array([1, 2]), np.array([0, 0]), "no query has a relevant item"),
        # the query itself left among its neighbours: 2 hits but R = 1
        (np.array([[1, 1, 2]]), np.array([1]), np.array([1]), "more relevant neighbours than its n_relevant"),
    ],
)
def test_bad_input_raises(neighbors: np.ndarray, labels: np.ndarray, r: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        retrieval_metrics(neighbors, labels, r)


# --- independent implementations ---------------------------------------------------------------------


def loop_reference(neighbors: np.ndarray, labels: np.ndarray, r_all: np.ndarray) -> dict[str, float]:
    """The module docstring's definitions, one query at a time."""
    rows: list[list[float]] = []
    for row, label, r in zip(neighbors, labels, r_all, strict=True):
        if r == 0:
            continue
        rel = [int(x == label) for x in row]
        k = len(rel)
        r_eff = min(r, k)
        mp5 = sum(rel[:5]) / min(5, r)
        ap = sum(sum(rel[: i + 1]) / (i + 1) * rel[i] for i in range(r_eff)) / r_eff
        rr = next((1 / (i + 1) for i in range(k) if rel[i]), 0.0)
        dcg = sum(rel[i] * disc(i + 1) for i in range(min(10, k)))
        idcg = sum(disc(i + 1) for i in range(min(10, r)))
        rows.append([mp5, rel[0], ap, rr, dcg / idcg, r > k])
    means = np.mean(rows, axis=0)
    names = ["mmp_at_5", "recall_at_1", "map_at_r", "mrr", "ndcg_at_10"]
    return {**dict(zip(names, means[:5], strict=True)), "n_capped": float(sum(row[5] for row in rows))}


@pytest.mark.parametrize("k", [1, 3, 8, 15])
def test_matches_per_query_loop(k: int) -> None:
    rng = np.random.default_rng(k)
    n_q = 200
    labels = rng.integers(0, 4, n_q)
    neighbors = rng.integers(0, 4, (n_q, k))
    absent = rng.random(n_q) < 0.1
    labels[absent] = 99  # a class with no gallery item: R = 0
    hits = (neighbors == labels[:, None]).sum(axis=1)
    # R is at least the hits seen (else it is inconsistent) and sometimes more than K (capped)
    r = hits + np.where(absent, 0, rng.integers(0, k + 2, n_q))
    expected = loop_reference(neighbors, labels, r)
    m = retrieval_metrics(neighbors, labels, r).as_dict()
    assert expected["n_capped"] > 0
    assert m["n_excluded"] == float((r == 0).sum()) > 0
    for name, value in expected.items():
        assert m[name] == pytest.approx(value, abs=1e-12), name


def clustered_embeddings(seed: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """300 points in 16-d, 10 classes of uneven size, one a singleton (a query with R = 0): the report's own
    fixed check case, so the test and the report's "How these numbers are checked" see the same points."""
    from harness.report.checks import clustered_case

    return clustered_case(seed)


def test_agrees_with_pytorch_metric_learning_and_sklearn() -> None:
    x, y = clustered_embeddings()
    n = len(y)
    dist = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=-1)
    off_diagonal = ~np.eye(n, dtype=bool)
    dist_loo = dist[off_diagonal].reshape(n, n - 1)  # leave-one-out: drop self by index, as pml does
    gallery_idx = np.broadcast_to(np.arange(n), (n, n))[off_diagonal].reshape(n, n - 1)
    r = relevant_counts(y, y, leave_one_out=True)
    k = int(r.max())  # pml's k="max_bin_count" is the largest class size minus 1 (self) = max R
    order = np.argsort(dist_loo, axis=1)
    ranked_labels = y[np.take_along_axis(gallery_idx, order, axis=1)]
    neighbors = ranked_labels[:, :k]

    # pml searches in float32: a label-changing pair of neighbours closer than float32 error could swap.
    ranked_dist = np.take_along_axis(dist_loo, order, axis=1)[:, : k + 1]
    label_changes = ranked_labels[:, 1 : k + 1] != ranked_labels[:, :k]
    assert np.diff(ranked_dist, axis=1)[label_changes].min() > 1e-4, "near-tie: pick another seed"

    m = retrieval_metrics(neighbors, y, r)
    assert (m.n_queries, m.n_excluded, m.n_capped) == (n - 1, 1, 0)
    assert 0.5 < m.recall_at_1 < 0.95 and 0.2 < m.map_at_r < 0.8  # neither trivial nor hopeless

    calc = AccuracyCalculator(
        include=("precision_at_1", "mean_average_precision_at_r", "mean_reciprocal_rank"),
        k="max_bin_count",
        device=torch.device("cpu"),
    )
    pml = calc.get_accuracy(x, y, x, y, ref_includes_query=True)
    assert m.recall_at_1 == pytest.approx(pml["precision_at_1"], abs=1e-6)
    assert m.map_at_r == pytest.approx(pml["mean_average_precision_at_r"], abs=1e-6)
    # pml builds the reciprocal ranks in float32, hence ~1e-8 differences rather than ~1e-16
    assert m.mrr == pytest.approx(pml["mean_reciprocal_rank"], abs=1e-6)

    # sklearn ranks the whole leave-one-out gallery, so its IDCG uses all R relevant items, as ours does.
    counted = r > 0
    relevance = (y[gallery_idx] == y[:, None])[counted]
    assert m.ndcg_at_10 == pytest.approx(ndcg_score(relevance, -dist_loo[counted], k=10), abs=1e-9)
