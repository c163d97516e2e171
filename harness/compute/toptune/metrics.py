"""Classification metrics on the test split: accuracy, macro precision/recall/F1, top-5 accuracy."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_fscore_support

TOP_K = 5


def per_image_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict[str, np.ndarray]:
    """Per test image, 1.0 or 0.0: ``accuracy`` (top-1 correct) and, with more than 5 classes, ``top5_accuracy``;
    their means are :func:`classification_metrics`' values of the same names."""
    values = {"accuracy": (proba.argmax(axis=1) == y_true).astype(np.float64)}
    if proba.shape[1] > TOP_K:
        # stable sort on negated scores: ties go to the lower class index, deterministically
        top = np.argsort(-proba, axis=1, kind="stable")[:, :TOP_K]
        values["top5_accuracy"] = (top == y_true[:, None]).any(axis=1).astype(np.float64)
    return values


def classification_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """``y_true`` holds output-unit indices, ``proba`` (N, C) the head's probabilities.

    Macro averages are over the classes present in ``y_true`` or predicted (scikit-learn's convention), with
    0 for a class never predicted. Top-5 accuracy is reported only with more than 5 classes.
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
