"""Classification metrics on the test split: accuracy, macro precision/recall/F1, top-5 accuracy.

**Tied class scores.** Top-k accuracy (top-1 = ``accuracy``) counts a test image as the *expected* hit under a
uniformly random order of the classes tied with its true class: with g classes scoring strictly higher than the
true class and e classes (the true one included) scoring exactly as high, the image scores 1 when g + e <= k,
0 when g >= k, and (k - g) / e in between. The value then depends on no class order. Without ties it equals
scikit-learn's ``top_k_accuracy_score`` and ``accuracy_score`` of the argmax; with ties those two disagree
(scikit-learn's top-k breaks a tie towards the higher class index, ``argmax`` towards the lower one) and ours is
the mean of scikit-learn's over every order of the tied columns. Ties are rare with real heads (softmax of
float logits) and common with degenerate ones (a constant or saturated head), where an order-dependent rule would
report an accuracy that the class numbering chose.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_fscore_support

TOP_K = 5


def top_k_hits(y_true: np.ndarray, proba: np.ndarray, k: int) -> np.ndarray:
    """Per test image, in [0, 1]: the top-``k`` hit with ties counted fractionally (the module's rule)."""
    scores = np.asarray(proba)
    truth = scores[np.arange(len(scores)), np.asarray(y_true)][:, None]
    above = (scores > truth).sum(axis=1)
    tied = (scores == truth).sum(axis=1)  # >= 1: the true class itself
    return np.clip((k - above) / tied, 0.0, 1.0).astype(np.float64)


def per_image_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict[str, np.ndarray]:
    """Per test image, in [0, 1] (1 or 0 without ties): ``accuracy`` (top-1) and, with more than 5 classes,
    ``top5_accuracy``; their means are :func:`classification_metrics`' values of the same names."""
    values = {"accuracy": top_k_hits(y_true, proba, 1)}
    if proba.shape[1] > TOP_K:
        values["top5_accuracy"] = top_k_hits(y_true, proba, TOP_K)
    return values


def classification_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """``y_true`` holds output-unit indices, ``proba`` (N, C) the head's probabilities.

    Macro averages are over the classes present in ``y_true`` or predicted (scikit-learn's convention), with
    0 for a class never predicted; they score the argmax (ties: the lower class index). Accuracy and top-5
    accuracy count tied scores fractionally (the module's docstring). Top-5 accuracy is reported only with more
    than 5 classes.
    """
    predicted = proba.argmax(axis=1)
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, predicted, average="macro", zero_division=0)
    per_image = per_image_metrics(y_true, proba)
    return {
        "accuracy": float(per_image["accuracy"].mean()),
        "precision_macro": float(precision),
        "recall_macro": float(recall),
        "f1_macro": float(f1),
        **({"top5_accuracy": float(per_image["top5_accuracy"].mean())} if "top5_accuracy" in per_image else {}),
    }
