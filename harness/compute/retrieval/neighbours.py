"""The exact neighbours of a set of vectors, ``exact-<digest>-<depth>.npz`` (digest:
harness.compute.retrieval.collections.digest), searched once and read by every approximate cell over the same vectors
for its exact-vs-ANN comparison.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.storage.sidefiles import load_neighbours, neighbours_path, save_neighbours


def exact_name(vectors: np.ndarray, depth: int) -> str:
    from harness.compute.retrieval.collections import digest

    return f"exact-{digest(vectors)}-{depth}.npz"


def exact(workdir: Path, vectors: np.ndarray, depth: int, device: str = "cpu") -> tuple[np.ndarray, np.ndarray, bool]:
    """(ids, distances, reused): the exact leave-one-out neighbours of ``vectors`` (searched on ``device``) only
    when no earlier cell stored them; an unreadable file is searched again and replaced."""
    from harness.compute.retrieval import leave_one_out_with_distances
    from harness.compute.retrieval.exact import ExactIndex

    file = neighbours_path(workdir, exact_name(vectors, depth))
    if file.exists():
        try:
            ids, dists = load_neighbours(file)
            if ids.shape == (len(vectors), min(depth, len(vectors) - 1)):
                return ids, dists, True
        except (OSError, ValueError, KeyError):
            pass
    ids, dists = leave_one_out_with_distances(ExactIndex(device=device), vectors, depth)
    save_neighbours(workdir, file.name, ids, dists)
    return ids, dists, False
