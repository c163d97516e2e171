"""Neighbour lists kept beside the shard: ``<workdir>/neighbours/<run_id>.npz`` (ids and squared L2 distances of
each query's leave-one-out neighbours, as searched), so a new metric needs no new search; and the exact
neighbours of a set of vectors, ``exact-<digest>-<depth>.npz`` (digest: harness.retrieval.collections.digest),
searched once and read by every approximate cell over the same vectors for its exact-vs-ANN comparison.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FOLDER = "neighbours"


def path(workdir: Path, name: str) -> Path:
    return Path(workdir) / FOLDER / name


def save(workdir: Path, name: str, ids: np.ndarray, dists: np.ndarray) -> Path:
    """Write atomically (a reader never sees half a file); ids as int32 when they fit."""
    target = path(workdir, name)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial.npz")
    small = ids.size == 0 or int(ids.max()) < 2**31
    np.savez(partial, ids=ids.astype(np.int32 if small else np.int64), dists=dists.astype(np.float32))
    partial.replace(target)
    return target


def load(file: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(file) as data:
        return data["ids"].astype(np.int64), data["dists"]


def exact_name(vectors: np.ndarray, depth: int) -> str:
    from harness.retrieval.collections import digest

    return f"exact-{digest(vectors)}-{depth}.npz"


def exact(workdir: Path, vectors: np.ndarray, depth: int, device: str = "cpu") -> tuple[np.ndarray, np.ndarray, bool]:
    """(ids, distances, reused): the exact leave-one-out neighbours of ``vectors`` (searched on ``device``) only
    when no earlier cell stored them; an unreadable file is searched again and replaced."""
    from harness.retrieval import leave_one_out_with_distances
    from harness.retrieval.exact import ExactBackend

    file = path(workdir, exact_name(vectors, depth))
    if file.exists():
        try:
            ids, dists = load(file)
            if ids.shape == (len(vectors), min(depth, len(vectors) - 1)):
                return ids, dists, True
        except (OSError, ValueError, KeyError):
            pass
    ids, dists = leave_one_out_with_distances(ExactBackend(device=device), vectors, depth)
    save(workdir, file.name, ids, dists)
    return ids, dists, False
