"""Per-query values of a cell: bootstrap intervals stored with the metrics, the arrays kept for paired tests.

A suite that scores queries (retrieval) or test images (classification) one by one hands the values here.
For each metric ``<name>`` this returns ``<name>_ci_low`` / ``<name>_ci_high`` (harness.stats.bootstrap_mean,
95%, registered as kind "interval"), writes the arrays to ``<workdir>/per_query/<run_id>.npz`` (the cell's
key fixes the values) and records that file's name and the bootstrap's settings in the cell's details; so
nothing is searched twice for an interval, a paired test or a later metric.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.stats import LEVEL, N_RESAMPLES, SEED, bootstrap_mean

if TYPE_CHECKING:
    from harness.suites import Context

FOLDER = "per_query"
#: the array of query positions (within the evaluated split) in every file
QUERY = "query"


def path(workdir: Path, name: str) -> Path:
    return workdir / FOLDER / name


def record(ctx: Context, query: np.ndarray, values: dict[str, np.ndarray]) -> dict[str, float]:
    """Write the per-query arrays and return the interval metrics; ``query`` (Q,) positions, each value (Q,)."""
    intervals: dict[str, float] = {}
    for name, array in values.items():
        interval = bootstrap_mean(array)
        intervals[f"{name}_ci_low"], intervals[f"{name}_ci_high"] = interval.low, interval.high
    name = f"{ctx.spec.key}.npz"
    target = path(ctx.workdir, name)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial.npz")
    arrays: dict[str, Any] = {QUERY: np.asarray(query, dtype=np.int64), **values}
    np.savez_compressed(partial, **arrays)
    partial.replace(target)  # atomic: a reader never sees half a file
    ctx.details["per_query"] = name
    ctx.details["bootstrap"] = {"n_resamples": N_RESAMPLES, "seed": SEED, "level": LEVEL, "method": "percentile"}
    return intervals


def load(file: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(query positions, metric -> values) of one file written by :func:`record`."""
    with np.load(file) as data:
        return data[QUERY], {k: data[k] for k in data.files if k != QUERY}
