"""Milvus through ``pymilvus.MilvusClient``: an embedded Milvus Lite file by default, or any server URI.

:class:`MilvusIndex` (harness.compute.retrieval.index's protocol): ``MilvusIndex(uri, token, index=IndexSpec)``,
``fit(gallery)`` builds the collection, ``search(queries, k, params)`` -> (ids, squared L2 distances), both
(Q, k) float32 vectors in, int64 / float32 out, as often as needed (``params``: HNSW's ``ef``, IVF's
``nprobe``; the spec's by default), ``close()``; ``stats`` then holds the last search's cost figures
(harness.compute.retrieval.collections). :func:`index_spec` turns an index type and a ``"key=value,..."``
string into a validated :class:`IndexSpec` (build and search parameters, see ``INDEX_TYPES``, in
harness.compute.retrieval.indexes).

The gallery goes into a collection (harness.compute.retrieval.collections): inserted, flushed, indexed (FLAT with
L2 by default: exact, the same numbers as the exact backend's; HNSW / IVF_* approximate), waited for, loaded,
searched. On a server one collection serves every search of the same vectors under the same index build (a
pool: ``close`` leaves it there); a Milvus Lite collection belongs to its index and is dropped at ``close``.
Segments under 1,024 rows are not indexed by Milvus and are searched by brute force: exact, so FLAT is
unaffected and a tiny ANN collection reads as recall 1.

Under FLAT, ties are broken by gallery index, as in the exact backend (approximate indexes are exempt): hits
are re-sorted by (distance, id), and a query whose k-th distance ties with the next hit is searched again,
deeper, until the tie is resolved, so which of several equidistant items make the cut
does not depend on Milvus's internal order.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from harness.compute.retrieval.collections import POOL, Collection, SearchStats
from harness.compute.retrieval.index import Index, not_fitted
from harness.compute.retrieval.indexes import (
    INDEX_TYPES,
    LITE_SECONDS_PER_ELEMENT,
    LITE_WARN_SECONDS,
    MAX_TOPK,
    IndexSpec,
    index_spec,
    is_lite,
)
from harness.core.errors import HarnessError

__all__ = ["INDEX_TYPES", "MAX_TOPK", "IndexSpec", "MilvusIndex", "index_spec", "is_lite"]

log = logging.getLogger(__name__)


class MilvusIndex(Index):
    name = "milvus"

    def __init__(
        self,
        uri: str,
        timeout_s: float = 30.0,
        token: str = "",
        index: IndexSpec | None = None,
        index_files: Path | None = None,
    ) -> None:
        """``index_files``: the server's index-file folder when it is this host's (its size is then measured)."""
        self.uri, self.timeout_s, self.token = uri, timeout_s, token
        self.index = index or IndexSpec()
        self.index_files = index_files
        #: the last search's cost figures (None before the first)
        self.stats: SearchStats | None = None
        self._collection: Collection | None = None
        self._reused = False

    @property
    def lite(self) -> bool:
        return is_lite(self.uri)

    def fit(self, gallery: np.ndarray) -> None:
        self.close()
        if self.lite:
            collection = Collection(self.uri, self.token, self.timeout_s, self.index)
            collection.build(gallery)
            self._collection, self._reused = collection, False
        else:
            self._collection, self._reused = POOL.acquire(
                self.uri, self.token, self.timeout_s, self.index, gallery, self.index_files
            )

    def search(
        self, queries: np.ndarray, k: int, params: Mapping[str, int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        collection = self._collection
        if collection is None:
            raise not_fitted(self)
        search = self._search_params(params)
        k = min(k, collection.n)
        if k > MAX_TOPK:
            raise HarnessError(f"Milvus returns at most {MAX_TOPK} neighbours per query; {k} were needed")
        if self.lite:
            expected = LITE_SECONDS_PER_ELEMENT * len(queries) * collection.n * collection.dim
            if expected > LITE_WARN_SECONDS:
                log.warning(
                    "Milvus Lite searches in pure Python: %d queries over %d x %d-d vectors will take about %.0f min"
                    " here; for large evaluations use a Milvus server (--milvus-uri http://HOST:19530)"
                    " or --backend exact",
                    len(queries), collection.n, collection.dim, expected / 60,
                )  # fmt: skip
        try:
            ids, dists, search_s = collection.search(queries, k, search)
            latencies = collection.latencies_ms(queries, k, search)
        except BaseException:
            self._collection = None
            POOL.discard(collection)  # a failed collection is never reused (and is dropped, Lite's too)
            raise
        assert collection.built is not None
        self.stats = SearchStats(collection.built, self._reused, search_s, len(queries), latencies)
        return ids, dists

    def _search_params(self, params: Mapping[str, int] | None) -> dict[str, int]:
        if params is None:
            return dict(self.index.search)
        unknown = sorted(set(params) - set(self.index.search))
        if unknown:
            known = ", ".join(self.index.search) or "none"
            raise HarnessError(
                f"search parameter {', '.join(unknown)} is not one of {self.index.type}'s (known: {known})"
            )
        return {**self.index.search, **params}

    def close(self) -> None:
        """Drop a Milvus Lite collection; a server's stays in the pool for the next cell over the same vectors."""
        collection, self._collection = self._collection, None
        if collection is not None and self.lite:
            collection.drop()

    def costs(self) -> dict[str, float]:
        return self.stats.metrics() if self.stats is not None else {}
