"""Tests for the nearest-neighbour backends: exact vs Milvus Lite vs faiss, tie-breaking, leave-one-out, errors.

Milvus runs for real (Milvus Lite in a temporary file); the data is kept small because Milvus Lite is pure
Python. Ties are built from small integers, whose squared distances are exact in float32.
"""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import faiss
import numpy as np
import pytest
from pymilvus import MilvusClient

from harness.compute.retrieval import collections as milvus_module
from harness.compute.retrieval import leave_one_out, search_once
from harness.compute.retrieval.backends import BACKENDS, IndexRequest, make_index
from harness.compute.retrieval.exact import ExactIndex
from harness.compute.retrieval.index import Index
from harness.compute.retrieval.milvus import MAX_TOPK, MilvusIndex
from harness.core.errors import HarnessError
from support.vectors import (
    assert_ranking,
    assert_same_neighbours,
    near_tie_rows,
    reference_ranking,
    squared_l2,
    unit_vectors,
)


def free_local_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound by the OS, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def milvus_collections(uri: str) -> list[str]:
    client = MilvusClient(uri=uri)
    try:
        return [c for c in client.list_collections() if c.startswith("ecombench_")]
    finally:
        client.close()


@pytest.fixture
def milvus_uri(tmp_path: Path) -> str:
    return str(tmp_path / "milvus.db")


def named(name: str, milvus_uri: str) -> Index:
    return make_index(IndexRequest(backend=name, milvus_uri=milvus_uri))


# --- Milvus vs exact ------------------------------------------------------------------------------------


def test_milvus_matches_exact_queries_are_the_gallery(milvus_uri: str) -> None:
    x = unit_vectors(500, 32, seed=0)
    milvus = search_once(MilvusIndex(milvus_uri), x, x, 20)
    exact = search_once(ExactIndex(), x, x, 20)
    assert milvus[0].shape == (500, 20)
    np.testing.assert_array_equal(milvus[0][:, 0], np.arange(500))  # every vector is its own nearest
    assert_same_neighbours(milvus, exact, x, x)


def test_milvus_matches_exact_separate_queries(milvus_uri: str) -> None:
    gallery, queries = unit_vectors(400, 32, seed=1), unit_vectors(60, 32, seed=2)
    milvus = search_once(MilvusIndex(milvus_uri), gallery, queries, 20)
    exact = search_once(ExactIndex(), gallery, queries, 20)
    assert milvus[0].shape == (60, 20)
    assert (milvus[1][:, 0] > 0.1).all()  # the queries are not in the gallery: no zero distance
    assert not near_tie_rows(queries, gallery, 20).any()  # this data has none: ids must be identical
    np.testing.assert_array_equal(milvus[0], exact[0])
    assert_same_neighbours(milvus, exact, queries, gallery)


def test_milvus_matches_exact_bit_for_bit_on_integer_data(milvus_uri: str) -> None:
    # Integer coordinates in [-500, 500], 8-d: every squared distance is an integer <= 8 * 1000**2 < 2**24, and
    # so is every partial sum of the exact backend's |q|^2 + |g|^2 - 2 q.g (each term <= 8 * 500**2): float32 is
    # exact. Milvus Lite is off by an ulp at most, far below the gap of 1 between distinct distances, so with
    # no tie the ids are identical on any platform.
    rng = np.random.default_rng(17)
    gallery = rng.integers(-500, 501, size=(300, 8)).astype(np.float32)
    queries = rng.integers(-500, 501, size=(50, 8)).astype(np.float32)
    d = np.sort(squared_l2(queries, gallery), axis=1)[:, :21]
    assert (np.diff(d, axis=1) > 0).all()  # no tie among the 21 nearest: one right answer
    milvus_ids, milvus_d = search_once(MilvusIndex(milvus_uri), gallery, queries, 20)
    exact_ids, exact_d = search_once(ExactIndex(), gallery, queries, 20)
    np.testing.assert_array_equal(exact_ids, reference_ranking(queries, gallery, 20))
    np.testing.assert_array_equal(milvus_ids, exact_ids)
    np.testing.assert_array_equal(exact_d, d[:, :20])
    np.testing.assert_allclose(milvus_d, d[:, :20], rtol=1e-6)  # Milvus Lite is not bit-exact (2 -> 1.9999999)


def test_milvus_with_ties_agrees_with_exact_at_the_cut_off_too(milvus_uri: str) -> None:
    # Coordinates in {-2..2}, 3-d: squared distances 0..48, so most ranks are tied.
    rng = np.random.default_rng(3)
    gallery = rng.integers(-2, 3, size=(300, 3)).astype(np.float32)
    queries = rng.integers(-2, 3, size=(40, 3)).astype(np.float32)
    with MilvusIndex(milvus_uri) as backend:
        backend.fit(gallery)  # built once, searched twice
        # k = n: no cut-off, so the whole (distance, index) order is fixed; the backend must return exactly that.
        np.testing.assert_array_equal(backend.search(queries, 300)[0], reference_ranking(queries, gallery, 300))
        # k < n: the items tied at the k-th distance compete for the last slots; the backend searches deeper
        # past the tie, so the lower gallery indices win, as in the exact backend.
        milvus_ids, milvus_d = backend.search(queries, 30)
    exact_ids, exact_d = search_once(ExactIndex(), gallery, queries, 30)
    np.testing.assert_allclose(milvus_d, exact_d, rtol=1e-6)
    straddling = (squared_l2(queries, gallery) <= exact_d[:, -1:]).sum(axis=1) > 30
    assert straddling.sum() > 20  # most rows have a tie across the cut-off: the comparison is not vacuous
    np.testing.assert_array_equal(milvus_ids, exact_ids)
    d = squared_l2(queries, gallery)
    np.testing.assert_array_equal(np.take_along_axis(d, milvus_ids, axis=1), np.take_along_axis(d, exact_ids, axis=1))
    for ids, dist in zip(milvus_ids.tolist(), milvus_d.tolist(), strict=True):  # each row ranked by (distance, id)
        assert list(zip(dist, ids, strict=True)) == sorted(zip(dist, ids, strict=True))


def test_milvus_batches_inserts_and_queries(milvus_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Small batch limits: 50 gallery rows go in as 16 + 16 + 16 + 2 (ids offset by each batch's start), and
    # SEARCH_BYTES // (50 rows * 8 dims * 4 bytes) = 11200 // 1600 = 7 queries per search: 7 * 4 + 2.
    monkeypatch.setattr(milvus_module, "INSERT_BATCH", 16)
    monkeypatch.setattr(milvus_module, "SEARCH_BYTES", 11_200)
    gallery, queries = unit_vectors(50, 8, seed=18), unit_vectors(30, 8, seed=19)
    milvus_result = search_once(MilvusIndex(milvus_uri), gallery, queries, 5)
    assert_same_neighbours(milvus_result, search_once(ExactIndex(), gallery, queries, 5), queries, gallery)
    self_ids, _ = search_once(MilvusIndex(milvus_uri), gallery, gallery, 1)
    np.testing.assert_array_equal(self_ids[:, 0], np.arange(50))  # every inserted row got its own index


def test_k_larger_than_gallery_returns_the_whole_gallery(milvus_uri: str) -> None:
    gallery, queries = unit_vectors(7, 8, seed=3), unit_vectors(4, 8, seed=4)
    milvus = search_once(MilvusIndex(milvus_uri), gallery, queries, 20)
    exact = search_once(ExactIndex(), gallery, queries, 20)
    assert exact[0].shape == (4, 7)  # k = min(20, 7)
    assert_same_neighbours(milvus, exact, queries, gallery)
    assert (np.sort(exact[0], axis=1) == np.arange(7)).all()  # each row is a permutation of the gallery


# --- exact vs independent references --------------------------------------------------------------------


def test_exact_matches_faiss_and_float64_distances() -> None:
    gallery, queries = unit_vectors(1000, 48, seed=5), unit_vectors(300, 48, seed=6)
    k = 25
    ids, dists = search_once(ExactIndex(chunk=64), gallery, queries, k)  # 300 queries = 4 full chunks + 44
    assert ids.dtype == np.int64 and dists.dtype == np.float32

    index = faiss.IndexFlatL2(48)
    index.add(gallery)
    faiss_d, faiss_ids = index.search(queries, k)
    # Rows without a float64 near-tie: faiss and exact give the same ids (7 of 300 rows have one here; one of
    # them is tied in float32 too, at ranks 16/17 of query 185, which is what index tie-breaking decides).
    clear = ~near_tie_rows(queries, gallery, k)
    np.testing.assert_array_equal(ids[clear], faiss_ids[clear])
    assert_ranking(ids, queries, gallery, k)
    assert_ranking(faiss_ids.astype(np.int64), queries, gallery, k)

    reference = np.take_along_axis(squared_l2(queries, gallery), ids, axis=1)
    np.testing.assert_allclose(dists, reference, atol=1e-4, rtol=0)
    np.testing.assert_allclose(dists, faiss_d, atol=1e-4, rtol=0)
    assert (np.diff(dists, axis=1) >= 0).all()


# --- ties broken by gallery index -----------------------------------------------------------------------

# Query q0 = (0, 0) against this gallery (squared distances on the right):
TIE_GALLERY = np.array(
    [
        [3, 0],  # 0: 9
        [1, 1],  # 1: 2
        [0, 2],  # 2: 4
        [1, 1],  # 3: 2  (= row 1)
        [1, 1],  # 4: 2  (= row 1)
        [0, 1],  # 5: 1
    ],
    dtype=np.float32,
)
TIE_QUERIES = np.array(
    [
        [0, 0],  # q0: 9, 2, 4, 2, 2, 1  -> 5 | 1 3 4 | 2 | 0
        [1, 1],  # q1: 4+1=5, 0, 1+1=2, 0, 0, 1+0=1  -> 1 3 4 | 5 | 2 | 0
        [2, 0],  # q2: 1, 1+1=2, 4+4=8, 2, 2, 4+1=5  -> 0 | 1 3 4 | 5 | 2
        [0, 0],  # q3 = q0, in the second chunk when chunk=2 or 3
        [1, 1],  # q4 = q1, in the last (partial) chunk when chunk=2
    ],
    dtype=np.float32,
)
TIE_FULL = np.array(
    [
        [5, 1, 3, 4, 2, 0],
        [1, 3, 4, 5, 2, 0],
        [0, 1, 3, 4, 5, 2],
        [5, 1, 3, 4, 2, 0],
        [1, 3, 4, 5, 2, 0],
    ]
)
TIE_FULL_D = np.array(
    [
        [1, 2, 2, 2, 4, 9],
        [0, 0, 0, 1, 2, 5],
        [1, 2, 2, 2, 5, 8],
        [1, 2, 2, 2, 4, 9],
        [0, 0, 0, 1, 2, 5],
    ],
    dtype=np.float32,
)


@pytest.mark.parametrize("chunk", [1, 2, 3, 1024])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6])
def test_exact_ties_broken_by_gallery_index(chunk: int, k: int) -> None:
    # k=3 on q0 / q2: the tied rows 1, 3, 4 compete for the last 2 slots -> 1 and 3 get in, 4 does not.
    # k=2 on q1: three zero distances (rows 1, 3, 4) for 2 slots -> 1, 3.  k=1 on q1 -> 1, not 3 or 4.
    ids, dists = search_once(ExactIndex(chunk=chunk), TIE_GALLERY, TIE_QUERIES, k)
    np.testing.assert_array_equal(ids, TIE_FULL[:, :k])
    np.testing.assert_array_equal(dists, TIE_FULL_D[:, :k])


def test_exact_ties_straddling_the_cut_off_spelled_out() -> None:
    ids, _ = search_once(ExactIndex(chunk=2), TIE_GALLERY, TIE_QUERIES, 3)
    assert ids.tolist() == [[5, 1, 3], [1, 3, 4], [0, 1, 3], [5, 1, 3], [1, 3, 4]]


@pytest.mark.parametrize("k", [1, 5, 17, 60, 200])
def test_exact_ties_many_duplicates_match_lexsort(k: int) -> None:
    # Small integer coordinates: lots of exactly equal distances, all exact in float32.
    rng = np.random.default_rng(7)
    gallery = rng.integers(-2, 3, size=(200, 3)).astype(np.float32)
    queries = rng.integers(-2, 3, size=(23, 3)).astype(np.float32)
    ids, dists = search_once(ExactIndex(chunk=5), gallery, queries, k)
    np.testing.assert_array_equal(ids, reference_ranking(queries, gallery, k))
    np.testing.assert_array_equal(dists, np.take_along_axis(squared_l2(queries, gallery), ids, axis=1))


# --- leave-one-out --------------------------------------------------------------------------------------

# 1-d points 0, 1, 3, 7 (rows 0..3); squared distances:
#   row 0 (x=0): to 1 -> 1, to 3 -> 9, to 7 -> 49   => [1, 2, 3]
#   row 1 (x=1): to 0 -> 1, to 3 -> 4, to 7 -> 36   => [0, 2, 3]
#   row 2 (x=3): to 1 -> 4, to 0 -> 9, to 7 -> 16   => [1, 0, 3]
#   row 3 (x=7): to 3 -> 16, to 1 -> 36, to 0 -> 49 => [2, 1, 0]
LINE = np.array([[0], [1], [3], [7]], dtype=np.float32)
LINE_NEIGHBOURS = np.array([[1, 2, 3], [0, 2, 3], [1, 0, 3], [2, 1, 0]])


@pytest.mark.parametrize("name", list(BACKENDS))
@pytest.mark.parametrize("k", [1, 2, 3])
def test_leave_one_out_hand_example(name: str, k: int, milvus_uri: str) -> None:
    neighbours = leave_one_out(named(name, milvus_uri), LINE, k)
    np.testing.assert_array_equal(neighbours, LINE_NEIGHBOURS[:, :k])


@pytest.mark.parametrize("name", list(BACKENDS))
def test_leave_one_out_k_larger_than_n_minus_1(name: str, milvus_uri: str) -> None:
    neighbours = leave_one_out(named(name, milvus_uri), LINE, 10)
    assert neighbours.shape == (4, 3)  # n - 1 = 3 columns
    np.testing.assert_array_equal(neighbours, LINE_NEIGHBOURS)


@pytest.mark.parametrize("name", list(BACKENDS))
def test_leave_one_out_random_never_returns_self(name: str, milvus_uri: str) -> None:
    x = unit_vectors(120, 16, seed=8)
    neighbours = leave_one_out(named(name, milvus_uri), x, 10)
    assert neighbours.shape == (120, 10)
    assert neighbours.dtype == np.int64
    assert not (neighbours == np.arange(120)[:, None]).any()
    assert all(len(set(row)) == 10 for row in neighbours.tolist())  # no id twice in a row
    # The same as the reference ranking over all the others (this data has no near-tie).
    assert not near_tie_rows(x, x, 11).any()
    expected = reference_ranking(x, x, 11)[:, 1:]  # column 0 is the query itself (distance 0, no ties)
    np.testing.assert_array_equal(neighbours, expected)


# Rows 0..4 identical at (1, 0); row 5 = (0, 1); row 6 = (-1, 0).  Squared distances:
#   rows 0..4: 0 to each other, 2 to row 5, 4 to row 6
#   row 5: 2 to rows 0..4 and to row 6 (all tied)
#   row 6: 4 to rows 0..4, 2 to row 5
DUPLICATES = np.array([[1, 0]] * 5 + [[0, 1], [-1, 0]], dtype=np.float32)


@pytest.mark.parametrize("name", list(BACKENDS))
def test_leave_one_out_more_duplicates_than_k(name: str, milvus_uri: str) -> None:
    neighbours = leave_one_out(named(name, milvus_uri), DUPLICATES, 2)
    assert neighbours.shape == (7, 2)
    assert not (neighbours == np.arange(7)[:, None]).any()
    assert all(len(set(row)) == 2 for row in neighbours.tolist())
    # A duplicate's 2 nearest others are duplicates too (distance 0), whichever the backend picks.
    assert set(neighbours[:5].ravel().tolist()) <= {0, 1, 2, 3, 4}
    assert neighbours[6, 0] == 5  # row 6: row 5 at 2 beats the duplicates at 4


def test_leave_one_out_more_duplicates_than_k_exact_order() -> None:
    # k+1 = 3 hits per duplicate query are rows 0, 1, 2 (ties by index):
    #   row 0: [0, 1, 2] - self -> [1, 2];  row 1: [0, 1, 2] -> [0, 2];  row 2: [0, 1, 2] -> [0, 1]
    #   rows 3, 4: self not among [0, 1, 2] -> the last hit goes instead -> [0, 1]
    #   row 5: [0, 1, 2] (all 6 others tie at 2, self at 0 first: [5, 0, 1]) -> [0, 1]
    #   row 6: [6, 5, 0] (self 0, row 5 at 2, then duplicates at 4 by index) -> [5, 0]
    neighbours = leave_one_out(ExactIndex(chunk=3), DUPLICATES, 2)
    assert neighbours.tolist() == [[1, 2], [0, 2], [0, 1], [0, 1], [0, 1], [0, 1], [5, 0]]


# --- Milvus housekeeping and errors ---------------------------------------------------------------------


def test_milvus_drops_its_collection(milvus_uri: str) -> None:
    x = unit_vectors(50, 8, seed=9)
    ids, _ = search_once(MilvusIndex(milvus_uri), x, x, 3)
    assert ids.shape == (50, 3)  # the search did run
    assert Path(milvus_uri).exists()
    assert milvus_collections(milvus_uri) == []


def test_milvus_drops_its_collection_when_the_search_fails(milvus_uri: str) -> None:
    gallery = unit_vectors(5, 4, seed=10)
    with pytest.raises(HarnessError, match=r"^Milvus at '.*milvus\.db' failed: "):
        search_once(MilvusIndex(milvus_uri), gallery, gallery[:, :3], 2)  # queries of the wrong dimension
    assert milvus_collections(milvus_uri) == []


def test_unreachable_milvus_server_refused() -> None:
    uri = f"http://127.0.0.1:{free_local_port()}"
    with pytest.raises(HarnessError, match=f"^cannot reach Milvus at '{re.escape(uri)}'"):
        search_once(MilvusIndex(uri, timeout_s=3), unit_vectors(4, 8, seed=11), unit_vectors(2, 8, seed=12), 2)


def test_unresponsive_milvus_server_times_out() -> None:
    # A socket that accepts connections and never answers: the client must give up after timeout_s
    # (default 30 s), not hang.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(HarnessError, match=f"^cannot reach Milvus at '{re.escape(uri)}'"):
            search_once(MilvusIndex(uri, timeout_s=2), unit_vectors(4, 8, seed=13), unit_vectors(2, 8, seed=14), 2)
        assert time.monotonic() - start < 15  # a hang guard, well below the 30 s default


def test_milvus_k_limit_is_one_clear_error(milvus_uri: str) -> None:
    gallery = np.zeros((MAX_TOPK + 1, 1), dtype=np.float32)  # k is clamped to the gallery size first
    with MilvusIndex(milvus_uri) as index:
        index.fit(gallery)
        with pytest.raises(HarnessError, match=f"at most {MAX_TOPK} neighbours per query; {MAX_TOPK + 1} were needed"):
            index.search(gallery[:1], MAX_TOPK + 1)


def test_milvus_k_at_the_limit_is_accepted(milvus_uri: str) -> None:
    assert MAX_TOPK == 16_384
    x = unit_vectors(3, 4, seed=16)
    ids, _ = search_once(MilvusIndex(milvus_uri), x, x, MAX_TOPK)
    assert ids.shape == (3, 3)  # k = min(16384, 3)
    np.testing.assert_array_equal(ids[:, 0], np.arange(3))


def test_unknown_backend_name() -> None:
    with pytest.raises(HarnessError, match="unknown retrieval backend 'faiss' \\(known: milvus, exact\\)"):
        named("faiss", "unused.db")
    assert tuple(BACKENDS) == ("milvus", "exact")  # what the suites' check_params offer


def test_the_exact_backend_searches_on_the_cells_device() -> None:
    exact = make_index(IndexRequest(backend="exact", milvus_uri="unused.db", device="cuda:1"))
    assert isinstance(exact, ExactIndex) and exact.device == "cuda:1"
    milvus = make_index(IndexRequest(backend="milvus", milvus_uri="unused.db", device="cuda:1"))
    assert isinstance(milvus, MilvusIndex)  # Milvus has its own
    x = unit_vectors(300, 16, seed=21)
    with pytest.raises(RuntimeError, match="meta"):  # the search really goes to the device it names (meta: no data)
        search_once(ExactIndex(device="meta"), x, x, 5)


def test_the_milvus_choices_are_data(tmp_path: Path) -> None:
    lite = make_index(IndexRequest(backend="milvus", milvus_uri="cells.db", index="hnsw", index_params="ef=32"))
    assert isinstance(lite, MilvusIndex) and (lite.uri, lite.index.type, lite.index.search) == (
        "cells.db",
        "HNSW",
        {"ef": 32},
    )
    # a server URI given wins over the workdir's server: nothing is started (the workdir stays empty)
    given = IndexRequest(
        backend="milvus", milvus="server", milvus_uri="http://127.0.0.1:1", token="u:p", workdir=tmp_path
    )
    server = make_index(given)
    assert isinstance(server, MilvusIndex) and (server.uri, server.token) == ("http://127.0.0.1:1", "u:p")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(HarnessError, match=r"^milvus='cloud': expected one of lite, server$"):
        make_index(IndexRequest(backend="milvus", milvus="cloud", milvus_uri="cells.db"))
    with pytest.raises(HarnessError, match=r"^unknown Milvus index 'ANNOY'"):
        make_index(IndexRequest(backend="milvus", index="ANNOY", milvus_uri="cells.db"))


def test_an_index_is_built_once_and_searched_with_query_arguments(milvus_uri: str) -> None:
    gallery, queries = unit_vectors(200, 8, seed=30), unit_vectors(30, 8, seed=31)
    expected = reference_ranking(queries, gallery, 10)
    with MilvusIndex(milvus_uri) as milvus, ExactIndex() as exact:
        for index in (milvus, exact):
            with pytest.raises(HarnessError, match=f"^the {index.name} index was searched before it was fitted"):
                index.search(queries, 5)
            index.fit(gallery)
            np.testing.assert_array_equal(index.search(queries, 10)[0], expected)
            np.testing.assert_array_equal(index.search(queries[:7], 3)[0], expected[:7, :3])  # again, no rebuild
        assert len(milvus_collections(milvus_uri)) == 1  # one collection for both searches, until closed
        assert milvus.costs()["milvus_index_reused"] == 0.0 and exact.costs() == {}
        with pytest.raises(HarnessError, match=r"^search parameter ef is not one of FLAT's \(known: none\)$"):
            milvus.search(queries, 3, {"ef": 8})
        with pytest.raises(HarnessError, match=r"^the exact backend takes no search parameters \(got nprobe\)$"):
            exact.search(queries, 3, {"nprobe": 4})
    assert milvus_collections(milvus_uri) == []  # closed: dropped


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU")
def test_the_exact_backend_on_a_gpu_finds_the_cpus_neighbours() -> None:
    x = unit_vectors(3000, 64, seed=22)
    cpu_ids, cpu_d = search_once(ExactIndex(), x, x, 10)
    gpu_ids, gpu_d = search_once(ExactIndex(device="cuda"), x, x, 10)
    assert (cpu_ids == gpu_ids).all(axis=1).mean() > 0.99  # the rest: float32 near-ties rounded differently
    np.testing.assert_allclose(gpu_d, cpu_d, atol=1e-5)


def test_large_milvus_lite_search_warns_with_expected_time(
    milvus_uri: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import harness.compute.retrieval.milvus as milvus

    x = unit_vectors(20, 4, seed=21)
    search_once(MilvusIndex(milvus_uri), x, x, 3)
    assert "Milvus Lite searches in pure Python" not in caplog.text  # small: no warning
    # 20 queries x 20 vectors x 4 dims = 1600 elements; at 1.5 s each that is 2400 s = 40 min
    monkeypatch.setattr(milvus, "LITE_SECONDS_PER_ELEMENT", 1.5)
    search_once(MilvusIndex(milvus_uri), x, x, 3)
    assert "20 queries over 20 x 4-d vectors will take about 40 min" in caplog.text
