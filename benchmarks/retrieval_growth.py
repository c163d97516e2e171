"""What a retrieval cell costs as the catalogue grows: the retrieval suite's whole cell path, step by step, at
several sizes, with wall time, peak memory and database size per step and each step's fitted growth.

    nox -s bench-retrieval-growth                                   # N = 10^4, 10^5 (dim 32)
    python benchmarks/retrieval_growth.py --sizes 10000 100000 1000000 --dim 32
    python benchmarks/retrieval_growth.py --sizes 10000 --hnsw     # the Milvus server's HNSW beside exact

The catalogue: ``--per-class`` items per product (class) around a random centre, like a shop's listings (SOP
has ~5 images per product), L2-normalised. The cell path is the suite's (harness.compute.suites.retrieval),
called function by function so each step is measured on its own:

1. search: leave-one-out exact search to the suite's depth (max(10, largest class - 1)); above --exact-max
   (default 200,000: the exact search is quadratic, ~15 minutes at 10^6 on a quiet 2-core machine and far more
   on a busy one) the neighbours come from faiss's IndexIVFFlat (nlist = 4 sqrt(N), nprobe 16) instead, as
   step "search ivf", so the later steps are still measured at that size;
   with --hnsw also the Milvus server's HNSW (M=16, efConstruction=200, ef=64), insert and index included;
2. metrics: the per-query metrics and their means;
3. bootstrap: the 95% bootstrap interval of each metric (1,000 resamples);
4. side files: the per-query file and the neighbour file;
5. ingest: the cell's shard and per-query values into a real DuckDB file (a second model's cell, the same
   catalogue's first 16 dimensions, is in it already);
6. paired tests: the report's marking of each retrieval column (best vs the other model: paired sign-flip
   test on the per-query values read back from the database, Holm).

Each size runs in a fresh process. Per step: wall seconds, the peak of numpy/Python allocations (tracemalloc)
and the process's resident peak (VmHWM, reset before the step; it includes faiss's and DuckDB's own
allocations), and after ingest the database's size. Last, per step, the exponent b of time ~ N^b fitted by
least squares over the sizes (1: linear; 2: quadratic).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import multiprocessing
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

STEPS = ("search", "search ivf", "search hnsw", "metrics", "bootstrap", "side files", "ingest", "paired tests")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000], help="catalogue sizes N")
    parser.add_argument("--dim", type=int, default=32, help="embedding dimensions")
    parser.add_argument("--per-class", type=int, default=10, help="items per product (class)")
    parser.add_argument("--hnsw", action="store_true", help="also search with the Milvus server's HNSW")
    parser.add_argument(
        "--exact-max", type=int, default=200_000,
        help="above this N the neighbours come from faiss's IVF index (step 'search ivf'), not the exact search",
    )  # fmt: skip
    return parser.parse_args(argv)


def catalogue(n: int, dim: int, per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) // per_class
    centres = rng.standard_normal((labels[-1] + 1, dim)).astype(np.float32)
    x = centres[labels] + 0.8 * rng.standard_normal((n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    order = rng.permutation(n)  # a catalogue is not sorted by product
    return x[order], labels[order]


def resident_peak() -> int:
    """The process's resident peak since the last :func:`reset_peak` (bytes; Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def reset_peak() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current resident size


class Steps:
    """Runs and measures the steps of one size."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, float]] = {}

    def run(self, name: str, step: Callable[[], Any]) -> Any:
        reset_peak()
        tracemalloc.start()
        started = time.perf_counter()
        result = step()
        wall = time.perf_counter() - started
        _, traced = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        self.rows[name] = {"wall": wall, "traced": traced, "resident": resident_peak()}
        return result


def shard(run_id: str, model: str, metrics: dict[str, float], per_query: str):  # type: ignore[no-untyped-def]
    from harness.spec.cells import Cell
    from harness.storage.shards import Shard

    cell = Cell(model, "catalogue", "frozen", "retrieval", {"backend": "exact", "split": "test"})
    now = time.strftime("%Y-%m-%dT%H:%M:%S")
    return Shard(run_id, cell, "ok", now, now, metrics=metrics, details={"per_query": per_query})


def cell_metrics(scored: Any) -> dict[str, float]:
    from harness.compute.stats import bootstrap_mean

    metrics = scored.means().as_dict()
    for name, values in scored.values.items():
        interval = bootstrap_mean(values)
        metrics[f"{name}_ci_low"], metrics[f"{name}_ci_high"] = interval.low, interval.high
    return metrics


def ivf_leave_one_out(x: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Approximate leave-one-out neighbours from faiss's IndexIVFFlat (a stand-in where exact search is too slow)."""
    import faiss

    nlist = int(4 * np.sqrt(len(x)))
    index = faiss.IndexIVFFlat(faiss.IndexFlatL2(x.shape[1]), x.shape[1], nlist)
    index.train(x[np.random.default_rng(0).permutation(len(x))[: 64 * nlist]])
    index.add(x)
    index.nprobe = 16
    dists, ids = index.search(x, depth + 1)
    is_self = ids == np.arange(len(x))[:, None]
    is_self[~is_self.any(axis=1), -1] = True
    return ids[~is_self].reshape(len(x), depth), dists[~is_self].reshape(len(x), depth)


def measure(n: int, dim: int, per_class: int, hnsw: bool, exact_max: int) -> dict[str, Any]:
    """One size in this (fresh) process: the cell path's steps, measured."""
    from harness.compute.retrieval import leave_one_out_with_distances
    from harness.compute.retrieval.exact import ExactIndex
    from harness.compute.retrieval.metrics import per_query_metrics, relevant_counts
    from harness.compute.stats import bootstrap_mean
    from harness.compute.suites.retrieval import MAX_DEPTH, MIN_DEPTH
    from harness.report.significance import mark_column
    from harness.storage.sidefiles import save_neighbours, save_per_query
    from harness.storage.store import connect, ingest, paired_values

    x, labels = catalogue(n, dim, per_class)
    n_relevant = relevant_counts(labels, labels, leave_one_out=True)
    depth = int(min(max(MIN_DEPTH, n_relevant.max()), MAX_DEPTH, n - 1))
    steps = Steps()
    with tempfile.TemporaryDirectory() as tmp:
        work, db = Path(tmp), Path(tmp) / "results.duckdb"
        # the other model's cell, in the database before this one (not measured)
        small = x[:, :16] / np.linalg.norm(x[:, :16], axis=1, keepdims=True)
        search = (lambda v: leave_one_out_with_distances(ExactIndex(), v, depth)) if n <= exact_max else None
        search = search or (lambda v: ivf_leave_one_out(v, depth))
        other_ids, _ = search(small)
        other = per_query_metrics(labels[other_ids], labels, n_relevant)
        save_per_query(work, "b.npz", other.query, other.values)
        ingest(db, [shard("b", "small", cell_metrics(other), "b.npz")], work)
        del other_ids, small

        ids, dists = steps.run("search" if n <= exact_max else "search ivf", lambda: search(x))
        if hnsw:
            steps.run("search hnsw", partial(hnsw_search, x, depth, work))
        scored = steps.run("metrics", lambda: per_query_metrics(labels[ids], labels, n_relevant))
        metrics = scored.means().as_dict()

        def intervals() -> None:
            for name, values in scored.values.items():
                interval = bootstrap_mean(values)
                metrics[f"{name}_ci_low"], metrics[f"{name}_ci_high"] = interval.low, interval.high

        steps.run("bootstrap", intervals)

        def side_files() -> int:
            a = save_per_query(work, "a.npz", scored.query, scored.values)
            b = save_neighbours(work, "a.npz", ids, dists)
            return a.stat().st_size + b.stat().st_size

        side_bytes = steps.run("side files", side_files)
        steps.run("ingest", lambda: ingest(db, [shard("a", "large", metrics, "a.npz")], work))
        db_bytes = sum(f.stat().st_size for f in work.glob("results.duckdb*"))

        def paired() -> list[Any]:
            con = connect(db, read_only=True)
            try:
                marked = []
                for metric in scored.values:  # one report column per metric: best vs the other model
                    values = [Value(metrics[metric], "a"), Value(other.means().as_dict()[metric], "b")]
                    mark_column(values, metric, partial(paired_values, con))
                    marked.append(values)
                return marked
            finally:
                con.close()

        marked = steps.run("paired tests", paired)
    p_values = [v.p_value for column in marked for v in column if v.p_value is not None]
    return {"rows": steps.rows, "side": side_bytes, "db": db_bytes, "depth": depth, "p": p_values,
            "mmp": metrics["mmp_at_5"]}  # fmt: skip


class Value:
    """A report table's value, as harness.report.significance marks it."""

    def __init__(self, value: float, run_id: str) -> None:
        self.value, self.run_id = value, run_id
        self.tied: bool | None = None
        self.p_value: float | None = None


def hnsw_search(x: np.ndarray, depth: int, work: Path) -> None:
    from harness.compute.retrieval import leave_one_out
    from harness.compute.retrieval import milvus_server as ms
    from harness.compute.retrieval.milvus import MilvusIndex, index_spec

    state = ms.start(work, tied=True)
    try:
        spec = index_spec("HNSW", "M=16,efConstruction=200,ef=64")
        with MilvusIndex(state.uri, token=state.token, index=spec, index_files=ms.index_files(work)) as index:
            leave_one_out(index, x, depth)
    finally:
        ms.stop(work)


def exponent(sizes: list[int], values: list[float]) -> float:
    """b of values ~ N^b, least squares in log-log (nan with fewer than two sizes)."""
    if len(sizes) < 2 or min(values) <= 0:
        return math.nan
    return float(np.polyfit(np.log(sizes), np.log(values), 1)[0])


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    spawn = multiprocessing.get_context("spawn")
    results = {}
    print(f"{'N':>9} {'step':<13} {'wall s':>9} {'numpy MiB':>10} {'resident MiB':>13}", flush=True)
    for n in args.sizes:
        with spawn.Pool(1) as pool:  # a fresh process per size: its memory peaks are its own
            r = results[n] = pool.apply(measure, (n, args.dim, args.per_class, args.hnsw, args.exact_max))
        for step, row in r["rows"].items():
            print(f"{n:>9} {step:<13} {row['wall']:9.2f} {row['traced'] / 2**20:10.1f} {row['resident'] / 2**20:13.1f}")
        print(
            f"{n:>9} depth {r['depth']}, mMP@5 {r['mmp']:.3f}; side files {r['side'] / 2**20:.1f} MiB, database"
            f" {r['db'] / 2**20:.1f} MiB; paired p-values {', '.join(f'{p:.4f}' for p in r['p'])}",
            flush=True,
        )
    sizes = list(results)
    print(f"growth over N = {', '.join(map(str, sizes))} (time ~ N^b, memory ~ N^b):")
    for step in STEPS:
        measured = [n for n in sizes if step in results[n]["rows"]]
        if measured:
            walls = [results[n]["rows"][step]["wall"] for n in measured]
            traced = [results[n]["rows"][step]["traced"] for n in measured]
            time_b, memory_b = exponent(measured, walls), exponent(measured, traced)
            print(f"  {step:<13} time b = {time_b:5.2f}   numpy memory b = {memory_b:5.2f}   (N = {measured})")
    db = [results[n]["db"] for n in sizes]
    print(f"  {'database':<13} size b = {exponent(sizes, db):5.2f}")
    print(f"dim {args.dim}, {args.per_class} items per class; the machine's load average now: {load():.1f}")


def load() -> float:
    import os

    return os.getloadavg()[0]


if __name__ == "__main__":
    main()
