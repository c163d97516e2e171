"""Which models a table's column cannot tell apart from its best: paired tests on the same queries.

Per table (strategy) and column (dataset, metric): the best value's run is compared with every other run by
the two-sided sign-flip permutation test of harness.compute.stats on their per-query values (the ``per_query`` table),
and the p-values are Holm-corrected over the column's comparisons. A value is "tied" (not significantly worse
than the best) when its adjusted p is above ``ALPHA`` (Holm rejects at adjusted p <= ALPHA, as statsmodels
does). Values without stored per-query values stay unmarked (``tied`` None), and so does a column with a single value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from harness.compute.stats import ALPHA, holm, paired_test, rejects


class Value(Protocol):
    """What a table value offers the test: its number and run, and the two fields the test sets."""

    value: float
    run_id: str
    tied: bool | None
    p_value: float | None


#: permutations per comparison: the smallest p is 1 / 2000, well below ALPHA / (comparisons) for ten models
N_PERMUTATIONS = 1999
#: (run a, run b, metric) -> both runs' per-query values on their common queries, or None
Pairs = Callable[[str, str, str], "tuple[np.ndarray, np.ndarray] | None"]


def mark_column(values: Sequence[Value], metric: str, pairs: Pairs) -> None:
    """Set ``tied`` and ``p_value`` on each of one column's values (best = highest value, then first listed)."""
    if len(values) < 2:
        return
    best = max(values, key=lambda v: v.value)
    tested: list[tuple[Value, float]] = []
    for other in values:
        if other is best:
            continue
        paired = pairs(best.run_id, other.run_id, metric)
        if paired is not None:
            tested.append((other, paired_test(paired[0], paired[1], N_PERMUTATIONS)))
    if not tested:
        return
    best.tied = True
    for (other, _), adjusted in zip(tested, holm([p for _, p in tested]), strict=True):
        other.p_value = adjusted
        other.tied = not rejects(adjusted)


def describe(mark: str = "≈") -> str:
    """The report's statement of how intervals and markers are computed."""
    from harness.compute.stats import LEVEL, N_RESAMPLES, SEED

    return (
        f"Each value is the mean over queries (over test images for acc) with its {LEVEL:.0%} percentile bootstrap "
        f"interval [low, high] ({N_RESAMPLES} resamples, seed {SEED}). {mark} marks a model not significantly worse "
        "than the column's best: a two-sided paired sign-flip permutation test on the same queries "
        f"({N_PERMUTATIONS} permutations) at level {ALPHA:g}, Holm-corrected over the column's comparisons with the "
        "best. Values without stored per-query results are not tested (no mark). Where a cell was trained under "
        "several seeds, the mean ± sample standard deviation across seeds (n seeds) follows the interval: training "
        "noise beside evaluation noise; the value, its interval and its mark are the newest seed's."
    )
