"""The Ray executor on a real two-node cluster on this machine (two ``ray start``, one CPU each, the second
with its own resource label): cells on both nodes with the serial run's numbers, a worker killed mid-cell,
the driver killed mid-grid, a sub-job shared by two cells, and every Ray process stopped afterwards.

Ray maps 127.0.0.1 to the machine's address and listens on all interfaces, so the cluster takes a token of
its own (Ray's token authentication); the ports are free ones chosen here, the temporary folder is the
test's own, and the processes are stopped by their session id (those these ``ray start`` calls spawned),
not by name.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support import run_cli
from support.grids import CHEAP, SHARED_JOB, counts, quality

pytest.importorskip("ray")

#: token authentication with a token of the test's own (the cluster's ports are open on every interface)
ENV = {
    "OMP_NUM_THREADS": "1", "KERAS_BACKEND": "torch", "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token",
    "RAY_AUTH_TOKEN": secrets.token_hex(32),
}  # fmt: skip


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def processes_of(sessions: set[int]) -> list[int]:
    """Live (not zombie) processes in the given sessions."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "(comm)": state ppid pgrp session ...
        if int(fields[3]) in sessions and fields[0] != "Z":
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A head node and a second node labelled ``node2``; yields the address a driver connects to."""
    ray = str(Path(sys.executable).parent / "ray")
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    port, client, agent, agent2 = free_ports(4)
    sessions: set[int] = set()
    env = {**os.environ, **ENV}

    def start(*args: str) -> None:
        command = [ray, "start", "--num-cpus", "1", "--disable-usage-stats", *args]
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        sessions.add(process.pid)  # its daemons (gcs, raylet, workers) stay in its session
        out, _ = process.communicate(timeout=300)
        assert process.returncode == 0, out

    try:
        start("--head", "--port", str(port), "--include-dashboard=false", "--ray-client-server-port", str(client),
              "--dashboard-agent-listen-port", str(agent), "--temp-dir", str(temp))  # fmt: skip
        start("--address", f"127.0.0.1:{port}", "--resources", '{"node2": 1}', "--dashboard-agent-listen-port",
              str(agent2))  # fmt: skip
        yield f"127.0.0.1:{port}"
    finally:
        for pid in processes_of(sessions):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while processes_of(sessions) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = processes_of(sessions)
        shutil.rmtree(temp, ignore_errors=True)
        assert not left, f"Ray processes left running: {left}"


def grid(cwd: Path, address: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("grid", "grid.toml", "--executor", "ray", "--address", address, *args, cwd=cwd, env=ENV)


def shards(workdir: Path) -> dict[str, Any]:
    return {p.stem: json.loads(p.read_text()) for p in (workdir / "shards").glob("*.json")}


@pytest.mark.slow
def test_cells_land_on_both_nodes_with_the_serial_runs_numbers(cluster: str, tmp_path: Path) -> None:
    (tmp_path / "grid.toml").write_text(CHEAP)
    started = time.perf_counter()
    serial = run_cli("grid", "grid.toml", "--db", "serial.duckdb", "--workdir", "serial", cwd=tmp_path, env=ENV)
    serial_s = time.perf_counter() - started
    assert serial.returncode == 0, serial.stderr
    started = time.perf_counter()
    done = grid(tmp_path, cluster, "--db", "ray.duckdb", "--workdir", "ray")
    ray_s = time.perf_counter() - started
    assert done.returncode == 0, done.stderr
    print(f"\nfour cells: serial {serial_s:.1f} s, Ray on two nodes {ray_s:.1f} s (driver start included)")

    reference = quality(tmp_path / "serial.duckdb")
    assert len(reference) > 4 * 5
    assert quality(tmp_path / "ray.duckdb") == reference  # bit for bit
    assert counts(tmp_path / "ray.duckdb") == (4, 4)
    nodes = {shard["provenance"]["ray"]["node_id"] for shard in shards(tmp_path / "ray").values()}
    assert len(nodes) == 2  # both nodes ran cells
    again = grid(tmp_path, cluster, "--db", "ray.duckdb", "--workdir", "ray")
    assert again.returncode == 0 and again.stdout.count("cached") == 4, again.stdout


@pytest.mark.slow
def test_a_worker_killed_mid_cell_costs_one_retry_and_the_cell_lands_once(cluster: str, tmp_path: Path) -> None:
    (tmp_path / "grid.toml").write_text(
        '[grid]\nmodels = ["timm:test_resnet[init=random]"]\ndatasets = ["synthetic[classes=4,per_class=40,size=64]"]'
        '\nsuites = ["retrieval"]\n\n[params.retrieval]\nbackend = "exact"\n'
    )
    driver = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "grid", "grid.toml", "--executor", "ray", "--address", cluster],
        cwd=tmp_path, env={**os.environ, **ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    locks = tmp_path / ".ecombench" / "locks"
    deadline, victim = time.monotonic() + 240, None
    while victim is None and time.monotonic() < deadline and driver.poll() is None:
        for lock in locks.glob("cell-*.lock"):
            if pid := lock.read_text().strip():  # the worker that holds the cell's lock: computing it
                victim = int(pid)
        time.sleep(0.01)
    assert victim is not None, driver.communicate()
    os.kill(victim, signal.SIGKILL)
    assert not shards(tmp_path / ".ecombench")  # killed before its shard was written: mid-cell
    _, errors = driver.communicate(timeout=300)
    assert driver.returncode == 0, errors
    [shard] = shards(tmp_path / ".ecombench").values()
    assert shard["status"] == "ok" and shard["provenance"]["ray"]["pid"] != victim
    assert counts(tmp_path / "results.duckdb") == (1, 1)


@pytest.mark.slow
def test_a_driver_killed_mid_grid_and_restarted_runs_no_finished_cell_again(cluster: str, tmp_path: Path) -> None:
    (tmp_path / "grid.toml").write_text(CHEAP)
    driver = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "grid", "grid.toml", "--executor", "ray", "--address", cluster],
        cwd=tmp_path, env={**os.environ, **ENV}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    store = tmp_path / ".ecombench"
    deadline = time.monotonic() + 240
    while not shards(store) and time.monotonic() < deadline and driver.poll() is None:
        time.sleep(0.01)
    driver.kill()
    driver.wait()
    before = {key: shard["started_at"] for key, shard in shards(store).items()}
    assert 1 <= len(before) < 4, before  # killed mid-grid
    assert not (tmp_path / "results.duckdb").exists()  # SIGKILL: it ingested nothing

    again = grid(tmp_path, cluster)
    assert again.returncode == 0, again.stderr
    after = shards(store)
    assert len(after) == 4
    assert {key: after[key]["started_at"] for key in before} == before  # the finished cells did not run again
    assert again.stdout.count("cached") >= len(before)
    assert counts(tmp_path / "results.duckdb") == (4, 4)  # each row once


@pytest.mark.slow
def test_a_top_tune_search_consumed_by_two_cells_is_trained_once(cluster: str, tmp_path: Path) -> None:
    (tmp_path / "grid.toml").write_text(SHARED_JOB)
    done = grid(tmp_path, cluster)
    assert done.returncode == 0, done.stderr
    [history] = (tmp_path / ".ecombench" / "toptune").glob("*/history.jsonl")
    assert len(history.read_text().splitlines()) == 1  # one search for its two consumers
    assert counts(tmp_path / "results.duckdb") == (3, 3)
    heads = [s for s in shards(tmp_path / ".ecombench").values() if s["cell"]["params"].get("preset")]
    first, second = sorted(heads, key=lambda s: s["started_at"])  # the search's two consumers
    assert second["started_at"] >= first["finished_at"]  # submitted once the cell that trained it finished


def test_a_cell_asks_for_the_gpus_it_needs() -> None:
    from harness.execute.ray_cluster import task_resources
    from harness.spec.cells import Cell, CellSpec, SubJob

    job = (SubJob("finetune", "0" * 32, "a fine-tune"),)
    cell = Cell("pixels:4", "digits", "pretrained", "finetune", {"gpus": 4})
    tune = CellSpec(cell, "1" * 32, {"device": "cuda"}, job)
    assert task_resources(tune, trains=True) == {"num_cpus": 1, "num_gpus": 4}
    assert task_resources(tune, trains=False) == {"num_cpus": 1, "num_gpus": 1}  # the job is trained: one GPU
    on_cpu = CellSpec(tune.cell, tune.key, {"device": "cpu"}, job)
    assert task_resources(on_cpu, trains=True) == {"num_cpus": 1}


def test_address_without_the_ray_executor_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "grid.toml").write_text(CHEAP)
    wrong = run_cli("grid", "grid.toml", "--address", "auto", cwd=tmp_path)
    assert wrong.returncode == 2 and "add --executor ray" in wrong.stderr, wrong.stderr
    jobs = run_cli("grid", "grid.toml", "--executor", "ray", "--jobs", "2", cwd=tmp_path)
    assert jobs.returncode == 2 and "without --jobs" in jobs.stderr, jobs.stderr


def test_the_cluster_files_are_valid_and_name_this_version() -> None:
    import ray
    import yaml
    from ray.autoscaler._private.util import prepare_config, validate_config

    import harness
    from support import REPO

    folder = REPO / "containers" / "ray"
    config = prepare_config(yaml.safe_load((folder / "cluster.yaml").read_text()))
    validate_config(config)  # Ray's own schema for `ray up`
    manifest = yaml.safe_load((folder / "raycluster.yaml").read_text())
    assert manifest["kind"] == "RayCluster" and manifest["spec"]["rayVersion"] == ray.__version__
    pods = [manifest["spec"]["headGroupSpec"], *manifest["spec"]["workerGroupSpecs"]]
    images = {c["image"] for pod in pods for c in pod["template"]["spec"]["containers"]} | {config["docker"]["image"]}
    assert {image.rsplit(":", 1)[1] for image in images} == {harness.__version__}
    assert f"ecombench/timm:{harness.__version__}" in (folder / "Dockerfile").read_text()


def test_a_bad_shard_from_a_worker_fails_its_cell_not_the_grid() -> None:
    from harness.execute.ray_cluster import received
    from harness.spec.cells import CellSpec
    from support import make_shard

    shard = make_shard("pixels:4", "digits", {"mrr": 0.5})
    spec = CellSpec(shard.cell, shard.run_id, {"device": "cpu"})
    assert received(spec, shard.to_bytes(), True) == (shard, True)
    other = CellSpec(shard.cell, "2" * 32, spec.context)
    bad = json.dumps({**json.loads(shard.to_bytes()), "metrics": {"mrr": "NaN"}}).encode()
    for data, expected in ((b"[1]", "not a run shard"), (b"{", "Expecting"), (bad, "not a finite number")):
        failed, cached = received(spec, data, False)
        assert failed.status == "error" and expected in (failed.error or "") and not cached, failed.error
    assert "returned run" in (received(other, shard.to_bytes(), False)[0].error or "")
