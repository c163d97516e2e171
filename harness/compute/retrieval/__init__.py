"""Nearest-neighbour indexes behind one protocol (harness.compute.retrieval.index), the backends by name
(.backends), leave-one-out search on top of them, and the retrieval metrics (.metrics)."""

from __future__ import annotations

import numpy as np

from harness.compute.retrieval.index import Index


def search_once(index: Index, gallery: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Fit ``index`` over ``gallery``, search it once with ``queries``, close it: (ids, squared L2 distances)."""
    with index:
        index.fit(gallery)
        return index.search(queries, k)


def leave_one_out(index: Index, vectors: np.ndarray, k: int) -> np.ndarray:
    """Each vector queries all the others: the k nearest gallery ids per query, the query itself removed.

    ``index`` is fitted over ``vectors`` here and searched with them; the caller closes it (``with index:``),
    so its costs (``index.costs()``) can be read after the search.

    A query whose self-match is not among its k+1 hits (possible only with more than k exact duplicates
    ranked before it by index) loses its last hit instead, so every row keeps exactly k neighbours.
    """
    return leave_one_out_with_distances(index, vectors, k)[0]


def leave_one_out_with_distances(index: Index, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`leave_one_out`'s ids and their squared L2 distances, each (N, k)."""
    return leave_one_out_across(index, vectors, vectors, k)


def leave_one_out_across(
    index: Index, queries: np.ndarray, gallery: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Query i searches the gallery without gallery item i: (ids, squared L2 distances), each (Q, k). Query i
    and item i may be two vectors of one item (an image querying fused image + title documents) or the same
    vector (:func:`leave_one_out_with_distances`); item i is removed from query i's hits wherever it ranks."""
    k = min(k, len(gallery) - 1)
    index.fit(gallery)
    ids, dists = index.search(queries, k + 1)
    is_self = ids == np.arange(len(queries))[:, None]
    is_self[~is_self.any(axis=1), -1] = True
    return ids[~is_self].reshape(len(queries), k), dists[~is_self].reshape(len(queries), k)
