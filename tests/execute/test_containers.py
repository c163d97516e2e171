"""Containers: mount planning, the GPU decision and error messages (no engine needed), then, marked ``docker``,
the real thing: images built with BuildKit, a retrieval cell in the timm image against the real Milvus server
sidecar (the default; its metrics equal the exact backend's on the same data) and against the milvus-lite one,
its shard ingested on the host, and the image ids recorded in the database.

The ``docker`` tests are deselected by default (``-m "not docker"`` in pyproject.toml); ``nox -s containers``
runs them on a real engine (the base image from ``containers/make-base-image.sh`` via ECOMBENCH_BASE_IMAGE).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from harness.core.errors import HarnessError
from harness.execute.containers import (
    FAMILY_IMAGES,
    MILVUS_LITE,
    MILVUS_SERVER,
    Image,
    engine,
    get_family,
    get_sidecar,
    image_id,
)
from harness.execute.containers.build import build_command, build_plan
from harness.execute.containers.run import (
    LABELS,
    WEIGHTS,
    WORK,
    Mount,
    family_for,
    gpu_requests,
    plan_mounts,
    private_network,
    sidecar_for,
    start_sidecar,
)  # fmt: skip
from harness.spec.cells import Cell
from harness.spec.settings import Settings
from support import run_cli

REPO_SMOKE = Path(__file__).resolve().parents[2] / "suites" / "smoke.toml"
MODEL = "timm:resnet18[init=random]"
DATASET = "synthetic[classes=4,per_class=6]"


# --- no engine needed -----------------------------------------------------------------------------------------


def test_mounts_data_read_only_at_the_ids_paths_and_results_read_write(tmp_path: Path) -> None:
    (tmp_path / "shoes").mkdir()
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "tuned.safetensors").write_bytes(b"")
    (tmp_path / "hf").mkdir()
    (tmp_path / ".ecombench" / "manifests").mkdir(parents=True)
    exchange, cache = tmp_path / "x", tmp_path / "c"
    environ = {"HF_HOME": str(tmp_path / "hf"), "HOME": str(tmp_path / "nohome")}
    mounts, env = plan_mounts(
        "checkpoint:resnet50@models/tuned.safetensors", "folder:shoes", exchange, cache, tmp_path, environ
    )
    assert mounts == [
        Mount(exchange, f"{WORK}/shards", read_only=False),
        Mount(cache, f"{WORK}/embeddings-shared"),  # the host's cache, read-only: nothing can be planted in it
        Mount(tmp_path / "shoes", str(tmp_path / "shoes")),
        Mount(tmp_path / "models", str(tmp_path / "models")),  # a file's folder
        Mount(tmp_path / ".ecombench" / "manifests", f"{WORK}/manifests"),
        Mount(tmp_path / "hf", f"{WEIGHTS}/hf_home"),
    ]
    assert env == {"HF_HOME": f"{WEIGHTS}/hf_home"}
    assert mounts[2].spec() == f"{tmp_path / 'shoes'}:{tmp_path / 'shoes'}:ro"


def test_generated_datasets_and_absent_caches_mount_nothing_more(tmp_path: Path) -> None:
    mounts, env = plan_mounts(MODEL, DATASET, tmp_path / "x", tmp_path / "c", tmp_path, {"HOME": str(tmp_path)})
    assert [m.target for m in mounts] == [f"{WORK}/shards", f"{WORK}/embeddings-shared"] and env == {}


def test_gpus_are_requested_exactly_when_the_host_has_the_nvidia_runtime() -> None:
    assert gpu_requests("cpu", gpu_runtime=False) == []
    [request] = gpu_requests("cuda", gpu_runtime=True)
    assert request["Count"] == -1 and request["Capabilities"] == [["gpu"]]
    assert len(gpu_requests("cpu", gpu_runtime=True)) == 1
    with pytest.raises(HarnessError, match=r"--device cuda:1 in a container needs the NVIDIA container toolkit"):
        gpu_requests("cuda:1", gpu_runtime=False)


def test_build_plan_puts_the_base_first_and_passes_the_ca_only_as_a_secret(tmp_path: Path) -> None:
    assert [i.name for i in build_plan(["timm"])] == ["base", "timm"]
    assert [i.name for i in build_plan([])] == ["base", *FAMILY_IMAGES, "milvus", "milvus-lite"]
    ca = tmp_path / "ca.crt"
    cmd = build_command(FAMILY_IMAGES["timm"], ["docker", "build"], "local/debian", ca)
    assert cmd[cmd.index("--secret") + 1] == f"id=ca,src={ca}"
    assert "BASE_IMAGE=local/debian" not in cmd  # only the base image takes the Debian image
    assert "--secret" not in build_command(FAMILY_IMAGES["timm"], ["docker", "build"], None, None)


def test_unknown_family_and_unreachable_engine_are_clear_errors() -> None:
    with pytest.raises(
        HarnessError, match=r"^unknown model family 'tim' for --container: known are timm, open_clip, transformers$"
    ):
        get_family("tim")
    assert [family_for(m) for m in ("timm:resnet18", "open_clip:ViT-B-16@openai", "hf:facebook/dinov2-base")] == [
        "timm", "open_clip", "transformers",
    ]  # fmt: skip
    os.environ["DOCKER_HOST"], saved = "unix:///nonexistent/docker.sock", os.environ.get("DOCKER_HOST")
    try:
        with pytest.raises(HarnessError, match=r"^cannot reach the Docker engine at unix:///nonexistent/docker.sock: "):
            engine()
    finally:
        os.environ.pop("DOCKER_HOST")
        if saved is not None:
            os.environ["DOCKER_HOST"] = saved


def test_the_sidecar_is_the_real_server_by_default_and_lite_on_request(tmp_path: Path) -> None:
    settings = Settings(tmp_path, tmp_path / "r.duckdb")
    milvus = Cell(MODEL, DATASET, "pretrained", "retrieval", {"backend": "milvus"})
    server = sidecar_for(milvus, settings, "server")
    assert server is not None and server.image is MILVUS_SERVER and server.image.tag == "ecombench/milvus:0.1.0"
    assert sidecar_for(milvus, settings, "lite") == get_sidecar("lite") and get_sidecar("lite").image is MILVUS_LITE
    exact = Cell(MODEL, DATASET, "pretrained", "retrieval", {"backend": "exact"})
    assert sidecar_for(exact, settings, "server") is None  # no Milvus, no sidecar
    given = Settings(tmp_path, tmp_path / "r.duckdb", milvus_uri="http://milvus.example:19530")
    assert sidecar_for(milvus, given, "server") is None  # --milvus-uri wins
    with pytest.raises(
        HarnessError, match=r"^unknown Milvus sidecar 'full' for --milvus-sidecar: known are server, lite$"
    ):
        get_sidecar("full")
    wants_server = Cell(MODEL, DATASET, "pretrained", "retrieval", {"backend": "milvus", "milvus": "server"})
    with pytest.raises(HarnessError, match=r"asks for milvus='server': run it with --milvus-sidecar server, not lite"):
        sidecar_for(wants_server, settings, "lite")


def test_a_compression_cell_on_the_milvus_server_gets_the_server_sidecar(tmp_path: Path) -> None:
    """Not only retrieval: a compression cell searching the real Milvus server gets the sidecar, where it used to
    get none and try to start a server inside its family image, which has none."""
    settings = Settings(tmp_path, tmp_path / "r.duckdb")
    params = {"compression": "int8", "backend": "milvus", "milvus": "server"}
    server = Cell(MODEL, DATASET, "pretrained", "compression", params)
    assert sidecar_for(server, settings, "server") == get_sidecar("server")
    with pytest.raises(HarnessError, match=r"asks for milvus='server': run it with --milvus-sidecar server, not lite"):
        sidecar_for(server, settings, "lite")
    lite = Cell(MODEL, DATASET, "pretrained", "compression", {**params, "milvus": "lite"})
    assert sidecar_for(lite, settings, "lite") == get_sidecar("lite")
    exact = Cell(MODEL, DATASET, "pretrained", "compression", {**params, "backend": "exact"})
    assert sidecar_for(exact, settings, "server") is None


def test_an_unknown_sidecar_kind_is_one_line_before_anything_runs(tmp_path: Path) -> None:
    for command in (("run", "--model", MODEL, "--dataset", DATASET), ("grid", str(REPO_SMOKE)),
                    ("bench-full", str(REPO_SMOKE))):  # fmt: skip
        result = run_cli(*command, "--container", *(["timm"] if command[0] == "run" else []),
                         "--milvus-sidecar", "full", cwd=tmp_path)  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().splitlines() == [
            "error: unknown Milvus sidecar 'full' for --milvus-sidecar: known are server, lite"
        ]
    assert not (tmp_path / "results.duckdb").exists()


def test_the_server_image_runs_the_locked_wheels_binary_health_checked(repo: Path) -> None:
    dockerfile = (repo / "containers" / "milvus" / "Dockerfile").read_text()
    assert "uv sync --frozen --no-dev --no-install-project --inexact --extra milvus-server" in dockerfile
    assert "\nHEALTHCHECK " in dockerfile and "\nUSER 10001:10001\n" in dockerfile
    # exec form, the binary itself: the wrapper would leave its child running on SIGTERM
    assert '\nENTRYPOINT ["/opt/milvus/bin/milvus", "run", "standalone"]\n' in dockerfile
    assert 'milvus==2.3.5"' in (repo / "pyproject.toml").read_text()


# --- a real engine ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def images() -> Iterator[dict[str, str]]:
    """Build the base, timm and both sidecar images (layers reused) and return their ids by name."""
    try:
        client = engine()
    except HarnessError as exc:
        if os.environ.get("ECOMBENCH_REQUIRE_DOCKER") == "1":
            raise
        pytest.skip(str(exc))
    result = run_cli("containers", "build", "timm", "milvus", "milvus-lite", cwd=Path.cwd())
    assert result.returncode == 0, result.stdout + result.stderr
    ids = {image.name: image_id(client, image) for image in (FAMILY_IMAGES["timm"], MILVUS_SERVER, MILVUS_LITE)}
    volumes = {v.id for v in client.volumes.list()}
    yield ids
    assert {v.id for v in client.volumes.list()} == volumes  # anonymous volumes went with their containers
    leftovers = client.containers.list(all=True, filters={"label": next(iter(LABELS))})
    networks = [n.name for n in client.networks.list() if n.name.startswith("ecombench-")]
    assert leftovers == [] and networks == [], (leftovers, networks)


def _docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout


#: the ranked metrics the server sidecar's cell must share with the exact backend's
RANKED = ("mmp_at_5", "recall_at_1", "map_at_r", "mrr", "ndcg_at_10")


def _cell_rows(db: Path) -> tuple[str, str, str, dict[str, object], dict[str, float]]:
    con = duckdb.connect(str(db), read_only=True)
    [(run_id, status, digest, provenance)] = con.execute(
        "SELECT run_id, status, image_digest, provenance FROM runs"
    ).fetchall()
    metrics = dict(con.execute("SELECT metric, value FROM results WHERE run_id = ?", [run_id]).fetchall())
    con.close()
    return run_id, status, digest, json.loads(provenance), metrics


@pytest.mark.docker
def test_retrieval_cell_in_the_timm_container_against_the_server_sidecar(
    images: dict[str, str], tmp_path: Path
) -> None:
    volumes_before = set(_docker("volume", "ls", "-q").split())
    result = run_cli("run", "--container", "timm", "--model", MODEL, "--dataset", DATASET, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "mMP@5" in result.stdout
    run_id, status, digest, provenance, metrics = _cell_rows(tmp_path / "results.duckdb")
    inspected = _docker("image", "inspect", "--format", "{{.Id}}", "ecombench/timm:0.1.0").strip()
    assert status == "ok" and digest == inspected == images["timm"]
    assert provenance["image"] == "ecombench/timm:0.1.0"
    assert provenance["milvus_sidecar"] == "server" and provenance["milvus_image_digest"] == images["milvus"]
    assert set(RANKED) <= set(metrics)
    assert metrics["n_queries"] == 12  # 4 classes x 6 images, half in the test split
    shard = json.loads((tmp_path / ".ecombench" / "shards" / f"{run_id}.json").read_text())
    assert shard["cell"]["params"]["backend"] == "milvus" and len(metrics) == len(shard["metrics"])
    assert (tmp_path / ".ecombench" / "neighbours" / f"{run_id}.npz").is_file()  # came back from the container
    assert set(_docker("volume", "ls", "-q").split()) == volumes_before  # the sidecar's volume went with it

    # The same cell on the exact backend, natively on the host: the server's FLAT search finds the same neighbours.
    exact = tmp_path / "exact"
    exact.mkdir()
    result = run_cli("run", "--model", MODEL, "--dataset", DATASET, "--backend", "exact", cwd=exact)
    assert result.returncode == 0, result.stdout + result.stderr
    *_, exact_metrics = _cell_rows(exact / "results.duckdb")
    assert {m: metrics[m] for m in RANKED} == pytest.approx({m: exact_metrics[m] for m in RANKED}, abs=1e-6)


@pytest.mark.docker
def test_a_grid_shares_one_sidecar_and_replaces_it_after_a_failed_cell(images: dict[str, str], tmp_path: Path) -> None:
    """Three retrieval cells on Milvus in containers, one failing: one server sidecar serves the cells, and a cell
    that follows the failed one gets a fresh sidecar (a failed cell may leave its collections behind)."""
    datasets = ["synthetic[classes=4,per_class=6]", "folder:/no/such/folder", "synthetic[classes=3,per_class=6]"]
    suite = tmp_path / "grid.toml"
    suite.write_text(
        f'[grid]\nmodels = [{MODEL!r}]\ndatasets = {datasets!r}\nstrategies = ["pretrained"]\n'
        'suites = ["retrieval"]\n\n[params.retrieval]\nbackend = "milvus"\n'
    )
    client = engine()
    since = int(time.time())
    result = run_cli("grid", str(suite), "--container", cwd=tmp_path)
    until = int(time.time()) + 1
    assert result.returncode == 1, result.stdout + result.stderr  # the missing folder fails its cell
    order = [line.split()[1] for line in result.stderr.splitlines() if re.match(r"^\[\d/3\] ", line)]
    assert sorted(order) == ["error", "ok", "ok"], result.stderr
    events = client.events(
        since=since, until=until, decode=True,
        filters={"type": "container", "event": "start", "label": next(iter(LABELS))},
    )  # fmt: skip
    sidecars = [e for e in events if e["Actor"]["Attributes"]["name"].endswith("-milvus")]
    assert len(sidecars) == 1 + (order.index("error") < 2)  # a fresh one only if a cell came after the failure
    con = duckdb.connect(str(tmp_path / "results.duckdb"), read_only=True)
    rows = con.execute("SELECT status, provenance FROM runs ORDER BY status").fetchall()
    con.close()
    assert [status for status, _ in rows] == ["error", "ok", "ok"]
    for _, provenance in rows[1:]:
        assert json.loads(provenance)["milvus_image_digest"] == images["milvus"]


@pytest.mark.docker
def test_a_compression_cell_on_the_milvus_server_runs_against_the_server_sidecar(
    images: dict[str, str], tmp_path: Path
) -> None:
    result = run_cli(
        "run", "--container", "timm", "--suite", "compression", "--model", MODEL, "--dataset", DATASET,
        "--param", "compression=int8", "--param", "backend=milvus", "--param", "milvus=server", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    _, status, _, provenance, metrics = _cell_rows(tmp_path / "results.duckdb")
    assert status == "ok" and provenance["milvus_sidecar"] == "server"
    assert provenance["milvus_image_digest"] == images["milvus"]
    assert {"overlap_at_10", "delta_mmp_at_5", "milvus_build_s"} <= set(metrics)


@pytest.mark.docker
def test_a_forced_container_grid_recomputes_its_finished_cells(images: dict[str, str], tmp_path: Path) -> None:
    """``grid --container --force`` hands its finished cells to their containers again (the force time travels in
    the line the container executes), and the rows record the new runs."""
    suite = tmp_path / "grid.toml"
    suite.write_text(
        f'[grid]\nmodels = [{MODEL!r}]\ndatasets = [{DATASET!r}]\nstrategies = ["pretrained"]\n'
        'suites = ["retrieval"]\n\n[params.retrieval]\nbackend = "exact"\n'
    )

    def finished_at() -> str:
        con = duckdb.connect(str(tmp_path / "results.duckdb"), read_only=True)
        [(value, digest)] = con.execute("SELECT finished_at, image_digest FROM runs").fetchall()
        con.close()
        assert digest == images["timm"]
        return str(value)

    first = run_cli("grid", str(suite), "--container", cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    computed = finished_at()
    again = run_cli("grid", str(suite), "--container", cwd=tmp_path)
    assert again.returncode == 0 and finished_at() == computed, again.stdout + again.stderr
    forced = run_cli("grid", str(suite), "--container", "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert finished_at() > computed


@pytest.mark.docker
def test_the_lite_sidecar_is_the_light_option(images: dict[str, str], tmp_path: Path) -> None:
    result = run_cli(
        "run", "--container", "timm", "--milvus-sidecar", "lite", "--model", MODEL, "--dataset", DATASET, cwd=tmp_path
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    _, status, _, provenance, metrics = _cell_rows(tmp_path / "results.duckdb")
    assert status == "ok" and set(RANKED) <= set(metrics) and metrics["n_queries"] == 12
    assert provenance["milvus_sidecar"] == "lite" and provenance["milvus_image_digest"] == images["milvus-lite"]


@pytest.mark.docker
def test_the_server_sidecar_stops_with_its_processes_and_a_slow_start_is_a_clear_error(
    images: dict[str, str],
) -> None:
    client = engine()
    with private_network(client) as network:
        container, uri = start_sidecar(client, network, get_sidecar("server"))
        assert uri == f"http://{network.name}-milvus:19530"
        processes = [row[-1] for row in container.top()["Processes"]]
        assert processes[0].startswith("/sbin/docker-init -- ") and "/opt/milvus/bin/milvus run standalone" in processes
        started = time.monotonic()
        container.stop(timeout=30)  # SIGTERM through PID 1 to the server, which shuts down by itself
        assert time.monotonic() - started < 20
        container.remove(v=True)
        with pytest.raises(HarnessError) as failed:
            start_sidecar(client, network, get_sidecar("server"), timeout_s=0.5)
        message = str(failed.value)
        assert message.startswith(
            f"the Milvus server sidecar {network.name}-milvus (ecombench/milvus:0.1.0) did not become healthy "
            "(within 0.5 s); last log lines:"
        )
        assert client.containers.list(all=True, filters={"network": network.id}) == []  # removed on failure


@pytest.mark.docker
def test_a_failing_cell_in_a_container_is_recorded_as_an_error(images: dict[str, str], tmp_path: Path) -> None:
    result = run_cli(
        "run", "--container", "timm", "--model", MODEL, "--dataset", "folder:/no/such/folder", cwd=tmp_path
    )
    assert result.returncode == 1 and "/no/such/folder" in result.stderr
    con = duckdb.connect(str(tmp_path / "results.duckdb"), read_only=True)
    [(status, digest)] = con.execute("SELECT status, image_digest FROM runs").fetchall()
    assert status == "error" and digest == images["timm"]


@pytest.mark.docker
def test_timeout_kills_the_container_and_says_so(images: dict[str, str], tmp_path: Path) -> None:
    result = run_cli(
        "run", "--container", "timm", "--model", MODEL, "--dataset", DATASET, "--backend", "exact",
        "--timeout", "2", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert f"error: the container for {MODEL} ran past its 2 s timeout and was killed" in result.stderr


@pytest.mark.docker
def test_images_run_as_a_non_root_user_and_carry_no_ca_bundle(images: dict[str, str]) -> None:
    client = engine()
    with pytest.raises(HarnessError, match=r"^image ecombench/nope:.* is not built: run `ecombench containers build"):
        image_id(client, Image("nope", ""))
    for tag in (
        "ecombench/base:0.1.0",
        "ecombench/timm:0.1.0",
        "ecombench/milvus:0.1.0",
        "ecombench/milvus-lite:0.1.0",
    ):
        assert client.images.get(tag).attrs["Config"]["User"] == "10001:10001"
        history = _docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", tag)
        assert "BEGIN CERTIFICATE" not in history and "SSL_CERT_FILE" not in str(client.images.get(tag).attrs["Config"])
        assert not [line for line in history.splitlines() if line.startswith(("COPY", "ADD")) and ".crt" in line]
        # The build's CA bundle (a TLS-intercepting proxy's CA among Debian's) was a secret mounted for single RUN
        # steps: none of the host's certificates that Debian does not ship may be anywhere in the image. Text files
        # only (-I): a leaked bundle is PEM text, and skipping the GBs of shared libraries makes the search ~8x faster.
        script = (
            "cat /etc/ssl/certs/*.pem /etc/ssl/certs/ca-certificates.crt 2>/dev/null; ls -A /run/secrets 2>/dev/null"
        )
        inside = _output(tag, script).decode()
        assert "ca" not in inside.split()
        if certs := _host_only_certificates(inside):
            patterns = " ".join(f"-e '{cert}'" for cert in certs)
            found = _output(tag, f"grep -rlIF {patterns} /etc /run /root /home /tmp /opt /var 2>/dev/null || true", "0")
            assert found == b"", (tag, found)


def _output(tag: str, script: str, user: str = "") -> bytes:
    """A shell script's output in a fresh container of ``tag``, removed with its anonymous volumes."""
    container = engine().containers.run(tag, entrypoint=["sh", "-c", script], detach=True, user=user)
    try:
        container.wait(timeout=60)
        return bytes(container.logs())
    finally:
        container.remove(force=True, v=True)


def _host_only_certificates(image_bundle: str) -> list[str]:
    """One base64 line of each certificate in the host's bundle that the image's trust store lacks."""
    host = Path(os.environ.get("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt"))
    if not host.is_file():
        return []
    blocks = host.read_text().split("-----BEGIN CERTIFICATE-----")[1:]
    lines = [block.strip().splitlines()[3] for block in blocks if len(block.strip().splitlines()) > 4]
    return [line for line in lines if line not in image_bundle]


def test_published_images_are_pinned_by_digest_and_ports_bound_to_localhost(repo: Path) -> None:
    import yaml

    compose = yaml.safe_load((repo / "containers" / "compose.yaml").read_text())
    for name, service in compose["services"].items():
        assert "@sha256:" in service["image"], name
        assert all(str(port).startswith("127.0.0.1:") for port in service.get("ports", [])), name
    base = (repo / "containers" / "base" / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=debian:bookworm-slim@sha256:" in base and "\nUSER 10001:10001\n" in base
    for family in FAMILY_IMAGES:
        assert (repo / "containers" / family / "Dockerfile").read_text().splitlines()[-1].startswith("RUN python -c")


def test_containers_drop_every_capability_and_are_bounded() -> None:
    from harness.execute.containers.run import limits

    bounded = limits({"ECOMBENCH_CONTAINER_MEMORY": "3g", "ECOMBENCH_CONTAINER_PIDS": "512"})
    assert bounded == {"cap_drop": ["ALL"], "pids_limit": 512, "mem_limit": "3g"}
    default = limits({})
    assert default["pids_limit"] == 4096 and default["mem_limit"].endswith("m") and int(default["mem_limit"][:-1]) > 0


def test_a_container_reads_the_shared_cache_and_writes_only_its_own(tmp_path: Path) -> None:
    import numpy as np

    from harness.compute.extract.cache import EmbeddingCache

    shared, own = tmp_path / "host", tmp_path / "run"
    EmbeddingCache(shared).store("a" * 64, np.ones((2, 3), np.float32), {})
    cache = EmbeddingCache(own, shared)
    loaded = cache.load("a" * 64)
    assert loaded is not None and loaded.tolist() == [[1.0] * 3] * 2  # reused from the host's cache
    own.mkdir()
    cache.store("b" * 64, np.zeros((1, 3), np.float32), {})
    assert (own / f"{'b' * 64}.npy").is_file() and not (shared / f"{'b' * 64}.npy").exists()
    assert cache.load("c" * 64) is None
