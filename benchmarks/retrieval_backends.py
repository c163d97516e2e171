"""The exact backend against faiss's ``IndexFlatL2`` (and optionally Milvus Lite) on the same vectors: the first
part of ``nox -s bench-retrieval``.

    python benchmarks/retrieval_backends.py                         # 60,000 x 768 and 60,000 x 128
    python benchmarks/retrieval_backends.py --sizes 20000x128 --milvus
    python benchmarks/retrieval_backends.py --beside-server         # as the old table did: a Milvus server running

Each backend's leave-one-out search (k neighbours, warmed up first) is timed in a fresh process of its own
while this one only waits, so nothing else of the benchmark runs during a timing: no Milvus server (unless
--beside-server asks for one, which shows what it costs: the server's CPU seconds during each timing are
printed), no other library's thread pool. Prints per size each backend's wall and CPU seconds, exact / faiss
(the figure to read: both measured in the same run, so a busy machine slows both), whether the neighbour lists
are identical, and the thread settings each process ran with.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["60000x768", "60000x128"], help="NxDIM, one or more")
    parser.add_argument("--k", type=int, default=10, help="neighbours per query")
    parser.add_argument("--milvus", action="store_true", help="Milvus Lite too (slow: it brute-forces in Python)")
    parser.add_argument("--milvus-uri", help="a Milvus server for --milvus (default: a Milvus Lite file)")
    parser.add_argument(
        "--beside-server", action="store_true", help="start a Milvus server first and time beside it (the old setup)"
    )
    return parser.parse_args(argv)


def vectors(n: int, dim: int) -> np.ndarray:
    x = np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def threads() -> str:
    """The thread pools this process would use: torch's, faiss's OpenMP, and each BLAS's."""
    import faiss
    from threadpoolctl import threadpool_info

    parts = [f"faiss omp {faiss.omp_get_max_threads()}"]
    parts += [
        f"{p['internal_api']} {Path(p['filepath']).name.split('-')[0]} {p['num_threads']}" for p in threadpool_info()
    ]
    return ", ".join(parts)


def measure(backend: str, n: int, dim: int, k: int, uri: str | None) -> dict[str, Any]:
    """In a fresh process: one warm-up search, then the timed leave-one-out search."""
    from harness.compute.retrieval import leave_one_out

    x = vectors(n, dim)
    make = {"exact": exact_index, "faiss": faiss_index, "milvus": lambda: milvus_index(uri)}[backend]
    leave_one_out(make(), x[:256], min(k, 100))  # imports and first-call set-up stay out of the timing
    started, cpu = time.perf_counter(), time.process_time()
    with make() as index:
        ids = leave_one_out(index, x, k)
    return {"wall": time.perf_counter() - started, "cpu": time.process_time() - cpu, "ids": ids, "threads": threads()}


def exact_index():  # type: ignore[no-untyped-def]
    from harness.compute.retrieval.exact import ExactIndex

    return ExactIndex()


def faiss_index():  # type: ignore[no-untyped-def]
    from retrieval_table import FaissFlat

    return FaissFlat()


def milvus_index(uri: str | None):  # type: ignore[no-untyped-def]
    from harness.compute.retrieval.milvus import MilvusIndex

    return MilvusIndex(uri or f"{tempfile.mkdtemp()}/bench.db")


def server_cpu_s(pid: int | None) -> float:
    """CPU seconds a process and its children have used so far (Linux /proc), 0 without one."""
    if pid is None:
        return 0.0
    total = 0.0
    for task in Path("/proc").glob("[0-9]*"):
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            if int(task.name) == pid or int(fields[1]) == pid:  # the server and its direct children
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            continue
    return total


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # Milvus Lite's embedded server is chatty
    args = parse_args(argv)
    backends = ["exact", "faiss"] + (["milvus"] if args.milvus else [])
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        server_pid = None
        if args.beside_server:
            from harness.compute.retrieval import milvus_server as ms

            state = ms.start(Path(tmp), tied=True)
            server_pid = state.pid
            print(f"Milvus server started ({state.start_s:.1f} s); the timings below run beside it")
        try:
            head = f"{'vectors':>11} {'backend':>8} {'wall s':>8} {'cpu s':>8} {'x faiss':>8} {'rows differing':>15}"
            print(head + ("   server cpu s" if server_pid else ""))
            seen_threads: dict[str, str] = {}
            for size in args.sizes:
                n, dim = (int(part) for part in size.split("x"))
                results = {}
                for backend in backends:
                    before = server_cpu_s(server_pid)
                    with spawn.Pool(1) as pool:  # a fresh process per timing: nothing else runs in it
                        results[backend] = pool.apply(measure, (backend, n, dim, args.k, args.milvus_uri))
                    results[backend]["server"] = server_cpu_s(server_pid) - before
                    seen_threads[backend] = results[backend]["threads"]
                faiss_s = results["faiss"]["wall"]
                for backend, r in results.items():
                    differing = int((r["ids"] != results["faiss"]["ids"]).any(axis=1).sum())
                    print(
                        f"{size:>11} {backend:>8} {r['wall']:8.2f} {r['cpu']:8.2f} {r['wall'] / faiss_s:8.2f}"
                        f" {differing:>8} of {n}" + (f" {r['server']:14.1f}" if server_pid else "")
                    )
            for backend, pools in seen_threads.items():
                print(f"threads ({backend}): {pools}")
            print(f"leave-one-out, k={args.k}, unit Gaussian vectors; load average now {os.getloadavg()[0]:.1f}")
        finally:
            if args.beside_server:
                ms.stop(Path(tmp))


if __name__ == "__main__":
    main()
