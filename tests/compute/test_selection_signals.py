"""The cheap signals against independent computations: k-NN against scikit-learn, LogME's evidence against
the Gaussian marginal likelihood scipy evaluates directly, H-score against its definition spelled out."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.neighbors import KNeighborsClassifier

from harness.compute.selection import signals
from harness.core.errors import HarnessError


def blobs(n_per_class: int = 20, classes: int = 3, dim: int = 6, spread: float = 1.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * 3
    labels = np.repeat(np.arange(classes), n_per_class)
    return centres[labels] + rng.normal(size=(len(labels), dim)) * spread, labels


def test_knn_accuracy_agrees_with_scikit_learn_leave_one_out():
    x, y = blobs(spread=2.5)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    hits = 0
    for i in range(len(x)):
        rest = np.delete(np.arange(len(x)), i)
        clf = KNeighborsClassifier(n_neighbors=5, metric="cosine").fit(unit[rest], y[rest])
        hits += int(clf.predict(unit[i : i + 1])[0] == y[i])
    # scikit-learn breaks a tied vote towards the smaller label; 5 neighbours over 3 classes can tie 2-2-1
    assert signals.knn_accuracy(x, y) == pytest.approx(hits / len(x), abs=2 / len(x))
    assert 0.5 < signals.knn_accuracy(x, y) < 1.0


def test_knn_accuracy_hand_case():
    # 1-D points on a line as 2-D unit vectors at angles: classes {0,0,1,1}
    angles = np.array([0.0, 0.1, 1.0, 1.1])
    x = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    assert signals.knn_accuracy(x, np.array([0, 0, 1, 1]), k=1) == 1.0
    assert signals.knn_accuracy(x, np.array([0, 1, 0, 1]), k=1) == 0.0


def direct_log_evidence(f: np.ndarray, y: np.ndarray, alpha: float, beta: float) -> float:
    """log N(y; 0, beta^-1 I + alpha^-1 F F^T): the evidence of y = F w + e with w ~ N(0, alpha^-1 I)."""
    n = len(y)
    cov = np.eye(n) / beta + f @ f.T / alpha
    return float(stats.multivariate_normal(mean=np.zeros(n), cov=cov).logpdf(y))


@pytest.mark.parametrize("dim", [5, 40])  # fewer and more dimensions than the 30 samples
def test_logme_evidence_is_the_gaussian_marginal_likelihood_at_its_maximum(dim):
    x, labels = blobs(n_per_class=10, classes=3, dim=dim, seed=1)
    n = len(x)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    keep = s > s.max() * 1e-10
    target = (labels == 1).astype(np.float64)
    z2 = (u[:, keep].T @ target) ** 2
    found = signals.logme_column(s[keep] ** 2, z2, float(target @ target), n, dim)
    assert found.evidence == pytest.approx(direct_log_evidence(x, target, found.alpha, found.beta) / n, rel=1e-9)
    # the fixed point is a maximum: moving alpha or beta by 10% lowers the evidence
    for a, b in [(1.1, 1), (0.9, 1), (1, 1.1), (1, 0.9)]:
        assert direct_log_evidence(x, target, found.alpha * a, found.beta * b) / n < found.evidence + 1e-6


def test_logme_is_the_mean_over_classes_and_ranks_separable_features_higher():
    x, y = blobs(spread=0.5)
    noise = np.random.default_rng(3).normal(size=x.shape)
    per_class = []
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    for c in range(3):
        target = (y == c).astype(np.float64)
        per_class.append(signals.logme_column(s**2, (u.T @ target) ** 2, float(target.sum()), len(x), x.shape[1]))
    assert signals.logme(x, y) == pytest.approx(np.mean([e.evidence for e in per_class]))
    assert signals.logme(x, y) > signals.logme(noise, y)


def hscore_spelled_out(f: np.ndarray, y: np.ndarray) -> float:
    n = len(f)
    mean = f.mean(axis=0)
    cov_f = sum(np.outer(r - mean, r - mean) for r in f) / n
    conditional = np.array([f[y == label].mean(axis=0) for label in y])
    g_mean = conditional.mean(axis=0)
    cov_g = sum(np.outer(r - g_mean, r - g_mean) for r in conditional) / n
    return float(np.trace(np.linalg.inv(cov_f) @ cov_g))


def test_hscore_matches_its_definition_and_orders_separability():
    x, y = blobs(spread=1.0)
    assert signals.hscore(x, y) == pytest.approx(hscore_spelled_out(x, y), rel=1e-9)
    tight, _ = blobs(spread=0.2)
    assert signals.hscore(tight, y) > signals.hscore(x, y)
    # at most (classes - 1): the between-class covariance has that rank and is part of the total covariance
    assert signals.hscore(tight, y) <= 2 + 1e-9


def test_hand_case_hscore_one_dimension():
    # 1-D: classes at -1 and +1 with within-class spread +-0.5 -> var(f) = 1.25, var(E[f|y]) = 1, H = 0.8
    f = np.array([[-1.5], [-0.5], [0.5], [1.5]])
    assert signals.hscore(f, np.array([0, 0, 1, 1])) == pytest.approx(0.8)


def test_a_single_class_is_refused_with_its_reason():
    with pytest.raises(HarnessError, match="LogME: needs at least two classes among the 4 samples"):
        signals.logme(np.ones((4, 2)), np.zeros(4))


def test_shrunk_hscore_is_bao_s_without_shrinkage_and_ledoit_wolf_s_otherwise():
    from sklearn.covariance import LedoitWolf

    x, y = blobs(spread=1.0)
    assert signals.hscore_shrunk(x, y, shrinkage=0.0) == pytest.approx(hscore_spelled_out(x, y), rel=1e-9)
    # with scikit-learn's estimator object (another code path): its covariance is the shrunk one
    estimator = LedoitWolf(assume_centered=False).fit(x)
    cov_g = np.cov(np.array([x[y == label].mean(axis=0) for label in y]).T, bias=True)
    expected = np.trace(np.linalg.inv(estimator.covariance_) @ ((1 - estimator.shrinkage_) * cov_g))
    assert signals.hscore_shrunk(x, y) == pytest.approx(expected, rel=1e-9)


def test_more_dimensions_than_samples_saturate_the_plain_hscore_but_not_the_shrunk_one():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 4)
    noise = rng.normal(size=(12, 50))
    assert signals.hscore(noise, y) == pytest.approx(2.0)  # classes - 1, from pure noise
    assert signals.hscore_shrunk(noise, y) < 1.0
