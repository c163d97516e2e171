"""The real Milvus server against the exact backend, on the same vectors, in one run: leave-one-out wall time,
its ratio to exact, and recall@10 against the exact neighbours, for FLAT and the ANN indexes.

    uv run --extra milvus-server python benchmarks/milvus_server.py --n 10000 --dim 768

The server is started in a scratch workdir (its start time is printed) and stopped at the end.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from harness.retrieval import leave_one_out
from harness.retrieval import milvus_server as ms
from harness.retrieval.exact import ExactBackend
from harness.retrieval.milvus import MilvusBackend, index_spec

INDEXES = (("FLAT", ""), ("HNSW", "M=16,efConstruction=200,ef=64"), ("IVF_SQ8", "nlist=128,nprobe=16"))


def vectors(n: int, dim: int, seed: int) -> np.ndarray:
    """Clustered unit vectors (100 clusters), like embeddings of a labelled catalogue."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((100, dim)).astype(np.float32)
    x = centres[rng.integers(0, 100, n)] + 0.7 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    x = vectors(args.n, args.dim, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        state = ms.start(Path(tmp), tied=True)
        print(f"server start: {state.start_s:.1f} s ({state.uri})")
        try:
            started = time.perf_counter()
            exact = leave_one_out(ExactBackend(), x, args.k)
            exact_s = time.perf_counter() - started
            print(f"{'backend':<22} {'wall s':>8} {'x exact':>8} {'recall@' + str(args.k):>10}")
            print(f"{'exact':<22} {exact_s:8.1f} {1.0:8.2f} {1.0:10.4f}")
            for index, params in INDEXES:
                backend = MilvusBackend(state.uri, token=state.token, index=index_spec(index, params))
                started = time.perf_counter()
                ids = leave_one_out(backend, x, args.k)
                wall = time.perf_counter() - started
                recall = (ids[:, :, None] == exact[:, None, :]).any(axis=2).mean()
                print(f"{'server ' + index:<22} {wall:8.1f} {wall / exact_s:8.2f} {recall:10.4f}")
        finally:
            ms.stop(Path(tmp))
    print(f"{args.n} x {args.dim}, leave-one-out, k={args.k}; HNSW {INDEXES[1][1]}; IVF_SQ8 {INDEXES[2][1]}")


if __name__ == "__main__":
    main()
