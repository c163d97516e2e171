"""Nested class-stratified samples: stage s draws ``per_class * growth**s`` items of each class (all of a class
that has fewer), and every stage's sample contains the previous one's, so a candidate that survives a stage
embeds only the items the next stage adds.

Subsampling the gallery changes a retrieval metric's level: with fewer same-class items per query, mMP@5's
top 5 holds fewer relevant items to find and fewer distractors to beat, so values on a sample are not those
of the full split. What racing compares is the *ranking* of candidates on the same sample, which the paired
test judges on the same queries; levels are reported only as "on the sample".
"""

from __future__ import annotations

import numpy as np

from harness.core.errors import HarnessError

SEED = 0


def stratified_order(labels: np.ndarray, seed: int = SEED) -> list[np.ndarray]:
    """Per class (in sorted label order), its item positions in a seeded random order."""
    y = np.asarray(labels)
    rng = np.random.default_rng(seed)
    return [rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)]


def nested_sample(order: list[np.ndarray], per_class: int) -> np.ndarray:
    """The first ``per_class`` items of every class of ``stratified_order``, ascending positions."""
    if per_class < 2:
        raise HarnessError(f"a stratified sample needs at least 2 items per class, got per_class={per_class}")
    return np.sort(np.concatenate([members[:per_class] for members in order]))


def stage_sizes(order: list[np.ndarray], first: int, growth: float) -> list[int]:
    """Items per class at each stage, growing by ``growth`` until every class is used whole (the last stage)."""
    if growth <= 1:
        raise HarnessError(f"the sample's growth per stage must be above 1, got {growth}")
    largest = max(len(m) for m in order)
    sizes, size = [], first
    while size < largest:
        sizes.append(size)
        size = max(size + 1, round(size * growth))
    sizes.append(largest)
    return sizes
