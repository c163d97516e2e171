"""Side files kept beside a cell's shard: its per-query metric values and its neighbour lists.

``<workdir>/per_query/<run_id>.npz``: the query positions (within the evaluated split) and, per metric, each
query's value, for bootstrap intervals and paired tests. ``<workdir>/neighbours/<name>.npz``: ids and squared
L2 distances of each query's neighbours, as searched, so a new metric needs no new search. Both are written
atomically (a reader never sees half a file); the shard records the file's name in its details.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from harness.core.io import atomic_path
from harness.storage.workdir import Workdir

#: the array of query positions in every per-query file
QUERY = "query"


def per_query_path(workdir: Path | Workdir, name: str) -> Path:
    return Workdir.of(workdir).per_query / name


def save_per_query(workdir: Path | Workdir, name: str, query: np.ndarray, values: dict[str, np.ndarray]) -> Path:
    """Write one cell's per-query arrays; ``query`` (Q,) positions, each value (Q,)."""
    target = per_query_path(workdir, name)
    arrays: dict[str, Any] = {QUERY: np.asarray(query, dtype=np.int64), **values}
    with atomic_path(target, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)
    return target


def load_per_query(file: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(query positions, metric -> values) of one file written by :func:`save_per_query`."""
    with np.load(file) as data:
        return data[QUERY], {k: data[k] for k in data.files if k != QUERY}


def neighbours_path(workdir: Path | Workdir, name: str) -> Path:
    return Workdir.of(workdir).neighbours / name


def save_neighbours(workdir: Path | Workdir, name: str, ids: np.ndarray, dists: np.ndarray) -> Path:
    """Write a neighbour list; ids as int32 when they fit."""
    target = neighbours_path(workdir, name)
    small = ids.size == 0 or int(ids.max()) < 2**31
    with atomic_path(target, suffix=".npz") as tmp:
        np.savez(tmp, ids=ids.astype(np.int32 if small else np.int64), dists=dists.astype(np.float32))
    return target


def load_neighbours(file: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(file) as data:
        return data["ids"].astype(np.int64), data["dists"]
