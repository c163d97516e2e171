"""One cell in its family's container, next to a Milvus sidecar on a private Docker network.

The sidecar (a cell on Milvus with no --milvus-uri) is the real Milvus server by default, Milvus Lite
with ``--milvus-sidecar lite`` (harness.execute.containers.SIDECARS). It publishes no port to the host, so it runs
without authentication; the cell waits until its health check passes (bounded, with the container's name and last log
lines on failure), and it runs with ``--init`` (PID 1 forwards the stop signal: the server's processes die with
it). A grid's container cells share one private network (:class:`GridNetwork`) and one sidecar on it, started
for the first cell that needs it and reused by the next ones while it stays healthy; after a failed cell it is
replaced (a killed cell may have left its collections in it). All are removed with their volumes when the grid
ends, whatever happens.

The host plans the cell and hands the container its spec (``ecombench execute``). The container reads data
and weights through read-only mounts, writes its run shard into an exchange folder (read-write), keeps the
sub-jobs it trains (fine-tunes, top-tune heads) in the host workdir's job folders (read-write mounts, under the
same file locks as native runs), and never opens ``results.duckdb``: the host validates the shard, moves it
next to its native shards and ingests it. The image id goes in as ECOMBENCH_IMAGE_DIGEST (a container cannot
know its own image), so every row records the image that produced it. Containers, the network and anonymous
volumes are removed whatever happens.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.compute.suites import get_suite
from harness.core.errors import HarnessError
from harness.execute.containers import DEFAULT_SIDECAR, Sidecar, engine, get_family, get_sidecar, image_id
from harness.execute.worker import shard_store
from harness.spec.ids import parse_ref
from harness.spec.settings import Settings
from harness.spec.strategies import get_strategy
from harness.storage.shards import Shard, ShardStore
from harness.storage.workdir import DEFAULT, Workdir

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container
    from docker.models.networks import Network

    from harness.spec.cells import Cell, CellSpec

WORK = "/ecombench/work"  # the harness's workdir inside the container (a tmpfs)
WEIGHTS = "/ecombench/weights"
USER = "10001:10001"  # the images' non-root user
LABELS = {"org.ecombench.managed": "1"}
SIDECAR_PORT = 19530


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    read_only: bool = True

    def spec(self) -> str:
        return f"{self.source}:{self.target}:{'ro' if self.read_only else 'rw'}"


#: the host's embedding cache, read-only, inside a container (harness.compute.extract.cache.EmbeddingCache's ``shared``)
SHARED_CACHE = f"{WORK}/embeddings-shared"


def plan_mounts(
    model: str,
    dataset: str,
    exchange: Path,
    cache: Path,
    cwd: Path,
    environ: Mapping[str, str],
    also: tuple[str, ...] = (),
    workdir: Path | None = None,
) -> tuple[list[Mount], dict[str, str]]:
    """Bind mounts and environment of a cell container: data, manifests and weights read-only, at the path the
    ids name (relative ids resolve against ``cwd``, the container's working directory too; ``also``: more
    dataset ids, e.g. a cross-tuning source), the host's embedding cache too (read-only: the container's own
    entries stay in its tmpfs workdir, so no run plants vectors another reuses); the shard exchange folder and, with
    ``workdir``, its job folders read-write."""
    mounts = [Mount(exchange, f"{WORK}/shards", False), Mount(cache, SHARED_CACHE)]
    if workdir is not None:
        for name in Workdir.SHARED:
            _own(workdir.absolute() / name)
            mounts.append(Mount(workdir.absolute() / name, f"{WORK}/{name}", False))
    env: dict[str, str] = {}
    paths = [parse_ref(d, "dataset").name for d in (dataset, *also)]
    model_ref = parse_ref(model, "model")
    if model_ref.kind == "checkpoint":
        paths.append(model_ref.split_at()[1])
    for text in filter(None, paths):
        path = cwd / text
        if path.exists():
            folder = path if path.is_dir() else path.parent
            mounts.append(Mount(folder, str(folder)))
    manifests = Workdir(workdir if workdir is not None else cwd / DEFAULT).absolute().manifests
    if manifests.is_dir():  # prepared manifests, read where the container's workdir has them
        mounts.append(Mount(manifests, f"{WORK}/manifests"))
    user_cache = Path(environ.get("XDG_CACHE_HOME", Path(environ.get("HOME", "/root")) / ".cache"))
    weights = {
        "HF_HOME": Path(environ.get("HF_HOME", user_cache / "huggingface")),
        "TORCH_HOME": Path(environ.get("TORCH_HOME", user_cache / "torch")),
    }
    for variable, folder in weights.items():
        if folder.is_dir():
            target = f"{WEIGHTS}/{variable.lower()}"
            mounts.append(Mount(folder, target))
            env[variable] = target
    return list(dict.fromkeys(mounts)), env


def limits(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """What a container may take of the host: no Linux capabilities at all, a bounded number of processes, and
    (``ECOMBENCH_CONTAINER_MEMORY``, e.g. ``16g``; default 80% of the host's memory) a memory ceiling, so a
    runaway model is killed by the kernel instead of exhausting the host."""
    memory = environ.get("ECOMBENCH_CONTAINER_MEMORY") or f"{int(0.8 * _host_memory_bytes()) // 2**20}m"
    pids = int(environ.get("ECOMBENCH_CONTAINER_PIDS", "4096"))
    return {"cap_drop": ["ALL"], "pids_limit": pids, "mem_limit": memory}


def _host_memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def gpu_requests(device: str, gpu_runtime: bool) -> list[Any]:
    """All GPUs when the host has the NVIDIA container toolkit; ``--device cuda`` without it is an error."""
    import docker

    if device.startswith("cuda") and not gpu_runtime:
        raise HarnessError(
            f"--device {device} in a container needs the NVIDIA container toolkit on the host "
            "(no 'nvidia' runtime in `docker info`); use --device cpu or install nvidia-container-toolkit"
        )
    return [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])] if gpu_runtime else []


def has_gpu_runtime(client: docker.DockerClient) -> bool:
    return "nvidia" in (client.info().get("Runtimes") or {}) or shutil.which("nvidia-container-cli") is not None


def container_user() -> str:
    """The host user (files come back owned by them), or the images' user when the host runs as root."""
    uid = os.getuid()
    return USER if uid == 0 else f"{uid}:{os.getgid()}"


def _own(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if os.getuid() == 0:  # the container's user must be able to write the read-write mounts
        uid, gid = map(int, USER.split(":"))
        os.chown(path, uid, gid)


class LogTail:
    """Streams a container's log to ``echo`` in a thread, keeping the last lines for error messages."""

    def __init__(self, container: Container, echo: Callable[[str], None], lines: int = 40) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=lines)
        self._thread = threading.Thread(target=self._follow, args=(container, echo), daemon=True)
        self._thread.start()

    def _follow(self, container: Container, echo: Callable[[str], None]) -> None:
        for chunk in container.logs(stream=True, follow=True):
            text = chunk.decode(errors="replace")
            echo(text)
            self.lines.extend(text.splitlines())

    def text(self) -> str:
        self._thread.join(timeout=5)
        return "\n".join(self.lines)


def remove(container: Container | None) -> None:
    """Remove a container and its anonymous volumes, running or not."""
    import docker

    if container is not None:
        with suppress(docker.errors.NotFound):
            container.remove(force=True, v=True)


@contextmanager
def private_network(client: docker.DockerClient) -> Iterator[Network]:
    """A fresh internal network (no route out) for one run's containers; removed afterwards."""
    name = f"ecombench-{uuid.uuid4().hex[:12]}"
    network = client.networks.create(name, driver="bridge", internal=True, labels=LABELS)
    try:
        yield network
    finally:
        for container in client.containers.list(all=True, filters={"network": network.id}):
            remove(container)
        network.remove()


class GridNetwork:
    """One private network for a grid's containers (created with the first cell), and on it the Milvus sidecar
    its cells share, reused from cell to cell while healthy; :meth:`close` removes them all."""

    def __init__(self) -> None:
        self._client: docker.DockerClient | None = None
        self._network: Network | None = None
        self._closing = ExitStack()
        self._sidecar: tuple[str, Container, str] | None = None  # its kind, container and URI

    @property
    def client(self) -> docker.DockerClient:
        """The engine, reached when a cell first needs it (a bad model id is reported before an absent engine)."""
        if self._client is None:
            self._client = engine()
        return self._client

    @property
    def network(self) -> Network:
        if self._network is None:
            self._network = self._closing.enter_context(private_network(self.client))
        return self._network

    def milvus_uri(self, sidecar: Sidecar) -> str:
        """The URI of this network's ``sidecar``, started now (replacing one of another kind or no longer healthy)
        unless it runs and is healthy."""
        if self._sidecar is not None and self._sidecar[0] == sidecar.kind and _still_healthy(self._sidecar[1]):
            return self._sidecar[2]
        self.retire()
        container, uri = start_sidecar(self.client, self.network, sidecar)  # one at a time: its name is fixed
        self._sidecar = (sidecar.kind, container, uri)
        return uri

    def retire(self) -> None:
        """Remove the sidecar (the next cell that needs one gets a fresh one)."""
        held, self._sidecar = self._sidecar, None
        if held is not None:
            remove(held[1])

    def close(self) -> None:
        self._sidecar = None  # removed with the network: every container on it goes first
        self._closing.close()


def _healthy(state: dict[str, Any]) -> bool:
    return state["Status"] == "running" and state.get("Health", {}).get("Status") == "healthy"


def _still_healthy(container: Container) -> bool:
    import docker

    try:
        return _healthy(_state(container))
    except docker.errors.NotFound:  # removed behind our back
        return False


def start_sidecar(
    client: docker.DockerClient, network: Network, sidecar: Sidecar, timeout_s: float | None = None
) -> tuple[Container, str]:
    """Start a Milvus sidecar on ``network`` (no port published to the host) and wait until its health check
    passes (``timeout_s``, default the kind's). Returns the container and the URI cell containers reach it by;
    on failure the container is removed and the error names it, with its last log lines."""
    name = f"{network.name}-milvus"
    image_id(client, sidecar.image)
    container = client.containers.run(
        sidecar.image.tag, name=name, network=network.name, detach=True, labels=LABELS, user=USER, read_only=True,
        tmpfs={"/tmp": "rw,mode=1777"}, security_opt=["no-new-privileges"], init=True, **limits(),
    )  # fmt: skip
    limit = sidecar.start_timeout_s if timeout_s is None else timeout_s
    deadline = time.monotonic() + limit
    while (state := _state(container))["Status"] == "running" and not _healthy(state):
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if not _healthy(state):
        logs = container.logs(tail=20).decode(errors="replace").rstrip()
        remove(container)
        how = f"exited with code {state.get('ExitCode')}" if state["Status"] != "running" else f"within {limit:g} s"
        raise HarnessError(
            f"the Milvus {sidecar.kind} sidecar {name} ({sidecar.image.tag}) did not become healthy ({how}); "
            f"last log lines:\n{logs}"
        )
    return container, f"http://{name}:{SIDECAR_PORT}"


def _state(container: Container) -> dict[str, Any]:
    container.reload()
    return dict(container.attrs["State"])


def sidecar_for(cell: Cell, settings: Settings, kind: str) -> Sidecar | None:
    """The Milvus sidecar a cell needs: one of ``kind`` for a cell its suite says searches Milvus, without a URI, else
    None. A cell whose parameters ask for the real server (``milvus = "server"``) is refused a lite sidecar."""
    sidecar = get_sidecar(kind)
    milvus = get_suite(cell.suite).milvus(cell.params)
    if milvus is None or settings.milvus_uri is not None:
        return None
    if milvus == "server" and sidecar.kind != "server":
        raise HarnessError(
            f"cell {cell.label()} asks for milvus='server': run it with --milvus-sidecar server, not {sidecar.kind}"
        )
    return sidecar


def family_for(model: str) -> str:
    """The first family image that runs this model id's kind (timm ids run in the timm image)."""
    from harness.execute.containers import FAMILY_IMAGES

    kind = parse_ref(model, "model").kind
    for name, image in FAMILY_IMAGES.items():
        if kind in image.model_kinds:
            return name
    raise HarnessError(f"no container image runs model '{model}' (kind '{kind}')")


def run_in_container(
    spec: CellSpec,
    settings: Settings,
    timeout_s: float,
    echo: Callable[[str], None],
    family: str | None = None,
    milvus_sidecar: str = DEFAULT_SIDECAR,
    grid: GridNetwork | None = None,
) -> Shard:
    """Run the planned cell in its family's image (``ecombench execute`` of its spec), then take back its shard.

    A cell on Milvus with no ``settings.milvus_uri`` gets a Milvus sidecar of kind ``milvus_sidecar``
    (``server``: the real server; ``lite``: Milvus Lite); the kind and its image id go into the row's provenance.
    ``grid``: the grid's shared network and sidecars (None: this cell's own, removed after it).
    """
    if grid is None:
        grid = GridNetwork()
        try:
            return run_in_container(spec, settings, timeout_s, echo, family, milvus_sidecar, grid)
        finally:
            grid.close()
    cell = spec.cell
    family = family or family_for(cell.model)
    image = get_family(family)
    kind = parse_ref(cell.model, "model").kind
    if kind not in image.model_kinds:
        raise HarnessError(
            f"model '{cell.model}' is not in the {family} image: it runs {', '.join(image.model_kinds)} ids"
        )
    sidecar = sidecar_for(cell, settings, milvus_sidecar)
    client = grid.client
    digest = image_id(client, image)
    exchange = Workdir(settings.workdir).absolute().containers / uuid.uuid4().hex[:12]
    cache = Workdir(settings.workdir).absolute().embeddings  # the native cache: written by the host's own runs only
    cache.mkdir(parents=True, exist_ok=True)
    _own(exchange)
    source = get_strategy(cell.strategy).trained_on(cell.dataset, cell.params)
    mounts, env = plan_mounts(
        cell.model, cell.dataset, exchange, cache, Path.cwd(), os.environ, (source,), settings.workdir
    )
    env |= {"ECOMBENCH_IMAGE_DIGEST": digest, "ECOMBENCH_IMAGE": image.tag, "HOME": "/tmp", "HF_HUB_OFFLINE": "1"}
    device = settings.extraction.device
    container = None
    ok = False
    try:
        uri = settings.milvus_uri
        if sidecar is not None:
            uri = grid.milvus_uri(sidecar)
            env["ECOMBENCH_MILVUS_IMAGE_DIGEST"] = image_id(client, sidecar.image)
            env["ECOMBENCH_MILVUS_SIDECAR"] = sidecar.kind
        (exchange / "cell.spec").write_text(json.dumps(execute_line(spec, settings, uri)))
        command = ["execute", f"{WORK}/shards/cell.spec"]
        container = client.containers.create(
            image.tag, command, environment=env, volumes=[m.spec() for m in mounts], working_dir=str(Path.cwd()),
            user=container_user(), network=grid.network.name, labels=LABELS, read_only=True,
            tmpfs={"/tmp": "rw,mode=1777", WORK: "rw,mode=1777"}, security_opt=["no-new-privileges"],
            **limits(),
            device_requests=gpu_requests(device, has_gpu_runtime(client)), shm_size="1g",
        )  # fmt: skip
        container.start()
        logs = LogTail(container, echo)
        code = _wait(container, timeout_s, logs, cell.model)
        shards = list(ShardStore(exchange).all())  # validated: a shard from a container is untrusted input
        if not shards:
            raise HarnessError(f"the {family} container exited with code {code} and wrote no shard:\n{logs.text()}")
        shard = _collect(spec, shards, exchange, settings)
        ok = shard.status == "ok"
        return shard
    finally:
        remove(container)
        if sidecar is not None and not ok:  # it may hold what the failed cell left: the next cell gets a fresh one
            grid.retire()


def execute_line(spec: CellSpec, settings: Settings, milvus_uri: str | None) -> dict[str, Any]:
    """The line of ``ecombench plan --json`` a cell's container executes: its spec, and the host's settings as the
    container sees them (its own workdir, the sidecar's URI, no ingest, the host's embedding cache read-only).
    The host's force time goes in unchanged: a forced grid recomputes its cells and sub-jobs in the container."""
    inside = dataclasses.replace(
        settings, workdir=Path(WORK), milvus_uri=milvus_uri, ingest=False, shared_cache=Path(SHARED_CACHE)
    )
    return {**json.loads(spec.to_json()), "settings": inside.as_dict()}


def _wait(container: Container, timeout_s: float, logs: LogTail, model: str) -> int:
    import requests

    try:
        return int(container.wait(timeout=timeout_s)["StatusCode"])
    except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
        container.kill()
        raise HarnessError(f"the container for {model} ran past its {timeout_s:g} s timeout and was killed; last lines:"
                           f"\n{logs.text()}") from None  # fmt: skip


def _collect(spec: CellSpec, shards: list[Shard], exchange: Path, settings: Settings) -> Shard:
    """Move the container's shard next to the native ones (the caller ingests: it owns the database)."""
    if [s.run_id for s in shards] != [spec.key] or shards[0].cell != spec.cell:
        raise HarnessError(f"the container wrote shards {[s.run_id for s in shards]} into {exchange}, not its cell's")
    [shard] = shards
    shard_store(settings).write(shard)
    shutil.rmtree(exchange, ignore_errors=True)
    return shard
