"""Milvus through ``pymilvus.MilvusClient``: an embedded Milvus Lite file by default, or any server URI.

The backend interface (also what compression code crosses with index types): ``MilvusBackend(uri, token,
index=IndexSpec)`` then ``search(gallery, queries, k) -> (ids, squared L2 distances)``, both (Q, k) float32
vectors in, int64 / float32 out; ``stats`` then holds the search's cost figures (harness.compute.retrieval.collections).
:func:`index_spec` turns an index type and a ``"key=value,..."`` string into a validated :class:`IndexSpec`
(build and search parameters, see ``INDEX_TYPES``, in harness.compute.retrieval.indexes).

The gallery goes into a collection (harness.compute.retrieval.collections): inserted, flushed, indexed (FLAT with L2
by default: exact, the same numbers as the exact backend's; HNSW / IVF_* approximate), waited for, loaded,
searched. On a server one collection serves every search of the same vectors under the same index build (a
pool); on Milvus Lite each search has its own, dropped after it. Segments under 1,024 rows are not indexed by
Milvus and are searched by brute force: exact, so FLAT is unaffected and a tiny ANN collection reads as recall 1.

Under FLAT, ties are broken by gallery index, as in the exact backend (approximate indexes are exempt): hits
are re-sorted by (distance, id), and a query whose k-th distance ties with the next hit is searched again,
deeper, until the tie is resolved, so which of several equidistant items make the cut
does not depend on Milvus's internal order.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from harness.compute.retrieval.collections import POOL, Collection, SearchStats
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

__all__ = ["INDEX_TYPES", "MAX_TOPK", "IndexSpec", "MilvusBackend", "index_spec", "is_lite"]

log = logging.getLogger(__name__)


class MilvusBackend:
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

    def search(self, gallery: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (ids, squared L2 distances), each (Q, k), ranked by distance then gallery index."""
        k = min(k, len(gallery))
        if k > MAX_TOPK:
            raise HarnessError(f"Milvus returns at most {MAX_TOPK} neighbours per query; {k} were needed")
        lite = is_lite(self.uri)
        if lite:
            expected = LITE_SECONDS_PER_ELEMENT * len(queries) * len(gallery) * gallery.shape[1]
            if expected > LITE_WARN_SECONDS:
                log.warning(
                    "Milvus Lite searches in pure Python: %d queries over %d x %d-d vectors will take about %.0f min"
                    " here; for large evaluations use a Milvus server (--milvus-uri http://HOST:19530)"
                    " or --backend exact",
                    len(queries), len(gallery), gallery.shape[1], expected / 60,
                )  # fmt: skip
            collection, reused = Collection(self.uri, self.token, self.timeout_s, self.index), False
            collection.build(gallery)
        else:
            collection, reused = POOL.acquire(
                self.uri, self.token, self.timeout_s, self.index, gallery, self.index_files
            )
        try:
            ids, dists, search_s = collection.search(queries, k, self.index.search)
            latencies = collection.latencies_ms(queries, k, self.index.search)
        except BaseException:
            POOL.discard(collection)  # a failed collection is never reused
            raise
        finally:
            if lite:
                collection.drop()
        assert collection.built is not None
        self.stats = SearchStats(collection.built, reused, search_s, len(queries), latencies)
        return ids, dists
