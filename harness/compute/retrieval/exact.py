"""Exact nearest neighbours in process: chunked matrix product + top-k, squared L2, ties broken by index."""

from __future__ import annotations

import numpy as np


class ExactBackend:
    """Brute force on the CPU (or any torch device), memory bounded by ``chunk`` queries at a time."""

    name = "exact"

    def __init__(self, chunk: int = 1024, device: str = "cpu") -> None:
        self.chunk, self.device = chunk, device

    def search(self, gallery: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (ids, squared L2 distances), each (Q, k), ranked by distance then gallery index."""
        import torch

        k = min(k, len(gallery))
        g = torch.from_numpy(np.ascontiguousarray(gallery, dtype=np.float32)).to(self.device)
        g_norms = (g * g).sum(1)
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
