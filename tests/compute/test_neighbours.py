"""Neighbour lists beside the shard (harness.compute.retrieval.neighbours): stored as searched, and the exact neighbours
of a set of vectors searched once for every cell that compares with them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.compute.retrieval import leave_one_out, leave_one_out_with_distances
from harness.compute.retrieval import neighbours as stored
from harness.compute.retrieval.exact import ExactIndex
from harness.storage.sidefiles import load_neighbours, neighbours_path, save_neighbours
from support.vectors import squared_l2, unit_vectors


def test_distances_are_those_of_the_neighbours() -> None:
    x = unit_vectors(60, 8, seed=2)
    ids, dists = leave_one_out_with_distances(ExactIndex(), x, 5)
    np.testing.assert_array_equal(ids, leave_one_out(ExactIndex(), x, 5))
    assert not (ids == np.arange(60)[:, None]).any()  # the query itself removed
    np.testing.assert_allclose(dists, np.take_along_axis(squared_l2(x, x), ids, axis=1), atol=1e-5)


def test_exact_neighbours_are_searched_once_and_reused(tmp_path: Path) -> None:
    x = unit_vectors(80, 8, seed=3)
    ids, dists, reused = stored.exact(tmp_path, x, 7)
    assert not reused and ids.shape == dists.shape == (80, 7)
    file = neighbours_path(tmp_path, stored.exact_name(x, 7))
    assert file.exists()
    again, again_d, reused = stored.exact(tmp_path, x, 7)
    assert reused
    np.testing.assert_array_equal(again, ids)
    np.testing.assert_array_equal(again_d, dists)
    # other vectors, or another depth, are another entry
    assert not stored.exact(tmp_path, x * 0.5, 7)[2] and not stored.exact(tmp_path, x, 6)[2]
    file.write_bytes(b"not an npz")  # a damaged file is searched again and replaced
    repaired, _, reused = stored.exact(tmp_path, x, 7)
    assert not reused
    np.testing.assert_array_equal(repaired, ids)
    assert stored.exact(tmp_path, x, 7)[2]


def test_saved_neighbours_round_trip(tmp_path: Path) -> None:
    ids = np.array([[3, 1], [0, 2]], dtype=np.int64)
    dists = np.array([[0.5, 0.75], [0.25, 1.0]], dtype=np.float32)
    file = save_neighbours(tmp_path, "abc.npz", ids, dists)
    assert file == tmp_path / "neighbours" / "abc.npz" and not list(file.parent.glob("*.partial*"))
    back_ids, back_d = load_neighbours(file)
    np.testing.assert_array_equal(back_ids, ids)
    np.testing.assert_array_equal(back_d, dists)
