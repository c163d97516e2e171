"""Milvus against the exact backend: leave-one-out search over the same vectors, timed in one run (the small
pytest-benchmark of ``nox -s bench``; the full table of every backend is benchmarks/retrieval_table.py).

    python benchmarks/retrieval_backends.py --sizes 2000x256 10000x512 --milvus-uri http://127.0.0.1:19530

Prints, per size, each backend's wall time for the whole leave-one-out search (insert, index and load
included for Milvus), the ratio Milvus / exact, and whether the neighbour lists are identical (random
float32 data can hold a few near-ties that the two backends order differently; the count is printed).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["1000x128", "4000x256"], help="NxDIM, one or more")
    parser.add_argument("--k", type=int, default=10, help="neighbours per query")
    parser.add_argument("--milvus-uri", help="a Milvus server (default: a Milvus Lite file made for the run)")
    return parser.parse_args(argv)


def timed(search, vectors: np.ndarray, k: int) -> tuple[np.ndarray, float]:  # type: ignore[no-untyped-def]
    from harness.compute.retrieval import leave_one_out

    started = time.perf_counter()
    ids = leave_one_out(search, vectors, k)
    return ids, time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # Milvus Lite's embedded server is chatty
    from harness.compute.retrieval import search_once
    from harness.compute.retrieval.exact import ExactIndex
    from harness.compute.retrieval.milvus import MilvusIndex

    args = parse_args(argv)
    warm = np.eye(4, dtype=np.float32)
    search_once(ExactIndex(), warm, warm, 2)  # torch's first call pays one-off set-up: keep it out of the timing
    print(f"{'vectors':>14} {'exact s':>9} {'milvus s':>9} {'milvus/exact':>13} {'rows differing':>15}")
    for size in args.sizes:
        n, dim = (int(part) for part in size.split("x"))
        vectors = np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        exact_ids, exact_s = timed(ExactIndex(), vectors, args.k)
        with tempfile.TemporaryDirectory() as tmp, MilvusIndex(args.milvus_uri or f"{tmp}/bench.db") as milvus:
            milvus_ids, milvus_s = timed(milvus, vectors, args.k)
        differing = int((exact_ids != milvus_ids).any(axis=1).sum())
        print(f"{size:>14} {exact_s:9.2f} {milvus_s:9.2f} {milvus_s / exact_s:12.1f}x {differing:>9} of {n}")


if __name__ == "__main__":
    main()
