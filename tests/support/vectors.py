"""Seeded test vectors and a float64 reference distance."""

from __future__ import annotations

import numpy as np


def unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    """Seeded random L2-normalised float32 vectors: no exact ties, but a few near-ties (see NEAR_TIE)."""
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def squared_l2(queries: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Reference squared L2 distances in float64, (Q, N); in query chunks (the difference tensor of 3,000 x 3,000
    x 64 would be 4.6 GB at once)."""
    g = gallery.astype(np.float64)
    out = np.empty((len(queries), len(gallery)))
    for start in range(0, len(queries), 64):
        diff = queries[start : start + 64].astype(np.float64)[:, None, :] - g[None, :, :]
        out[start : start + 64] = (diff * diff).sum(-1)
    return out


def reference_ranking(queries: np.ndarray, gallery: np.ndarray, k: int) -> np.ndarray:
    """The k nearest gallery ids per query, ranked by (distance, gallery index), in float64."""
    d = squared_l2(queries, gallery)
    index = np.broadcast_to(np.arange(gallery.shape[0]), d.shape)
    return np.stack([np.lexsort((index[q], d[q]))[:k] for q in range(len(d))])


#: float64 distances closer than this count as a near-tie: float32 rounding (~1e-7 for unit vectors, computed
#: differently by each backend) may order such a pair either way. Random data has a few of them.
NEAR_TIE = 1e-5


def near_tie_rows(queries: np.ndarray, gallery: np.ndarray, k: int) -> np.ndarray:
    """Rows whose k+1 nearest float64 distances include two closer than NEAR_TIE (the cut-off included)."""
    d = np.sort(squared_l2(queries, gallery), axis=1)[:, : k + 1]
    return (np.diff(d, axis=1) < NEAR_TIE).any(axis=1)


def assert_ranking(ids: np.ndarray, queries: np.ndarray, gallery: np.ndarray, k: int) -> None:
    """``ids`` is the float64 (distance, index) ranking, exactly on rows without near-ties; elsewhere only
    near-tied ids may change places."""
    reference = reference_ranking(queries, gallery, k)
    assert ids.shape == reference.shape
    assert all(len(set(row)) == k for row in ids.tolist())  # no id twice in a row
    clear = ~near_tie_rows(queries, gallery, k)
    assert clear.mean() > 0.95  # the exact comparison covers nearly every row
    np.testing.assert_array_equal(ids[clear], reference[clear])
    d = squared_l2(queries, gallery)
    swapped = ids != reference
    gaps = np.abs(np.take_along_axis(d, ids, axis=1) - np.take_along_axis(d, reference, axis=1))[swapped]
    assert (gaps < NEAR_TIE).all()


def assert_same_neighbours(
    a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], queries: np.ndarray, gallery: np.ndarray
) -> None:
    """Both results are the reference ranking (identical ids on every row without a float64 near-tie), with
    the same distances per rank."""
    (ids_a, d_a), (ids_b, d_b) = a, b
    assert ids_a.shape == ids_b.shape == d_a.shape == d_b.shape
    assert ids_a.dtype == ids_b.dtype == np.int64
    assert d_a.dtype == d_b.dtype == np.float32
    k = ids_a.shape[1]
    assert_ranking(ids_a, queries, gallery, k)
    assert_ranking(ids_b, queries, gallery, k)
    clear = ~near_tie_rows(queries, gallery, k)
    np.testing.assert_array_equal(ids_a[clear], ids_b[clear])
    np.testing.assert_allclose(d_a, d_b, rtol=1e-5, atol=1e-6)  # atol: the self-distances are ~0
