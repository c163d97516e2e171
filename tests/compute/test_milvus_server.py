"""The real Milvus standalone server (PyPI ``milvus`` 2.3.5, the ``milvus-server`` extra): one server per
pytest run, started by a session fixture (about 20-40 s) and stopped at the end; FLAT against the exact
backend, ANN recall, index parameter validation, authorization, start/status/stop, one collection per gallery,
the cost ledger, and last (they kill the server) the server killed mid-search."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pymilvus import MilvusClient

from harness.compute.retrieval import collections as pool
from harness.compute.retrieval import leave_one_out, search_once
from harness.compute.retrieval import milvus_server as ms
from harness.compute.retrieval.exact import ExactIndex
from harness.compute.retrieval.milvus import MilvusIndex, index_spec
from harness.compute.suites import resolve_params
from harness.core.errors import HarnessError
from harness.storage.sidefiles import load_neighbours, neighbours_path
from harness.storage.workdir import Workdir
from support.vectors import assert_same_neighbours, squared_l2, unit_vectors

if os.environ.get("CI", "").lower() != "true":  # CI installs the extra (noxfile.py): there a missing server fails
    pytest.importorskip("milvus", reason="the milvus-server extra is not installed")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, ms.ServerState]]:
    workdir = tmp_path_factory.mktemp("milvus-workdir")
    state = ms.start(workdir, tied=True)
    yield workdir, state
    ms.stop(workdir)  # the last tests kill it (and a second, short-lived one): nothing may be left running
    assert not ms._is_server(state.pid) and ms.status(workdir) is None


@pytest.fixture(autouse=True)
def no_pooled_collections() -> Iterator[None]:
    """Each test starts and ends without collections kept for reuse (harness.compute.retrieval.collections.POOL)."""
    pool.release()
    yield
    pool.release()


def backend(state: ms.ServerState, index: str = "FLAT", params: str = "") -> MilvusIndex:
    return MilvusIndex(state.uri, token=state.token, index=index_spec(index, params))


def test_start_records_ports_and_reuses_the_running_server(server: tuple[Path, ms.ServerState]) -> None:
    workdir, state = server
    assert state.start_s > 0 and state.token.startswith("root:") and len(state.token) > 20
    assert {"proxy_port", "metrics_port", "etcd_port"} <= set(state.ports)
    assert (workdir / "milvus-server" / "state.json").stat().st_mode & 0o077 == 0  # the secret: owner only
    again = ms.start(workdir)
    assert again.pid == state.pid and again.token == state.token
    assert ms.status(workdir) == state


def _non_loopback_address() -> str:
    """An address of this host other than 127.0.0.0/8 (the one a route to the outside would use)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent by a UDP connect
        address = s.getsockname()[0]
    assert not address.startswith("127."), "this host has no non-loopback IPv4 address to test with"
    return address


def test_access_without_the_secret_is_refused(server: tuple[Path, ms.ServerState]) -> None:
    _, state = server
    port = state.ports["proxy_port"]
    outside = f"http://{_non_loopback_address()}:{port}"
    for token in ("", "root:Milvus"):  # no credentials, and the default password (replaced at start)
        with pytest.raises(Exception, match=r"(?i)fail|auth|denied|password|unavailable"):
            MilvusClient(uri=outside, token=token, timeout=10).list_collections()
    for uri in (state.uri, outside):  # reachable from the network (Milvus 2.3.5 cannot bind loopback), but
        client = MilvusClient(uri=uri, token=state.token, timeout=10)  # only with the secret
        try:
            assert isinstance(client.list_collections(), list)
        finally:
            client.close()


def test_flat_on_the_server_equals_exact_random(server: tuple[Path, ms.ServerState]) -> None:
    _, state = server
    x = unit_vectors(3000, 64, seed=3)  # above 1,024 rows: an indexed segment
    milvus = search_once(backend(state), x, x, 20)
    exact = search_once(ExactIndex(), x, x, 20)
    np.testing.assert_array_equal(milvus[0][:, 0], np.arange(3000))
    assert_same_neighbours(milvus, exact, x, x)
    assert len(milvus_collections_on(state)) == 1  # kept for the next search of the same vectors
    pool.release()
    assert milvus_collections_on(state) == []


def milvus_collections_on(state: ms.ServerState) -> list[str]:
    client = MilvusClient(uri=state.uri, token=state.token)
    try:
        return [c for c in client.list_collections() if c.startswith("ecombench_")]
    finally:
        client.close()


def test_flat_on_the_server_equals_exact_integer_and_ties(server: tuple[Path, ms.ServerState]) -> None:
    _, state = server
    rng = np.random.default_rng(17)
    gallery = rng.integers(-500, 501, size=(600, 8)).astype(np.float32)  # under 1,024 rows: unindexed segment
    queries = rng.integers(-500, 501, size=(50, 8)).astype(np.float32)
    d = np.sort(squared_l2(queries, gallery), axis=1)[:, :21]
    assert (np.diff(d, axis=1) > 0).all()
    ids, _ = search_once(backend(state), gallery, queries, 20)
    np.testing.assert_array_equal(ids, search_once(ExactIndex(), gallery, queries, 20)[0])
    ties = rng.integers(-2, 3, size=(400, 3)).astype(np.float32)  # many equal distances: index order decides
    np.testing.assert_array_equal(
        search_once(backend(state), ties, ties[:40], 15)[0], search_once(ExactIndex(), ties, ties[:40], 15)[0]
    )


def clustered(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, dim)).astype(np.float32) * 3
    x = centres[rng.integers(0, 20, n)] + rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize(
    ("index", "params", "floor"),
    [("HNSW", "M=16,efConstruction=100,ef=64", 0.9), ("IVF_SQ8", "nlist=32,nprobe=8", 0.8)],
)
def test_ann_recall_against_exact_above_a_floor(
    server: tuple[Path, ms.ServerState], index: str, params: str, floor: float
) -> None:
    _, state = server
    x = clustered(4000, 32, seed=5)
    ann = leave_one_out(backend(state, index, params), x, 10)
    exact = leave_one_out(ExactIndex(), x, 10)
    recall = (ann[:, :, None] == exact[:, None, :]).any(axis=2).mean()
    assert floor < recall <= 1.0


def test_index_parameters_are_validated() -> None:
    assert index_spec("hnsw", "ef=32").search == {"ef": 32}
    assert index_spec("HNSW").build == {"M": 16, "efConstruction": 200}
    for index, params, message in [
        ("ANNOY", "", "unknown Milvus index 'ANNOY'"),
        ("HNSW", "nlist=4", "not one of HNSW's"),
        ("IVF_FLAT", "nprobe=0", "between 1 and"),
        ("IVF_PQ", "m=x", "must be an integer"),
        ("FLAT", "ef=4", "known: none"),
    ]:
        with pytest.raises(HarnessError, match=message):
            index_spec(index, params)
    with pytest.raises(HarnessError, match="milvus='cloud'"):
        resolve_params("retrieval", "pretrained", {"milvus": "cloud"})
    with pytest.raises(HarnessError, match="IVF_PQ"):
        resolve_params("retrieval", "pretrained", {"index": "IVF_PQ", "index_params": "nbits=99"})


def test_ivf_pq_m_must_divide_the_dimension(server: tuple[Path, ms.ServerState]) -> None:
    _, state = server
    x = unit_vectors(50, 30, seed=1)
    with pytest.raises(HarnessError, match="m=8 must divide the embedding dimension 30"):
        search_once(backend(state, "IVF_PQ"), x, x, 5)
    assert milvus_collections_on(state) == []  # dropped after the failure too


def test_a_stopped_server_is_a_clear_error(tmp_path: Path) -> None:
    assert ms.status(tmp_path) is None
    assert not ms.stop(tmp_path)
    with pytest.raises(HarnessError, match=r"cannot reach Milvus|failed"):
        search_once(MilvusIndex("http://127.0.0.1:9", timeout_s=3), unit_vectors(5, 4, 0), unit_vectors(5, 4, 0), 2)


def test_a_server_cell_on_hnsw_records_the_index_error(server: tuple[Path, ms.ServerState], tmp_path: Path) -> None:
    import duckdb

    from support import run_cli

    workdir, state = server
    args = ("run", "--model", "timm:test_vit[init=random]", "--dataset", "digits[per_class=8]", "--workdir")
    params = ("--param", "milvus=server", "--param", "index=HNSW", "--param", "index_params=ef=16")
    done = run_cli(*args, str(workdir), *params, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    con = duckdb.connect(str(tmp_path / "results.duckdb"), read_only=True)
    values = dict(con.execute("SELECT metric, value FROM results").fetchall())
    ledger = dict(con.execute("SELECT metric, value FROM cost_ledger WHERE metric LIKE 'milvus_%'").fetchall())
    [details] = con.execute("SELECT details FROM runs").fetchone()
    con.close()
    # the neighbours as searched, beside the shard, and the exact ones the index was compared with (stored once)
    ids, dists = load_neighbours(neighbours_path(workdir, json.loads(details)["neighbours"]))
    assert ids.shape == dists.shape == (values["n_queries"], values["search_depth"])
    assert (np.diff(dists, axis=1) >= 0).all()
    assert len(list(Workdir(workdir).neighbours.glob("exact-*.npz"))) == 1
    assert 0.0 < values["index_recall_at_10"] <= 1.0
    for name in ("mmp_at_5", "recall_at_1", "map_at_r"):
        assert -1.0 <= values[f"index_delta_{name}"] <= 1.0
    # the index's costs are in the cost ledger; flags (estimated, reused) are counts, not costs
    assert set(ledger) == {
        "milvus_build_s", "milvus_index_bytes", "milvus_search_s", "milvus_qps", "milvus_latency_p50_ms",
        "milvus_latency_p99_ms",
    }  # fmt: skip
    assert ledger["milvus_build_s"] > 0 and 0 < ledger["milvus_latency_p50_ms"] <= ledger["milvus_latency_p99_ms"]
    assert ledger["milvus_qps"] == pytest.approx(values["n_queries"] / ledger["milvus_search_s"], rel=1e-9)
    # under 1,024 rows Milvus builds no index: the size is HNSW's stated estimate (vectors + level-0 links)
    assert values["milvus_index_bytes_estimated"] == 1.0 and values["milvus_index_reused"] == 0.0
    n, dim = values["n_queries"], values["embedding_dim"]
    assert ledger["milvus_index_bytes"] == 4 * n * dim + n * (8 * 16 + 4)
    assert ms.status(workdir).pid == state.pid  # the running server was reused, not a second one started
    assert milvus_collections_on(state) == []


def test_milvus_cli_status_and_stop_without_a_server(tmp_path: Path) -> None:
    from support import run_cli

    done = run_cli("milvus", "status", "--workdir", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 1 and "no Milvus server running" in done.stdout
    done = run_cli("milvus", "stop", "--workdir", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 0 and "no Milvus server was running" in done.stdout


def test_cells_over_the_same_vectors_share_one_collection(server: tuple[Path, ms.ServerState]) -> None:
    workdir, state = server
    x = clustered(3000, 32, seed=9)  # above 1,024 rows: an indexed segment, whose index files are measured
    builds = pool.POOL.builds
    searched = []
    for ef in (16, 64):  # two cells: same vectors, same build, different search parameter
        b = MilvusIndex(state.uri, token=state.token, index=index_spec("HNSW", f"M=8,efConstruction=64,ef={ef}"),
                          index_files=ms.index_files(workdir))  # fmt: skip
        b.fit(x)
        b.search(x, 10)
        assert b.stats is not None
        searched.append(b.stats)
    assert pool.POOL.builds == builds + 1  # inserted and indexed once
    [name] = milvus_collections_on(state)
    assert pool.POOL.names() == [name]
    first, second = searched
    assert not first.reused and second.reused and second.build == first.build
    figures = first.metrics()
    assert figures["milvus_index_bytes_estimated"] == 0.0  # measured: the bytes of the server's index files
    estimate = 4 * 3000 * 32 + 3000 * (8 * 8 + 4)
    assert 4 * 3000 * 32 < figures["milvus_index_bytes"] <= estimate  # vectors plus links, at most the bound
    assert figures["milvus_qps"] == pytest.approx(3000 / figures["milvus_search_s"])
    # the collection vanishes behind the pool's back (as when the server restarts): built again, not searched dead
    outside = MilvusClient(uri=state.uri, token=state.token)
    outside.drop_collection(name)
    outside.close()
    b.fit(x)
    b.search(x[:50], 5)
    assert pool.POOL.builds == builds + 2 and not b.stats.reused and pool.POOL.names() != [name]
    # the same vectors fail to search (queries of another dimension): the collection is dropped, not kept
    with pytest.raises(HarnessError, match=f"^Milvus at '{re.escape(state.uri)}' failed: .*dimension"):
        search_once(backend(state, "HNSW", "M=8,efConstruction=64"), x, x[:, :16], 5)
    assert pool.POOL.names() == [] and milvus_collections_on(state) == []


def test_compression_searches_through_a_server_index(server: tuple[Path, ms.ServerState], tmp_path: Path) -> None:
    """Storage format x index type: int8 codes, decoded, searched through an IVF_FLAT index on the server."""
    import duckdb

    from support import run_cli

    workdir, state = server
    args = ("run", "--suite", "compression", "--model", "timm:test_vit[init=random]", "--dataset",
            "digits[per_class=8]", "--workdir", str(workdir))  # fmt: skip
    params = ("compression=int8", "backend=milvus", "milvus=server", "index=IVF_FLAT", "index_params=nlist=4,nprobe=4")
    done = run_cli(*args, *(arg for p in params for arg in ("--param", p)), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    con = duckdb.connect(str(tmp_path / "results.duckdb"), read_only=True)
    values = dict(con.execute("SELECT metric, value FROM results").fetchall())
    [details] = con.execute("SELECT details FROM runs").fetchone()
    con.close()
    assert json.loads(details)["compression"]["search"] == "milvus server IVF_FLAT nlist=4,nprobe=4"
    assert values["bytes_per_vector"] == values["embedding_dim"]  # int8: one byte per dimension
    assert 0.0 <= values["overlap_at_10"] <= 1.0 and -1.0 <= values["delta_mmp_at_5"] <= 1.0
    assert values["milvus_build_s"] > 0 and values["milvus_latency_p50_ms"] <= values["milvus_latency_p99_ms"]
    n, dim = values["n_queries"], values["embedding_dim"]  # IVF_FLAT's estimate: vectors, ids, centroids
    assert values["milvus_index_bytes"] == n * (4 * dim + 8) + 4 * 4 * dim
    assert ms.status(workdir).pid == state.pid and milvus_collections_on(state) == []


def _loaded_collection(state: ms.ServerState, deadline_s: float = 120.0) -> str:
    """Wait until one of the harness's collections on the server is loaded (searchable); its name."""
    client = MilvusClient(uri=state.uri, token=state.token, timeout=10)
    deadline = time.monotonic() + deadline_s
    try:
        while time.monotonic() < deadline:
            for name in (c for c in client.list_collections() if c.startswith("ecombench_")):
                if "Loaded" in str(client.get_load_state(name)["state"]):
                    return name
            time.sleep(0.05)
    finally:
        client.close()
    raise AssertionError("no collection was loaded in time")


def test_the_server_killed_mid_search_is_one_clear_error(server: tuple[Path, ms.ServerState]) -> None:
    """Kills the shared server: only the tests below may follow (they start a short-lived one of their own)."""
    _, state = server
    x = unit_vectors(20_000, 128, seed=4)  # FLAT leave-one-out: seconds of searching on this machine

    def kill_once_searching() -> None:
        _loaded_collection(state)
        time.sleep(0.5)  # the load has returned: the client is in its query batches
        os.killpg(state.pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_once_searching, daemon=True)
    killer.start()
    started = time.monotonic()
    with pytest.raises(HarnessError) as failure:
        leave_one_out(backend(state), x, 10)
    killer.join(timeout=10)
    message = str(failure.value)
    assert "\n" not in message and re.match(
        f"^Milvus at '{re.escape(state.uri)}' failed: .*\\(while searching\\)$", message
    )
    assert time.monotonic() - started < 120  # failed promptly, no hang
    assert pool.POOL.names() == []  # the failed collection is forgotten: never reused


def test_a_cell_whose_server_dies_records_nothing_as_done(server: tuple[Path, ms.ServerState], tmp_path: Path) -> None:
    """A ``milvus = "server"`` cell starts a second, short-lived server (the shared one is dead) and it is killed
    while the cell's Milvus search runs: the cell fails with one line naming the URI, and the database holds no
    metric of it; the rerun against an unreachable URI fails the same way."""
    import duckdb

    from support import run_cli

    workdir, dead = server
    assert ms.status(workdir) is None and not ms._is_server(dead.pid)
    killed: list[ms.ServerState] = []

    def freeze_then_kill() -> None:  # deterministic: stop the server as soon as the cell's collection exists
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not killed:
            state = ms._read_state(workdir)
            if state is not None and state.token and state.pid != dead.pid:
                try:
                    if milvus_collections_on(state):
                        os.killpg(state.pid, signal.SIGSTOP)
                        time.sleep(1.0)
                        os.killpg(state.pid, signal.SIGKILL)
                        killed.append(state)
                except Exception:  # not serving yet
                    pass
            time.sleep(0.05)

    killer = threading.Thread(target=freeze_then_kill, daemon=True)
    killer.start()
    args = ("run", "--model", "timm:test_vit[init=random]", "--dataset", "digits[per_class=8]", "--workdir")
    done = run_cli(*args, str(workdir), "--param", "milvus=server", cwd=tmp_path)
    killer.join(timeout=10)
    assert killed, "the cell's collection never appeared"
    uri = killed[0].uri
    assert done.returncode == 1
    [line] = [ln for ln in done.stderr.splitlines() if ln.startswith("error in ")]
    assert re.search(f"Milvus at '{re.escape(uri)}' failed: .*\\(while ", line), done.stderr
    assert "Traceback" not in done.stderr
    unreachable = "http://127.0.0.1:9"
    again = run_cli(*args, str(workdir), "--milvus-uri", unreachable, cwd=tmp_path)
    assert again.returncode == 1 and f"cannot reach Milvus at '{unreachable}'" in again.stderr
    assert "Traceback" not in again.stderr
    con = duckdb.connect(str(tmp_path / "results.duckdb"), read_only=True)
    runs = con.execute("SELECT run_id, status, error FROM runs").fetchall()
    n_metrics = con.execute("SELECT count(*) FROM metrics").fetchone()
    n_results = con.execute("SELECT count(*) FROM results").fetchone()
    con.close()
    assert runs and all(status == "error" and "Milvus" in error for _, status, error in runs)
    assert n_metrics == (0,) and n_results == (0,)  # no partial metric rows
    for run_id in {run_id for run_id, _, _ in runs}:  # nothing recorded as done: a rerun computes the cell again
        done_shard = workdir / "shards" / f"{run_id}.json"
        assert not done_shard.exists() or json.loads(done_shard.read_text())["status"] == "error"
