"""The field's conventions where ours used to differ: ann-benchmarks' tie-aware index recall (with the
duplicate-image case) and top-k accuracy with tied class scores against scikit-learn. (Holm at exactly alpha:
tests/compute/test_stats.py.)"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, top_k_accuracy_score

from harness.compute.extract.vectors import l2_normalise
from harness.compute.retrieval import leave_one_out
from harness.compute.retrieval.exact import ExactIndex
from harness.compute.retrieval.index_recall import EPSILON, cosine_distances, id_overlap, tie_aware_recall
from harness.compute.toptune.metrics import classification_metrics, top_k_hits


def ann_benchmarks_recall(dataset_distances: np.ndarray, run_distances: np.ndarray, count: int) -> float:
    """ann-benchmarks' get_recall_values with knn_threshold (epsilon 1e-3), written out as its loop."""
    recalls = np.zeros(len(run_distances))
    for i in range(len(run_distances)):
        t = dataset_distances[i][count - 1] + 1e-3
        recalls[i] = sum(1 for d in run_distances[i][:count] if d <= t)
    return float(np.mean(recalls) / count)


def catalogue_with_duplicates(seed: int = 0) -> np.ndarray:
    """60 product embeddings of which 20 are photographed twice: rows 40..59 repeat rows 0..19 exactly."""
    x = np.random.default_rng(seed).normal(size=(40, 16)).astype(np.float32)
    return l2_normalise(np.concatenate([x, x[:20]]))


def test_duplicate_images_an_index_returning_the_twin_is_not_marked_down() -> None:
    vectors = catalogue_with_duplicates()
    k = 10
    exact = leave_one_out(ExactIndex(), vectors, k)
    # an approximate index that, where the exact list ends on one of a pair of duplicate photos (the pair
    # straddles the cut-off: a tie at the 10th distance), returns its twin instead: same distance, other id
    twin = {**{i: i + 40 for i in range(20)}, **{i + 40: i for i in range(20)}}
    ann = exact.copy()
    swapped = 0
    for q in range(len(ann)):
        for j in range(k):
            other = twin.get(int(ann[q, j]))
            if other is not None and other != q and other not in ann[q]:
                ann[q, j] = other
                swapped += 1
    assert swapped >= 10  # the case is not empty (20 queries here)
    assert tie_aware_recall(vectors, ann, exact, k).mean() == 1.0
    overlap = id_overlap(ann, exact, k).mean()
    assert overlap == pytest.approx(1 - swapped / (len(ann) * k))  # the id count charges every swap
    assert overlap < 1.0


def test_tie_aware_recall_agrees_with_ann_benchmarks_loop_and_catches_a_worse_neighbour() -> None:
    vectors = catalogue_with_duplicates(seed=3)
    k = 10
    exact = leave_one_out(ExactIndex(), vectors, 30)
    # an index that misses each query's 3rd neighbour and returns its 25th instead (a real error)
    ann = exact[:, :k].copy()
    ann[:, 2] = exact[:, 24]
    ours = tie_aware_recall(vectors, ann, exact, k)
    theirs = ann_benchmarks_recall(cosine_distances(vectors, exact), cosine_distances(vectors, ann), k)
    assert float(ours.mean()) == pytest.approx(theirs, abs=1e-12)
    assert theirs < 1.0  # the 25th neighbour is farther than the 10th for most queries
    # hand count on one query without ties: 9 of 10 within the threshold
    distances = cosine_distances(vectors, exact)
    plain = next(q for q in range(len(vectors)) if distances[q, 24] > distances[q, k - 1] + EPSILON)
    assert ours[plain] == pytest.approx(0.9)


def test_index_recall_inputs_checked() -> None:
    with pytest.raises(ValueError, match="recall@10"):
        tie_aware_recall(np.eye(3), np.zeros((3, 2), dtype=int), np.zeros((3, 2), dtype=int), 10)


# --- top-k accuracy with tied class scores ---------------------------------------------------------------


def test_topk_without_ties_equals_sklearn() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 9, 200)
    proba = rng.dirichlet(np.ones(9), 200)
    for k in (1, 3, 5):
        assert top_k_hits(y, proba, k).mean() == pytest.approx(top_k_accuracy_score(y, proba, k=k, labels=range(9)))
    assert top_k_hits(y, proba, 1).mean() == pytest.approx(accuracy_score(y, proba.argmax(axis=1)))


def test_topk_with_ties_is_sklearns_mean_over_every_order_of_the_classes() -> None:
    # scores quantised to a few levels, so that most rows have ties at the true class's score
    rng = np.random.default_rng(11)
    n_classes = 6
    y = rng.integers(0, n_classes, 40)
    proba = rng.integers(0, 3, size=(40, n_classes)).astype(np.float64)
    proba[0] = 1.0  # one row all tied
    for k in (1, 2, 5):
        scores = []
        for order in itertools.permutations(range(n_classes)):  # 720 class numberings
            perm = np.asarray(order)
            inverse = np.argsort(perm)  # column c of the permuted scores is class perm[c]
            scores.append(top_k_accuracy_score(inverse[y], proba[:, perm], k=k, labels=range(n_classes)))
        assert top_k_hits(y, proba, k).mean() == pytest.approx(np.mean(scores), abs=1e-12)
    # sklearn alone depends on the class numbering here, which is what the rule removes
    assert top_k_accuracy_score(y, proba, k=1) != pytest.approx(accuracy_score(y, proba.argmax(axis=1)))


def test_topk_tie_rule_by_hand() -> None:
    # true class 0 in every row
    proba = np.array(
        [
            [0.4, 0.4, 0.1, 0.1, 0.0, 0.0],  # tied with one other for first: top-1 1/2, top-5 1
            [0.2, 0.2, 0.2, 0.2, 0.2, 0.0],  # five tied: top-1 1/5, top-5 1
            [0.1, 0.3, 0.3, 0.3, 0.3, 0.1],  # four above, tied with class 5: top-5 (5 - 4) / 2
            [0.0, 0.2, 0.2, 0.2, 0.2, 0.2],  # five above: 0
        ]
    )
    y = np.zeros(4, dtype=int)
    assert top_k_hits(y, proba, 1).tolist() == pytest.approx([0.5, 0.2, 0.0, 0.0])
    assert top_k_hits(y, proba, 5).tolist() == pytest.approx([1.0, 1.0, 0.5, 0.0])
    m = classification_metrics(y, proba)
    assert m["accuracy"] == pytest.approx(0.7 / 4) and m["top5_accuracy"] == pytest.approx(2.5 / 4)
