"""The report's "How these numbers are checked": the harness's metric code against independent
implementations on a fixed small case, run each time a report is built.

The case: 300 points in 16-d, 10 classes of uneven sizes (one a singleton, so one query is excluded), searched
leave-one-out by the harness's exact backend; and a fixed 60-image, 8-class classification case. References:
pytorch-metric-learning's AccuracyCalculator (mR@1, MAP@R, MRR) and faiss's IndexFlatL2 (the rankings) are
dev dependencies, scikit-learn (NDCG@10, accuracy, top-5 accuracy, top-k with tied scores) a main one; a
reference that is not installed is skipped with a note, never an error. The last check compares the bootstrap
interval of harness.compute.stats with the normal approximation on Bernoulli values.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from harness.compute.retrieval.metrics import per_query_metrics, relevant_counts

DEV = "a dev dependency: `uv sync --group dev`"


@dataclass(frozen=True)
class Check:
    reference: str  # library and function
    what: str  # the quantity compared
    ours: float | None
    theirs: float | None
    tolerance: float
    note: str = ""

    @property
    def status(self) -> str:
        if self.ours is None or self.theirs is None:
            return "skipped"
        return "agrees" if abs(self.ours - self.theirs) <= self.tolerance else "DIFFERS"


def clustered_case(seed: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """300 points in 16-d, 10 classes of uneven size, one a singleton; exactly float32-representable so that
    float32 references see the same points (the seed is one without near-tied neighbours of different labels)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(10), [1, 3, 8, 15, 25, 30, 40, 50, 60, 68])
    x = rng.normal(size=(10, 16))[labels] + 1.2 * rng.normal(size=(len(labels), 16))
    x = (x - x.mean(axis=0)).astype(np.float32).astype(np.float64)
    perm = rng.permutation(len(labels))
    return x[perm], labels[perm]


@dataclass(frozen=True)
class _Retrieval:
    x: np.ndarray
    y: np.ndarray
    neighbours: np.ndarray  # (Q, K) gallery ids from the harness's exact backend, self removed
    values: dict[str, float]  # the harness's metrics


def _retrieval_case() -> _Retrieval:
    from harness.compute.retrieval import leave_one_out
    from harness.compute.retrieval.exact import ExactIndex

    x, y = clustered_case()
    r = relevant_counts(y, y, leave_one_out=True)
    neighbours = leave_one_out(ExactIndex(), x, int(r.max()))
    scored = per_query_metrics(y[neighbours], y, r).means().as_dict()
    return _Retrieval(x, y, neighbours, scored)


def _missing(module: str) -> bool:
    return importlib.util.find_spec(module) is None


def _pml(case: _Retrieval) -> list[Check]:
    names = {"recall_at_1": "precision_at_1", "map_at_r": "mean_average_precision_at_r", "mrr": "mean_reciprocal_rank"}
    ref = "pytorch-metric-learning AccuracyCalculator"
    if _missing("pytorch_metric_learning") or _missing("faiss"):
        return [Check(ref, _what(ours, name), case.values[ours], None, 0, f"not installed ({DEV})")
                for ours, name in names.items()]  # fmt: skip
    import torch
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator

    calc = AccuracyCalculator(include=tuple(names.values()), k="max_bin_count", device=torch.device("cpu"))
    theirs = calc.get_accuracy(case.x, case.y, case.x, case.y, ref_includes_query=True)
    # pml searches and accumulates in float32
    return [Check(ref, _what(ours, name), case.values[ours], float(theirs[name]), 1e-6) for ours, name in names.items()]


def _what(ours: str, theirs: str) -> str:
    from harness.spec.metrics import label

    return f"{label(ours)} ({theirs})"


def _faiss(case: _Retrieval) -> list[Check]:
    ref, what = "faiss IndexFlatL2", "queries with the same nearest-neighbour ranking (fraction)"
    if _missing("faiss"):
        return [Check(ref, what, 1.0, None, 0, f"not installed ({DEV})")]
    import faiss

    index = faiss.IndexFlatL2(case.x.shape[1])
    index.add(case.x.astype(np.float32))
    k = case.neighbours.shape[1]
    _, ids = index.search(case.x.astype(np.float32), k + 1)
    # leave-one-out: drop each query's own id wherever it landed (first, barring exact duplicates)
    own = ids == np.arange(len(ids))[:, None]
    theirs = np.stack([row[~mask][:k] for row, mask in zip(ids, own, strict=True)])
    same = float((theirs == case.neighbours).all(axis=1).mean())
    return [Check(ref, what, 1.0, same, 0, "rankings compared id by id")]


def _sklearn(case: _Retrieval) -> list[Check]:
    ref = "scikit-learn"
    whats = ("NDCG@10 (ndcg_score)", "accuracy (accuracy_score)", "top-5 accuracy (top_k_accuracy_score)")
    if _missing("sklearn"):
        return [Check(ref, what, None, None, 0, "scikit-learn not installed") for what in whats]
    from sklearn.metrics import accuracy_score, ndcg_score, top_k_accuracy_score

    from harness.compute.toptune.metrics import classification_metrics

    x, y = case.x, case.y
    n = len(y)
    dist = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=-1)
    off = ~np.eye(n, dtype=bool)
    gallery = np.broadcast_to(np.arange(n), (n, n))[off].reshape(n, n - 1)
    counted = relevant_counts(y, y, leave_one_out=True) > 0
    relevance = (y[gallery] == y[:, None])[counted]
    ndcg = float(ndcg_score(relevance, -dist[off].reshape(n, n - 1)[counted], k=10))

    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 8, 60)
    proba = rng.dirichlet(np.ones(8), 60)
    proba[np.arange(30), y_true[:30]] += 0.5  # better than chance, not perfect
    proba /= proba.sum(axis=1, keepdims=True)
    ours = classification_metrics(y_true, proba)
    return [
        Check(ref, whats[0], case.values["ndcg_at_10"], ndcg, 1e-9),
        Check(ref, whats[1], ours["accuracy"], float(accuracy_score(y_true, proba.argmax(axis=1))), 1e-12),
        Check(ref, whats[2], ours["top5_accuracy"], float(top_k_accuracy_score(y_true, proba, k=5)), 1e-12),
        _tied_top_k(top_k_accuracy_score),
    ]


def _tied_top_k(top_k_accuracy_score: Callable[..., float]) -> Check:
    """Tied class scores (harness.compute.toptune.metrics): ours counts a tie fractionally, which is the mean of
    scikit-learn's top-k accuracy over every order of the classes (scikit-learn alone depends on the order)."""
    import itertools

    from harness.compute.toptune.metrics import top_k_hits

    rng = np.random.default_rng(4)
    y_true = rng.integers(0, 5, 40)
    scores = rng.integers(0, 3, size=(40, 5)).astype(np.float64)  # three score levels: ties in most rows
    theirs = [
        top_k_accuracy_score(np.argsort(order)[y_true], scores[:, list(order)], k=2, labels=range(5))
        for order in itertools.permutations(range(5))
    ]
    what = "top-2 accuracy with tied scores (top_k_accuracy_score, mean over the 120 class orders)"
    return Check("scikit-learn", what, float(top_k_hits(y_true, scores, 2).mean()), float(np.mean(theirs)), 1e-12)


def _bootstrap() -> list[Check]:
    from harness.compute.stats import bootstrap_mean

    values = np.zeros(10_000)
    values[:3000] = 1.0
    interval = bootstrap_mean(values, n_resamples=2000, seed=1)
    half = 1.959964 * np.sqrt(0.3 * 0.7 / len(values))
    ref = "normal approximation p ± 1.96·sqrt(p(1-p)/n)"
    what = "95% interval of 3000 hits in 10000"
    return [
        Check(ref, f"{what}: low", interval.low, 0.3 - half, 0.0012),
        Check(ref, f"{what}: high", interval.high, 0.3 + half, 0.0012),
    ]


CHECKS: tuple[Callable[[_Retrieval], list[Check]], ...] = (_pml, _faiss, _sklearn)


@functools.cache  # a fixed case: one run per process however many reports it renders
def run_checks() -> tuple[Check, ...]:
    case = _retrieval_case()
    return (*(check for run in CHECKS for check in run(case)), *_bootstrap())
