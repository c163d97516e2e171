"""Exact nearest neighbours in process: chunked matrix product + top-k, squared L2, ties broken by index."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from harness.compute.retrieval.index import Index, not_fitted
from harness.core.errors import HarnessError

if TYPE_CHECKING:
    import torch


class ExactIndex(Index):
    """Brute force on the CPU (or any torch device), memory bounded by ``chunk`` queries at a time; ``fit``
    moves the gallery and its squared norms to the device once."""

    name = "exact"

    def __init__(self, chunk: int = 1024, device: str = "cpu") -> None:
        self.chunk, self.device = chunk, device
        self._gallery: torch.Tensor | None = None
        self._norms: torch.Tensor | None = None

    def fit(self, gallery: np.ndarray) -> None:
        import torch

        self._gallery = torch.from_numpy(np.ascontiguousarray(gallery, dtype=np.float32)).to(self.device)
        self._norms = (self._gallery * self._gallery).sum(1)

    def search(
        self, queries: np.ndarray, k: int, params: Mapping[str, int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        import torch

        if params:
            raise HarnessError(f"the exact backend takes no search parameters (got {', '.join(params)})")
        if self._gallery is None or self._norms is None:
            raise not_fitted(self)
        g, g_norms = self._gallery, self._norms
        k = min(k, len(g))
        ids, dists = [], []
        for start in range(0, len(queries), self.chunk):
            q = torch.from_numpy(np.ascontiguousarray(queries[start : start + self.chunk], dtype=np.float32))
            q = q.to(self.device)
            d = ((q * q).sum(1, keepdim=True) + g_norms[None, :] - 2.0 * q @ g.T).clamp_min_(0.0)
            chunk_ids, chunk_d = _topk_index_tiebreak(d, k)
            ids.append(chunk_ids.cpu().numpy())
            dists.append(chunk_d.cpu().numpy())
        return np.concatenate(ids).astype(np.int64), np.concatenate(dists)


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
