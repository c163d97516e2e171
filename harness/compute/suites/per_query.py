"""Per-query values of a cell: bootstrap intervals stored with the metrics, the arrays kept for paired tests.

A suite that scores queries (retrieval) or test images (classification) one by one hands the values here.
For each metric ``<name>`` this returns ``<name>_ci_low`` / ``<name>_ci_high`` (harness.compute.stats.bootstrap_mean,
95%, registered as kind "interval"), writes the arrays to ``<workdir>/per_query/<run_id>.npz`` (the cell's
key fixes the values) and records that file's name and the bootstrap's settings in the cell's details; so
nothing is searched twice for an interval, a paired test or a later metric.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from harness.compute.stats import LEVEL, N_RESAMPLES, SEED, bootstrap_mean
from harness.storage.sidefiles import save_per_query

if TYPE_CHECKING:
    from harness.compute.suites import Context


def record(ctx: Context, query: np.ndarray, values: dict[str, np.ndarray]) -> dict[str, float]:
    """Write the per-query arrays and return the interval metrics; ``query`` (Q,) positions, each value (Q,)."""
    intervals: dict[str, float] = {}
    for name, array in values.items():
        interval = bootstrap_mean(array)
        intervals[f"{name}_ci_low"], intervals[f"{name}_ci_high"] = interval.low, interval.high
    name = f"{ctx.spec.key}.npz"
    save_per_query(ctx.workdir, name, query, values)
    ctx.details["per_query"] = name
    ctx.details["bootstrap"] = {"n_resamples": N_RESAMPLES, "seed": SEED, "level": LEVEL, "method": "percentile"}
    return intervals
