"""``nox -s bench-retrieval``: every retrieval backend on the same vectors, in one run, as one table — faiss's
``IndexFlatL2`` (the reference brute force), the exact backend, Milvus Lite, and the real Milvus server with FLAT
and the ANN indexes. Per backend: leave-one-out wall time (Milvus: insert, index and load included), its ratio
to the exact backend, recall@10 against the exact neighbours, the mMP@5 difference from exact (labels: the
clusters), and for the server the cost-ledger figures of each index (build time, index size, search time, QPS,
single-query latency p50/p99).

    nox -s bench-retrieval                                  # 10,000 x 768
    nox -s bench-retrieval -- --n 60000 --dim 768           # SOP's shape (Milvus Lite left out above --lite-max)
    nox -s bench-retrieval -- --noise 3.5 --lite-max 0      # overlapping clusters: the ANN mMP@5 loss shows

The exact backend, faiss and Milvus Lite are timed first; then the server is started in a scratch workdir (its
start time is printed), searched and stopped. ``nox -s bench-retrieval`` runs benchmarks/retrieval_backends.py
(the exact backend against faiss, each alone in a fresh process) before this table.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from harness.compute.retrieval import leave_one_out, leave_one_out_with_distances
from harness.compute.retrieval import milvus_server as ms
from harness.compute.retrieval.collections import release
from harness.compute.retrieval.exact import ExactIndex
from harness.compute.retrieval.index import Index
from harness.compute.retrieval.metrics import per_query_metrics, relevant_counts
from harness.compute.retrieval.milvus import MilvusIndex, index_spec

INDEXES = (("FLAT", ""), ("HNSW", "M=16,efConstruction=200,ef=64"), ("IVF_SQ8", "nlist=128,nprobe=16"))


def vectors(n: int, dim: int, seed: int, noise: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """Clustered unit vectors (100 clusters, ``noise`` times a unit Gaussian around standard-normal centres) and
    their cluster as the label, like embeddings of a catalogue. At 768 dimensions the clusters stay separable up
    to a noise of ~2.5 (exact mMP@5 = 1); 3.5 gives 0.7-0.8, where the index's share of the error shows."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((100, dim)).astype(np.float32)
    labels = rng.integers(0, 100, n)
    x = centres[labels] + noise * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True), labels


class FaissFlat(Index):
    """faiss's exact ``IndexFlatL2`` behind the harness's index protocol (the reference the exact backend is
    measured against; its near-tie order may differ)."""

    name = "faiss"

    def fit(self, gallery: np.ndarray) -> None:
        import faiss

        self.index = faiss.IndexFlatL2(gallery.shape[1])
        self.index.add(np.ascontiguousarray(gallery, dtype=np.float32))

    def search(self, queries: np.ndarray, k: int, params: object = None) -> tuple[np.ndarray, np.ndarray]:
        dists, ids = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return ids.astype(np.int64), dists


def mmp_at_5(ids: np.ndarray, labels: np.ndarray) -> float:
    n_relevant = relevant_counts(labels, labels, leave_one_out=True)
    return float(per_query_metrics(labels[ids], labels, n_relevant).means().as_dict()["mmp_at_5"])


def agreement(ids: np.ndarray, dists: np.ndarray, exact: np.ndarray, exact_dists: np.ndarray) -> str:
    """How an exact backend's neighbours match the exact backend's: the share of identical lists, and on the
    rest the largest distance gap at the same rank (float32 rounding: near-ties, not different neighbours)."""
    differ = ~(ids == exact).all(axis=1)
    gap = float(np.abs(dists[differ] - exact_dists[differ]).max()) if differ.any() else 0.0
    return f"identical neighbour lists: {1 - differ.mean():.2%}; elsewhere distance gap <= {gap:.1e}"


def recall_at(ids: np.ndarray, exact: np.ndarray) -> float:
    """The share of the exact neighbours that ``ids`` found, over all queries."""
    return float((ids[:, :, None] == exact[:, None, :]).any(axis=2).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--lite-max", type=int, default=20_000, help="leave Milvus Lite out above this many rows")
    parser.add_argument("--noise", type=float, default=0.7, help="cluster spread (see vectors(); 3.5: mMP@5 0.7-0.8)")
    args = parser.parse_args()
    x, labels = vectors(args.n, args.dim, seed=0, noise=args.noise)
    for warm in (ExactIndex(), FaissFlat()):  # imports and first-call set-up stay out of the timings
        leave_one_out(warm, x[:64], min(args.k, 32))
    # The exact backends are timed before the Milvus server starts: a running server's threads take CPU time
    # from the search beside it (see benchmarks/retrieval_backends.py --beside-server).
    started = time.perf_counter()
    exact, exact_dists = leave_one_out_with_distances(ExactIndex(), x, args.k)
    exact_s = time.perf_counter() - started
    exact_mmp = mmp_at_5(exact, labels)
    head = ("backend", "wall s", "x exact", f"recall@{args.k}", "ΔmMP@5", "build s", "index MiB", "search s",
            "QPS", "p50 ms", "p99 ms")  # fmt: skip
    print(("{:<16}" + " {:>9}" * (len(head) - 1)).format(*head))
    print(f"{'exact':<16} {exact_s:9.1f} {1.0:9.2f} {1.0:9.4f} {0.0:9.4f}   (mMP@5 {exact_mmp:.4f})")

    def plain_row(name: str, backend: Index) -> None:
        started = time.perf_counter()
        with backend:
            ids, dists = leave_one_out_with_distances(backend, x, args.k)
        wall = time.perf_counter() - started
        print(
            f"{name:<16} {wall:9.1f} {wall / exact_s:9.2f} {recall_at(ids, exact):9.4f}"
            f" {mmp_at_5(ids, labels) - exact_mmp:9.4f}   ({agreement(ids, dists, exact, exact_dists)})"
        )

    plain_row("faiss IndexFlatL2", FaissFlat())
    with tempfile.TemporaryDirectory() as tmp:
        if args.n <= args.lite_max:
            plain_row("Milvus Lite", MilvusIndex(str(Path(tmp) / "lite.db")))
        state = ms.start(Path(tmp), tied=True)
        print(f"server start: {state.start_s:.1f} s ({state.uri})")
        try:
            for index, params in INDEXES:
                backend = MilvusIndex(
                    state.uri, token=state.token, index=index_spec(index, params), index_files=ms.index_files(Path(tmp))
                )
                started = time.perf_counter()
                ids, dists = leave_one_out_with_distances(backend, x, args.k)
                wall = time.perf_counter() - started
                recall = recall_at(ids, exact)
                assert backend.stats is not None
                m = backend.stats.metrics()
                size = f"{m['milvus_index_bytes'] / 2**20:.1f}" + ("*" if m["milvus_index_bytes_estimated"] else "")
                print(
                    f"{'server ' + index:<16} {wall:9.1f} {wall / exact_s:9.2f} {recall:9.4f}"
                    f" {mmp_at_5(ids, labels) - exact_mmp:9.4f}"
                    f" {m['milvus_build_s']:9.1f} {size:>9} {m['milvus_search_s']:9.1f} {m['milvus_qps']:9.0f}"
                    f" {m['milvus_latency_p50_ms']:9.1f} {m['milvus_latency_p99_ms']:9.1f}"
                    + (f"   ({agreement(ids, dists, exact, exact_dists)})" if backend.index.exact else "")
                )
                release()  # each index its own collection: the next one is built fresh
        finally:
            ms.stop(Path(tmp))
    shape = f"{args.n} x {args.dim}, noise {args.noise}, leave-one-out, k={args.k}"
    print(f"{shape}; HNSW {INDEXES[1][1]}; IVF_SQ8 {INDEXES[2][1]}")
    if args.n > args.lite_max:
        print(f"Milvus Lite left out: {args.n} rows > --lite-max {args.lite_max} (it brute-forces in Python)")
    print("index MiB: the index in the server's files, uncompressed; * = the index type's stated estimate")


if __name__ == "__main__":
    main()
