"""Nearest-neighbour backends behind one interface, and the retrieval metrics."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from harness.core.errors import HarnessError


class SearchBackend(Protocol):
    name: str

    def search(self, gallery: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (gallery ids, squared L2 distances), each (Q, k), ranked by distance then gallery index."""
        ...


BACKENDS = ("milvus", "exact")


def make_backend(
    name: str, milvus_uri: str, token: str = "", index: str = "FLAT", index_params: str = "", device: str = "cpu"
) -> SearchBackend:
    """``index`` / ``index_params`` (see harness.compute.retrieval.milvus.index_spec) apply to Milvus only,
    ``device`` (the
    cell's torch device: the exact search runs where the embeddings were computed) to the exact backend only."""
    if name == "exact":
        from harness.compute.retrieval.exact import ExactBackend

        return ExactBackend(device=device)
    if name == "milvus":
        from harness.compute.retrieval.milvus import MilvusBackend, index_spec

        return MilvusBackend(milvus_uri, token=token, index=index_spec(index, index_params))
    raise HarnessError(f"unknown retrieval backend '{name}' (known: {', '.join(BACKENDS)})")


def leave_one_out(backend: SearchBackend, vectors: np.ndarray, k: int) -> np.ndarray:
    """Each vector queries all the others: the k nearest gallery ids per query, the query itself removed.

    A query whose self-match is not among its k+1 hits (possible only with more than k exact duplicates
    ranked before it by index) loses its last hit instead, so every row keeps exactly k neighbours.
    """
    return leave_one_out_with_distances(backend, vectors, k)[0]


def leave_one_out_with_distances(backend: SearchBackend, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`leave_one_out`'s ids and their squared L2 distances, each (N, k)."""
    k = min(k, len(vectors) - 1)
    ids, dists = backend.search(vectors, vectors, k + 1)
    is_self = ids == np.arange(len(vectors))[:, None]
    is_self[~is_self.any(axis=1), -1] = True
    return ids[~is_self].reshape(len(vectors), k), dists[~is_self].reshape(len(vectors), k)
