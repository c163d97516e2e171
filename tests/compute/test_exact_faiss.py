"""The exact backend's CPU search (candidates from faiss, exact re-ranking) against the algorithm it replaced and
against a brute-force numpy reference: the same neighbours on tie-heavy data, where only the tie-break by
gallery index decides, and the (distance, index) ranking on random data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.compute.retrieval import exact as exact_module
from harness.compute.retrieval import leave_one_out_with_distances, search_once
from harness.compute.retrieval.exact import ExactIndex
from support.vectors import squared_l2, unit_vectors


def previous_search(gallery: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The exact backend as it was before faiss: float32 |q|^2 + |g|^2 - 2 q.g with torch, then the top k by
    (distance, index) with a stable sort, here over whole rows (the selection is then trivially right)."""
    g, q = torch.from_numpy(gallery), torch.from_numpy(queries)
    d = ((q * q).sum(1, keepdim=True) + (g * g).sum(1)[None, :] - 2.0 * q @ g.T).clamp_min_(0.0)
    values, ids = torch.sort(d, dim=1, stable=True)
    return ids[:, :k].numpy().astype(np.int64), values[:, :k].numpy()


def previous_leave_one_out(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    ids, dists = previous_search(x, x, k + 1)
    is_self = ids == np.arange(len(x))[:, None]
    is_self[~is_self.any(axis=1), -1] = True
    return ids[~is_self].reshape(len(x), k), dists[~is_self].reshape(len(x), k)


def duplicated(seed: int) -> np.ndarray:
    """40 unit vectors, each repeated 1 to 40 times (~800 rows), shuffled: ties everywhere, many of them across
    the candidates' edge (more copies than k + MARGIN)."""
    rng = np.random.default_rng(seed)
    base = unit_vectors(40, 16, seed=seed)
    return base[rng.permutation(np.repeat(np.arange(40), rng.integers(1, 41, 40)))]


def quantised(n: int, seed: int) -> np.ndarray:
    """Coordinates in {-2..2}, 4-d: squared distances 0..64, so most ranks are tied."""
    return np.random.default_rng(seed).integers(-2, 3, (n, 4)).astype(np.float32)


@pytest.mark.parametrize("data", ["duplicated", "quantised"])
@pytest.mark.parametrize("k", [1, 10, 60])
def test_leave_one_out_is_the_previous_algorithm_on_tie_heavy_data(data: str, k: int) -> None:
    x = duplicated(1) if data == "duplicated" else quantised(700, 2)
    ids, dists = leave_one_out_with_distances(ExactIndex(), x, k)
    before_ids, before_d = previous_leave_one_out(x, k)
    # not vacuous: most rows have a tie across their k-th neighbour, which only the tie-break settles
    full = squared_l2(x, x)
    np.fill_diagonal(full, np.inf)
    assert ((full <= full[np.arange(len(x))[:, None], ids[:, -1:]]).sum(1) > k).mean() > 0.5
    np.testing.assert_array_equal(ids, before_ids)
    np.testing.assert_allclose(dists, before_d, atol=1e-5)


@pytest.mark.parametrize("k", [1, 7, 30, 700])
def test_search_is_the_previous_algorithm_on_quantised_data(k: int) -> None:
    gallery, queries = quantised(700, 3), quantised(150, 4)
    ids, dists = search_once(ExactIndex(), gallery, queries, k)
    before_ids, before_d = previous_search(gallery, queries, k)
    np.testing.assert_array_equal(ids, before_ids)
    np.testing.assert_array_equal(dists, before_d)  # integers: float32 is exact in both


def reference(queries: np.ndarray, gallery: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute force in numpy: float64 squared distances rounded to float32, ranked by (distance, index)."""
    d = squared_l2(queries, gallery).astype(np.float32)
    ids = np.stack([np.lexsort((np.arange(len(row)), row))[:k] for row in d])
    return ids, np.take_along_axis(d, ids, axis=1)


@pytest.mark.parametrize("dim", [3, 24, 96])
def test_random_data_is_the_brute_force_ranking(dim: int) -> None:
    gallery, queries = unit_vectors(1000, dim, seed=dim), unit_vectors(200, dim, seed=dim + 1)
    ids, dists = search_once(ExactIndex(), gallery, queries, 15)
    ref_ids, ref_d = reference(queries, gallery, 15)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_array_equal(dists, ref_d)
    x = np.vstack([gallery, 3.0 * queries])  # norms differ: the bound scales with them
    ids, dists = leave_one_out_with_distances(ExactIndex(), x, 15)
    ref_ids, ref_d = reference(x, x, 16)
    np.testing.assert_array_equal(ids, ref_ids[:, 1:])  # without near-duplicates each row's nearest is itself
    np.testing.assert_array_equal(dists, ref_d[:, 1:])


def test_rows_beyond_the_margin_are_searched_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # one vector 50 times and k = 10 (11 searched): a copy's 19 candidates are all tied at distance 0, so its row
    # fails the edge test; those rows alone are searched again with 4 x 19 candidates, then ranked by index
    calls: list[tuple[int, int]] = []
    candidates = exact_module._candidates

    def counted(queries: np.ndarray, gallery: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
        calls.append((len(queries), m))
        return candidates(queries, gallery, m)

    monkeypatch.setattr(exact_module, "_candidates", counted)
    x = np.vstack([np.repeat(unit_vectors(1, 8, seed=0), 50, axis=0), unit_vectors(150, 8, seed=1)])
    ids, _ = leave_one_out_with_distances(ExactIndex(), x, 10)
    # again: the copies' rows and those of the other vectors whose candidates end among the copies
    assert exact_module.MARGIN == 8 and calls[0] == (200, 19) and len(calls) == 2
    assert calls[1][1] == 76 and 50 <= calls[1][0] < 100
    copies = np.arange(50)
    expected = np.stack([np.setdiff1d(copies, [q])[:10] for q in copies])
    np.testing.assert_array_equal(ids[:50], expected)
    np.testing.assert_array_equal(ids, previous_leave_one_out(x, 10)[0])
