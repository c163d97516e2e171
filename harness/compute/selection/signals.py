"""Cheap transferability signals: one number per (backbone, dataset) from frozen embeddings and class labels,
higher meaning "should be better". Each follows its paper's definition; ``SIGNALS`` is the registry.

- ``knn_accuracy``: leave-one-out k-nearest-neighbour accuracy on L2-normalised embeddings (cosine), majority
  vote, ties broken towards the nearer neighbour. The baseline a 2025 study of 23 estimators on 16 datasets
  found hardest to beat (arXiv 2503.18528).
- ``logme``: You, Liu, Wang, Long, "LogME: Practical Assessment of Pre-trained Models for Transfer Learning",
  ICML 2021, Algorithm 1 (see :func:`logme`).
- ``hscore``: Bao, Li, Huang, Wang, Zheng, Tong, "An Information-Theoretic Approach to Transferability in
  Task Transfer Learning", ICIP 2019 (see :func:`hscore`).
- ``hscore_shrunk``: the same with the feature covariance shrunk by Ledoit-Wolf (Ibrahim, Ponomareva,
  Mazumder, "Newer is not always better: Rethinking transferability metrics, their peculiarities, stability and
  performance", ECML PKDD 2022): on a sample with fewer images than dimensions the plain H-score saturates at
  (classes - 1) for every backbone, the shrunk one does not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from harness.core.errors import HarnessError

#: neighbours that vote in ``knn_accuracy``
KNN_K = 5
#: LogME's fixed-point iterations: the paper's Algorithm 1 converges "after at most 10 steps"
LOGME_ITERATIONS = 11
LOGME_TOLERANCE = 1e-2  # relative change of alpha / beta that ends the iteration (as in the authors' code)
_EPS = 1e-5  # guards a division by a zero residual (a perfect fit) in the updates


def _check(features: np.ndarray, labels: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    f, y = np.asarray(features, dtype=np.float64), np.asarray(labels)
    if f.ndim != 2 or y.ndim != 1 or len(f) != len(y):
        raise HarnessError(f"{what}: expected features (N, D) and labels (N,), got {f.shape} and {y.shape}")
    if len(np.unique(y)) < 2:
        raise HarnessError(f"{what}: needs at least two classes among the {len(y)} samples")
    if not np.isfinite(f).all():
        raise HarnessError(f"{what}: the features hold non-finite values")
    return f, y


def knn_accuracy(features: np.ndarray, labels: np.ndarray, k: int = KNN_K) -> float:
    """Leave-one-out k-NN accuracy: each sample is classified by the majority label of its k nearest other
    samples by cosine similarity; a tied vote goes to the tied label whose nearest member ranks first."""
    f, y = _check(features, labels, "k-NN accuracy")
    k = min(k, len(f) - 1)
    unit = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    # stable sort on -similarity: equal similarities keep index order (the harness's tie-break rule)
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    neighbour_labels = y[order]
    correct = 0
    for row, truth in zip(neighbour_labels, y, strict=True):
        values, first, counts = np.unique(row, return_index=True, return_counts=True)
        best = counts == counts.max()
        winner = values[best][np.argmin(first[best])]
        correct += int(winner == truth)
    return correct / len(f)


@dataclass(frozen=True)
class Evidence:
    """LogME's result for one target column: the maximised log evidence per sample and where it was reached."""

    evidence: float  # L(alpha, beta) / n
    alpha: float
    beta: float


def log_evidence(sigma: np.ndarray, z2: np.ndarray, y2: float, n: int, d: int, alpha: float, beta: float) -> float:
    """The closed-form log evidence of Bayesian linear regression y = F w + e, w ~ N(0, alpha^-1 I),
    e ~ N(0, beta^-1 I), in the eigenbasis of F^T F = V diag(sigma) V^T (You et al. 2021, the evidence
    L(alpha, beta) that Algorithm 1 maximises):

        L = n/2 log beta + D/2 log alpha - n/2 log 2 pi - beta/2 ||F m - y||^2 - alpha/2 ||m||^2 - 1/2 log |A|

    with A = alpha I + beta F^T F and m = beta A^-1 F^T y. ``z2`` holds (V^T F^T y)_i^2 / sigma_i, the squared
    coordinates of y on F's left singular vectors, and ``y2`` = ||y||^2.
    """
    t = alpha + beta * sigma
    m2 = float((beta**2 * sigma * z2 / t**2).sum())  # ||m||^2
    residual = y2 - float(((2 * beta * sigma / t - beta**2 * sigma**2 / t**2) * z2).sum())  # ||F m - y||^2
    log_det = float(np.log(t).sum()) + (d - len(sigma)) * np.log(alpha)  # zero eigenvalues contribute alpha
    return (
        n / 2 * np.log(beta)
        + d / 2 * np.log(alpha)
        - n / 2 * np.log(2 * np.pi)
        - beta / 2 * residual
        - alpha / 2 * m2
        - log_det / 2
    )


def logme_column(sigma: np.ndarray, z2: np.ndarray, y2: float, n: int, d: int) -> Evidence:
    """Algorithm 1 of You et al. 2021 for one target column: start at alpha = beta = 1 and repeat

        gamma = sum_i beta sigma_i / (alpha + beta sigma_i)
        alpha <- gamma / ||m||^2,   beta <- (n - gamma) / ||F m - y||^2

    (MacKay's fixed-point updates of the evidence's stationary point) until alpha / beta settles."""
    alpha, beta = 1.0, 1.0
    for _ in range(LOGME_ITERATIONS):
        t = alpha + beta * sigma
        gamma = float((beta * sigma / t).sum())
        m2 = float((beta**2 * sigma * z2 / t**2).sum())
        residual = y2 - float(((2 * beta * sigma / t - beta**2 * sigma**2 / t**2) * z2).sum())
        new_alpha, new_beta = gamma / (m2 + _EPS), (n - gamma) / (max(residual, 0.0) + _EPS)
        settled = abs(new_alpha / new_beta - alpha / beta) / (alpha / beta) < LOGME_TOLERANCE
        alpha, beta = new_alpha, new_beta
        if settled:
            break
    return Evidence(log_evidence(sigma, z2, y2, n, d, alpha, beta) / n, alpha, beta)


def logme(features: np.ndarray, labels: np.ndarray) -> float:
    """LogME (You et al. 2021): the mean over classes c of the maximised log evidence per sample of the
    one-hot target column y_c = [label == c] given the features F (N, D), each class a Bayesian linear
    regression of its own (the paper's treatment of classification). One eigendecomposition of F^T F serves
    every class (Algorithm 1's "compute once" step)."""
    f, y = _check(features, labels, "LogME")
    n, d = f.shape
    # F = U S V^T: sigma = S^2 are the eigenvalues of F^T F; rank-deficient directions are dropped
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    keep = s > s.max() * 1e-10
    u, sigma = u[:, keep], s[keep] ** 2
    evidences = []
    for c in np.unique(y):
        target = (y == c).astype(np.float64)
        z2 = (u.T @ target) ** 2  # (V^T F^T y)_i^2 / sigma_i = (U^T y)_i^2
        evidences.append(logme_column(sigma, z2, float(target @ target), n, d).evidence)
    return float(np.mean(evidences))


def _class_mean_covariance(f: np.ndarray, y: np.ndarray) -> np.ndarray:
    """cov(E[f(X) | Y]): the covariance, over samples, of each sample's class-mean feature."""
    class_means = np.zeros_like(f)
    for c in np.unique(y):
        rows = y == c
        class_means[rows] = f[rows].mean(axis=0)
    g = class_means - class_means.mean(axis=0)
    return g.T @ g / len(f)


def hscore(features: np.ndarray, labels: np.ndarray) -> float:
    """H-score, as Bao et al. 2019 define it (the paper's definition of the H-score, its Section 3):

        H(f) = tr( cov(f(X))^-1  cov(E[f(X) | Y]) )

    where cov(E[f(X) | Y]) is the covariance, over samples, of each sample's class-mean feature. The inverse is
    the Moore-Penrose pseudo-inverse, so features with more dimensions than samples (singular covariance) still
    score; higher means the classes are better separated relative to the features' total spread."""
    f, y = _check(features, labels, "H-score")
    centred = f - f.mean(axis=0)
    cov_f = centred.T @ centred / len(f)
    cov_g = _class_mean_covariance(f, y)
    return float(np.trace(np.linalg.pinv(cov_f, rcond=1e-10, hermitian=True) @ cov_g))


def hscore_shrunk(features: np.ndarray, labels: np.ndarray, shrinkage: float | None = None) -> float:
    """The shrinkage H-score of Ibrahim et al. 2022:

        H_alpha(f) = tr( ((1 - alpha) cov(f) + alpha mu I)^-1  (1 - alpha) cov(E[f(X) | Y]) ),  mu = tr(cov(f)) / D

    with alpha the Ledoit-Wolf shrinkage (scikit-learn's ``ledoit_wolf``) unless ``shrinkage`` gives it;
    alpha = 0 is Bao et al.'s H-score with a plain inverse."""
    from sklearn.covariance import ledoit_wolf

    f, y = _check(features, labels, "shrunk H-score")
    centred = f - f.mean(axis=0)
    cov_f = centred.T @ centred / len(f)
    if shrinkage is None:
        _, shrinkage = ledoit_wolf(centred, assume_centered=True)
    mu = np.trace(cov_f) / f.shape[1]
    shrunk = (1 - shrinkage) * cov_f + shrinkage * mu * np.eye(f.shape[1])
    cov_g = (1 - shrinkage) * _class_mean_covariance(f, y)
    return float(np.trace(np.linalg.solve(shrunk, cov_g)))


Signal = Callable[[np.ndarray, np.ndarray], float]

#: name -> the signal (higher is better); the name is also its metric name
SIGNALS: dict[str, Signal] = {
    "knn_accuracy": knn_accuracy,
    "logme": logme,
    "hscore": hscore,
    "hscore_shrunk": hscore_shrunk,
}
