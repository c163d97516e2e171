"""Seeded, stratified train/test assignment shared by every dataset without an official split."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from harness.core.errors import HarnessError


def stratified_split(labels: list[int], test_fraction: float, seed: int) -> list[str]:
    """Assign "train" or "test" to each item, class by class.

    A class of n >= 2 items sends round(n * test_fraction) of them to test, clamped to 1..n-1, so every
    such class appears in both splits. A class with a single item goes to train: in test it could never
    be a retrieval match for anything (leave-one-out excludes it), whereas in train it still teaches a
    classifier head. Which items go to test is drawn with ``numpy.random.default_rng(seed)``, class by
    class in sorted label order, so the result depends only on (labels, test_fraction, seed).

    We do not use sklearn's ``train_test_split(stratify=...)``: it refuses classes of one item.

    Raises:
        HarnessError: test_fraction is not strictly between 0 and 1.
    """
    if not 0.0 < test_fraction < 1.0:
        raise HarnessError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    by_class: dict[int, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        by_class[label].append(index)
    rng = np.random.default_rng(seed)
    splits = ["train"] * len(labels)
    for label in sorted(by_class):
        members = by_class[label]
        if len(members) < 2:
            continue
        # floor(x + 0.5) rather than round(): Python's round() sends 2.5 to 2 and 3.5 to 4.
        n_test = min(max(int(np.floor(len(members) * test_fraction + 0.5)), 1), len(members) - 1)
        for position in rng.permutation(len(members))[:n_test]:
            splits[members[position]] = "test"
    return splits
