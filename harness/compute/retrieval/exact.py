"""Exact nearest neighbours in process: squared L2, equal distances ranked by gallery index.

The ranking is defined on exact distances: a neighbour's distance is the squared L2 distance of the float32
vectors computed in float64 (practically exact: the differences and squares are exact, only the sum rounds),
rounded once to float32; the ranking is by that float32 distance, then by gallery index. So equal distances
(duplicates, quantised vectors) are ordered by index on every CPU, whatever the thread count or BLAS, and
the returned distances are ranked exactly as they read.

On the CPU the search is two steps:

1. Candidates: the ``k + MARGIN`` nearest by float32 distances, from faiss's brute-force search
   (``faiss.knn``, the field's reference implementation: blocked BLAS products and heaps, on every core).
   A hand-written blocked search (numpy's BLAS products into faiss's heaps) was measured beside it: as fast
   at 768 dimensions, about 1.5x slower at 128 (benchmarks/retrieval_backends.py), so faiss does this step.
2. Re-ranking: the candidates' exact distances, sorted by (distance, index). A row is accepted only when no
   item outside its candidates can rank before its k-th: the last candidate's float32 distance, less the
   float32 rounding bound ``(dim + 8) * 2**-22 * (|q| + max |g|)**2``, still exceeds the k-th exact
   distance. Rows that fail (ties or near-ties across the candidates' edge, e.g. many duplicates) are searched
   again with four times the candidates, up to the whole gallery, where the ranking is complete by
   construction. Which candidates faiss picks among ties therefore never changes the answer.

On other devices (``cuda``) torch does the search in query chunks, its distances in float32 on the device.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from harness.compute.retrieval.index import Index, not_fitted
from harness.core.errors import HarnessError

if TYPE_CHECKING:
    import torch

#: candidates searched beyond k before the exact re-ranking (more only for the rows that need them)
MARGIN = 8
#: float64 values held at once by the re-ranking (32 MiB)
_RERANK_VALUES = 1 << 22


class ExactIndex(Index):
    """Brute force over the gallery; memory bounded by blocks (CPU: faiss's, torch: ``chunk`` queries at a
    time) plus the candidates, (Q, k + MARGIN)."""

    name = "exact"

    def __init__(self, chunk: int = 1024, device: str = "cpu") -> None:
        self.chunk, self.device = chunk, device
        self._vectors: np.ndarray | None = None
        self._gallery: torch.Tensor | None = None
        self._norms: torch.Tensor | None = None

    def fit(self, gallery: np.ndarray) -> None:
        self._vectors = np.ascontiguousarray(gallery, dtype=np.float32)
        if self.device != "cpu":
            import torch

            self._gallery = torch.from_numpy(self._vectors).to(self.device)
            self._norms = (self._gallery * self._gallery).sum(1)

    def search(
        self, queries: np.ndarray, k: int, params: Mapping[str, int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        if params:
            raise HarnessError(f"the exact backend takes no search parameters (got {', '.join(params)})")
        if self._vectors is None:
            raise not_fitted(self)
        k = min(k, len(self._vectors))
        if self.device != "cpu":
            return self._search_torch(queries, k)
        q = np.ascontiguousarray(queries, dtype=np.float32)
        return exact_search(q, self._vectors, k)

    def _search_torch(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        import torch

        assert self._gallery is not None and self._norms is not None
        g, g_norms = self._gallery, self._norms
        ids, dists = [], []
        for start in range(0, len(queries), self.chunk):
            q = torch.from_numpy(np.ascontiguousarray(queries[start : start + self.chunk], dtype=np.float32))
            q = q.to(self.device)
            d = ((q * q).sum(1, keepdim=True) + g_norms[None, :] - 2.0 * q @ g.T).clamp_min_(0.0)
            chunk_ids, chunk_d = _topk_index_tiebreak(d, k)
            ids.append(chunk_ids.cpu().numpy())
            dists.append(chunk_d.cpu().numpy())
        return np.concatenate(ids).astype(np.int64), np.concatenate(dists)


def exact_search(queries: np.ndarray, gallery: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids int64, float32 squared distances), each (Q, k), of the module docstring's ranking."""
    n, dim = gallery.shape
    k = min(k, n)
    if len(queries) == 0 or k == 0:
        return np.empty((len(queries), k), np.int64), np.empty((len(queries), k), np.float32)
    g_max = float(np.sqrt(_squared_norms(gallery).max()))
    m = min(n, k + MARGIN)
    cand, approx = _candidates(queries, gallery, m)
    ids = np.empty((len(queries), k), np.int64)
    dists = np.empty((len(queries), k), np.float32)
    todo = np.arange(len(queries))
    while True:
        row_ids, row_d, kth = _rerank(queries[todo], gallery, cand, k)
        q_norm = np.sqrt(_squared_norms(queries[todo]))
        bound = (dim + 8) * 2.0**-22 * (q_norm + g_max) ** 2
        edge = np.nextafter(kth.astype(np.float32), np.float32(np.inf)).astype(np.float64)
        done = (m >= n) | (approx[:, -1].astype(np.float64) - bound > edge)
        ids[todo[done]], dists[todo[done]] = row_ids[done], row_d[done]
        todo = todo[~done]
        if len(todo) == 0:
            return ids, dists
        m = min(n, 4 * m)
        cand, approx = _candidates(queries[todo], gallery, m)


def _candidates(queries: np.ndarray, gallery: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """The m nearest by float32 squared distances: (ids, distances), each (Q, m), the farthest last."""
    import faiss

    approx, cand = faiss.knn(queries, gallery, m)
    return cand, approx


def _squared_norms(x: np.ndarray) -> np.ndarray:
    """Each row's squared norm, summed in float32 (no float64 copy of the rows: the bound has slack for its
    rounding), as float64."""
    return np.einsum("ij,ij->i", x, x).astype(np.float64)


def _rerank(
    queries: np.ndarray, gallery: np.ndarray, cand: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidates' exact ranking: (ids, float32 distances) of the first k by (distance, index), and the
    k-th's float64 distance."""
    n_q, m = cand.shape
    exact = np.empty((n_q, m))
    rows = max(1, _RERANK_VALUES // (m * gallery.shape[1]))
    for start in range(0, n_q, rows):
        diff = gallery[cand[start : start + rows]].astype(np.float64)
        diff -= queries[start : start + rows, None, :]
        exact[start : start + rows] = np.einsum("qmd,qmd->qm", diff, diff)
    rounded = exact.astype(np.float32)
    by_index = np.argsort(cand, axis=1, kind="stable")  # then stably by distance: (distance, index) order
    order = np.take_along_axis(by_index, np.argsort(np.take_along_axis(rounded, by_index, 1), 1, kind="stable"), 1)
    order = order[:, :k]
    kth = np.take_along_axis(exact, order[:, -1:], 1)[:, 0]
    return np.take_along_axis(cand, order, 1), np.take_along_axis(rounded, order, 1), kth


def _topk_index_tiebreak(d, k: int):  # type: ignore[no-untyped-def]
    """top-k smallest per row, equal distances ordered by gallery index (torch.topk alone is not stable)."""
    import torch

    values, idx = torch.topk(d, k, dim=1, largest=False, sorted=True)
    # Rows where the k-th distance is tied with an item outside the top-k: which tied item gets in is
    # decided by index too, so these (rare) rows are fully sorted with a stable sort.
    overflow = (d <= values[:, -1:]).sum(1) > k
    # Elsewhere the selected set is right; order it by (distance, index): sort by index, then stably by distance.
    idx, order = torch.sort(idx, dim=1)
    values = torch.gather(values, 1, order)
    values, order = torch.sort(values, dim=1, stable=True)
    idx = torch.gather(idx, 1, order)
    if overflow.any():
        rows = overflow.nonzero().squeeze(1)
        full_values, full_idx = torch.sort(d[rows], dim=1, stable=True)
        values[rows], idx[rows] = full_values[:, :k], full_idx[:, :k]
    return idx, values
