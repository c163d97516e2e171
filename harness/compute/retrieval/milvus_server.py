"""The real Milvus standalone server (Go + knowhere) from PyPI's ``milvus`` 2.3.5 wheel, run beside the harness.

``ecombench milvus start|status|stop`` and retrieval cells with ``milvus = "server"`` use this module. The
server lives in ``<workdir>/milvus-server/``: ``data/`` (its etcd, rocksmq and segments, wiped at every
start: collections are throw-away, and a reused data folder can fail to start), ``state.json`` (pid, every
port, the URI; mode 0600) and ``logs/``.

Security: Milvus 2.3.5 binds its gRPC ports (proxy, coordinators, nodes) and its metrics/health port on all
interfaces, with no option for a listen address (only its embedded etcd is on loopback). So the server runs
with Milvus authorization on, and the ``root`` password is replaced right after the health check by a secret
generated per start (``secrets.token_urlsafe``), kept only in ``state.json``: the proxy refuses any client
without it. The internal component ports stay reachable from the network; on a shared host put a firewall
in front, or use ``run --container``, whose sidecar (this server, ``containers/milvus/``) is on a private
network.

One server per host: the embedded etcd's peer port (2380) is fixed, so a second start in another workdir is
a clear error naming the way out (stop the other, or ``--milvus-uri`` to it). Start is health-checked
(``/healthz`` on the metrics port, then an authenticated call) with a clear timeout
error and the log tail; stop sends SIGTERM to the server's whole process group (it runs in a session of its
own), waits, then SIGKILLs it: the wrapper's own SIGTERM leaves ``milvus run standalone`` running, so the
wrapper is not used. A server started with ``tied=True`` (the test fixture) also dies with its parent
(:func:`harness.core.procs.die_with_parent`).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.core.errors import HarnessError
from harness.core.locks import file_lock
from harness.storage.workdir import Workdir

START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 20.0
#: the embedded etcd's peer port: fixed (not configurable through the wrapper), so one server per host
ETCD_PEER_PORT = 2380
HEALTH_PORT = 9091  # the wrapper's default metrics port; moved up when busy, like every other port
#: the default credentials of a fresh Milvus with authorization on, replaced at once by a secret
_DEFAULT_USER, _DEFAULT_PASSWORD = "root", "Milvus"
#: growing (unflushed) segments are otherwise searched through a temporary IVF index: approximate even
#: under FLAT. The harness flushes before indexing anyway; this makes FLAT exact whatever a caller does.
_EXTRA_CONFIG = {"queryNode.segcore.interimIndex.enableIndex": "false"}
INSTALL_HINT = "install the server with `uv sync --extra milvus-server` (or `pip install ecombench[milvus-server]`)"


@dataclass(frozen=True)
class ServerState:
    """What ``state.json`` records of a started server."""

    pid: int
    uri: str
    token: str
    ports: dict[str, int]
    started_at: float
    start_s: float
    version: str

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['metrics_port']}/healthz"


def folder(workdir: Path) -> Path:
    return Workdir(Path(workdir).absolute()).milvus_server


def index_files(workdir: Path) -> Path:
    """Where the workdir's server writes index files (``<build>/<version>/<partition>/<segment>/``)."""
    return folder(workdir) / "data" / "data" / "index_files"


def _state_path(workdir: Path) -> Path:
    return folder(workdir) / "state.json"


def _read_state(workdir: Path) -> ServerState | None:
    path = _state_path(workdir)
    try:
        return ServerState(**json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as exc:
        raise HarnessError(f"unreadable Milvus server state '{path}' ({exc}): remove it and start again") from exc


def _write_state(workdir: Path, state: ServerState) -> None:
    path = _state_path(workdir)
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(asdict(state), out, indent=1)
    os.replace(path.with_suffix(".tmp"), path)


def _is_server(pid: int) -> bool:
    """The pid is alive and still the Milvus binary (not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return stat not in ("Z", "X") and b"standalone" in cmdline and cmdline[0].endswith(b"milvus")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return "OK" in resp.read().decode("utf-8", "replace")
    except (OSError, urllib.error.URLError):
        return False


def status(workdir: Path) -> ServerState | None:
    """The running, healthy server of this workdir, or None (a stale state file is removed)."""
    state = _read_state(workdir)
    if state is None:
        return None
    if _is_server(state.pid) and _healthy(state.health_url):
        return state
    if not _is_server(state.pid):
        _state_path(workdir).unlink(missing_ok=True)
    return None


@contextmanager
def _locked(workdir: Path) -> Iterator[None]:
    with file_lock(folder(workdir) / "lock", "the Milvus server of this workdir"):
        yield


def ensure(workdir: Path, timeout_s: float = START_TIMEOUT_S) -> ServerState:
    """The workdir's running server, started if there is none (what a ``milvus = "server"`` cell uses)."""
    return start(workdir, timeout_s=timeout_s)


def start(
    workdir: Path, timeout_s: float = START_TIMEOUT_S, proxy_port: int | None = None, tied: bool = False
) -> ServerState:
    """Start the server (or return the running one), wait until it is healthy and its secret is set.

    Args:
        workdir: the harness workdir; the server's files go to ``<workdir>/milvus-server``.
        timeout_s: how long the start may take (about 40 s on a 2-core machine).
        proxy_port: the client port; None: 19530, or the next free one.
        tied: the server dies with the calling process (tests); else it outlives it until ``stop``.
    """
    try:
        import milvus
    except ImportError as exc:
        raise HarnessError(f"the Milvus server is not installed: {INSTALL_HINT}") from exc
    root = folder(workdir)
    root.mkdir(parents=True, exist_ok=True)
    with _locked(workdir):
        running = status(workdir)
        if running is not None:
            return running
        stale = _read_state(workdir)
        if stale is not None and _is_server(stale.pid):  # alive but not healthy: replace it
            _kill_group(stale.pid)
        _check_peer_port()
        shutil.rmtree(root / "data", ignore_errors=True)
        started = time.perf_counter()
        config = milvus.MilvusServerConfig(data_dir=str(root / "data"))
        config.set("authorization_enabled", True)
        if proxy_port is not None:
            config.update(proxy_port=proxy_port)
        for key, value in _EXTRA_CONFIG.items():
            config.set(key, value)
        try:
            config.resolve()  # picks free ports (moving up from the defaults) and writes milvus.yaml
        except RuntimeError as exc:
            raise HarnessError(f"cannot configure the Milvus server: {exc}") from exc
        milvus._initialize_data_files(config.base_data_dir)  # unpacks the binary and its libraries once
        metrics_port, sock = config.resolve_port(HEALTH_PORT)
        if sock is None:
            raise HarnessError("no free port for the Milvus server's health endpoint")
        sock.close()
        ports = {k: int(config.get(k)) for k in config.configurable_items if k.endswith("_port")}
        ports["metrics_port"] = metrics_port
        proc = _spawn(Path(config.base_data_dir), metrics_port, tied)
        state = ServerState(
            pid=proc.pid, uri=f"http://127.0.0.1:{ports['proxy_port']}", token="", ports=ports,
            started_at=time.time(), start_s=0.0, version=milvus.__version__,
        )  # fmt: skip
        _write_state(workdir, state)  # recorded before the wait, so `stop` finds a half-started one too
        try:
            _wait_healthy(proc, state, timeout_s, started, Path(config.base_data_dir))
            token = _set_secret(state.uri, timeout_s - (time.perf_counter() - started))
        except BaseException:
            _kill_group(proc.pid)
            _state_path(workdir).unlink(missing_ok=True)
            raise
        state = ServerState(**{**asdict(state), "token": token, "start_s": time.perf_counter() - started})
        _write_state(workdir, state)
        return state


def _check_peer_port() -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", ETCD_PEER_PORT))
        except OSError:
            raise HarnessError(
                f"port {ETCD_PEER_PORT} (the embedded etcd's peer port, fixed in Milvus 2.3.5) is in use: another "
                "Milvus server (or etcd) runs on this host; stop it (`ecombench milvus stop --workdir DIR`) or "
                "point cells at it with --milvus-uri"
            ) from None


def _spawn(base: Path, metrics_port: int, tied: bool) -> subprocess.Popen[bytes]:
    from harness.core.procs import die_with_parent

    exe = base / "bin" / "milvus"
    env = {
        **os.environ,
        "DEPLOY_MODE": "STANDALONE",
        "METRICS_PORT": str(metrics_port),
        "MILVUS_RUN_DIR": str(base / "run"),
        "LD_LIBRARY_PATH": ":".join(filter(None, [str(exe.parent), os.environ.get("LD_LIBRARY_PATH", "")])),
    }
    logs = base / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / "milvus-stdout.log", "wb") as out, open(logs / "milvus-stderr.log", "wb") as err:
        return subprocess.Popen(
            [str(exe), "run", "standalone"], cwd=base, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=die_with_parent if tied else None,
        )  # fmt: skip


def _log_tail(base: Path, lines: int = 8) -> str:
    text = ""
    for name in ("milvus-stderr.log", "milvus-stdout.log"):
        try:
            text = (base / "logs" / name).read_text(errors="replace")
        except OSError:
            continue
        if text.strip():
            break
    return "\n".join(text.strip().splitlines()[-lines:])


def _wait_healthy(proc: subprocess.Popen[bytes], state: ServerState, timeout_s: float, t0: float, base: Path) -> None:
    while time.perf_counter() - t0 < timeout_s:
        if proc.poll() is not None:
            raise HarnessError(
                f"the Milvus server exited with code {proc.returncode} while starting (logs in {base / 'logs'}):\n"
                f"{_log_tail(base)}"
            )
        if _healthy(state.health_url):
            return
        time.sleep(0.5)
    raise HarnessError(
        f"the Milvus server did not become healthy within {timeout_s:.0f} s (logs in {base / 'logs'}):\n"
        f"{_log_tail(base)}"
    )


def _set_secret(uri: str, timeout_s: float) -> str:
    """Replace the default root password by a fresh secret; returns the client token ``root:SECRET``."""
    from pymilvus import MilvusClient, MilvusException

    secret = secrets.token_urlsafe(24)
    deadline = time.perf_counter() + max(timeout_s, 10.0)
    while True:  # healthy can come a moment before the proxy serves authenticated calls
        try:
            client = MilvusClient(uri=uri, token=f"{_DEFAULT_USER}:{_DEFAULT_PASSWORD}", timeout=10)
            try:
                client.update_password(_DEFAULT_USER, _DEFAULT_PASSWORD, secret)
            finally:
                client.close()
            return f"{_DEFAULT_USER}:{secret}"
        except MilvusException as exc:
            if time.perf_counter() > deadline:
                raise HarnessError(f"the Milvus server at {uri} refused to set its secret: {exc.message}") from exc
            time.sleep(1.0)


def _kill_group(pid: int, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM the server's process group, wait, then SIGKILL it; returns once the server is gone."""
    for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            _reap(pid)
            if not _is_server(pid) and not _group_alive(pid):
                return
            time.sleep(0.2)
    raise HarnessError(f"the Milvus server (pid {pid}) did not stop after SIGKILL")


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):  # not our child (another command started it): nothing to reap
        os.waitpid(pid, os.WNOHANG)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    for entry in os.listdir("/proc"):  # a group of zombies only (already dead, not yet reaped) counts as gone
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def stop(workdir: Path) -> bool:
    """Stop the workdir's server and its whole process tree; False when none was running."""
    if not folder(workdir).exists():
        return False
    with _locked(workdir):
        state = _read_state(workdir)
        if state is None:
            return False
        from harness.compute.retrieval.collections import POOL

        POOL.forget(state.uri)  # its collections go with it: none is dropped over a closing connection
        alive = _is_server(state.pid)
        if alive:
            _kill_group(state.pid)
        _state_path(workdir).unlink(missing_ok=True)
        return alive
