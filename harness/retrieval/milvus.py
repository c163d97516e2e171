"""Milvus through ``pymilvus.MilvusClient``: an embedded Milvus Lite file by default, or any server URI.

Each search builds a throw-away collection: vectors inserted in bulk batches, flush (seal), an explicit
FLAT index with the L2 metric (exact search, so the numbers are the same as the exact backend's), load,
batched queries, and the collection dropped again whatever happens.

Ties are broken by gallery index, as in the exact backend: hits are re-sorted by (distance, id), and a
query whose k-th distance ties with the next hit is searched again, deeper, until the tie is resolved, so
which of several equidistant items make the cut does not depend on Milvus's internal order.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import numpy as np

from harness.errors import HarnessError

log = logging.getLogger(__name__)

INSERT_BATCH = 10_000
#: Milvus Lite brute-forces with numpy broadcasting (queries x vectors x dim floats): bound that product.
SEARCH_BYTES = 256 * 2**20
MAX_TOPK = 16_384  # Milvus's limit on limit= (and on queries per request)
#: Milvus Lite 3.x search cost per (query x vector x dimension), measured on our 2-core machine
LITE_SECONDS_PER_ELEMENT = 4.5e-9
LITE_WARN_SECONDS = 60.0


def is_lite(uri: str) -> bool:
    return not uri.startswith(("http://", "https://", "tcp://", "grpc://", "unix:"))


class MilvusBackend:
    name = "milvus"

    def __init__(self, uri: str, timeout_s: float = 30.0) -> None:
        self.uri, self.timeout_s = uri, timeout_s

    def _client(self):  # type: ignore[no-untyped-def]
        from pymilvus import MilvusClient, MilvusException

        if is_lite(self.uri):
            Path(self.uri).expanduser().parent.mkdir(parents=True, exist_ok=True)
        try:
            return MilvusClient(uri=self.uri, timeout=self.timeout_s)
        except MilvusException as exc:
            raise HarnessError(f"cannot reach Milvus at '{self.uri}': {exc.message}") from exc
        except Exception as exc:  # pymilvus raises plain gRPC/OS errors for some bad URIs
            raise HarnessError(f"cannot reach Milvus at '{self.uri}': {exc}") from exc

    def search(self, gallery: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (ids, squared L2 distances), each (Q, k), ranked by distance then gallery index."""
        from pymilvus import DataType, MilvusException

        k = min(k, len(gallery))
        if k > MAX_TOPK:
            raise HarnessError(f"Milvus returns at most {MAX_TOPK} neighbours per query; {k} were needed")
        if is_lite(self.uri):
            expected = LITE_SECONDS_PER_ELEMENT * len(queries) * len(gallery) * gallery.shape[1]
            if expected > LITE_WARN_SECONDS:
                log.warning(
                    "Milvus Lite searches in pure Python: %d queries over %d x %d-d vectors will take about %.0f min"
                    " here; for large evaluations use a Milvus server (--milvus-uri http://HOST:19530)"
                    " or --backend exact",
                    len(queries), len(gallery), gallery.shape[1], expected / 60,
                )  # fmt: skip
        client = self._client()
        name = f"ecombench_{uuid.uuid4().hex}"
        dim = gallery.shape[1]
        try:
            schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("vec", DataType.FLOAT_VECTOR, dim=dim)
            client.create_collection(name, schema=schema)
            vectors = np.ascontiguousarray(gallery, dtype=np.float32)
            for start in range(0, len(vectors), INSERT_BATCH):
                rows = vectors[start : start + INSERT_BATCH]
                client.insert(name, [{"id": start + i, "vec": row} for i, row in enumerate(rows)])
            client.flush(name)
            index = client.prepare_index_params()
            index.add_index(field_name="vec", index_type="FLAT", metric_type="L2")
            client.create_index(name, index)
            client.load_collection(name)
            return self._query(client, name, np.ascontiguousarray(queries, dtype=np.float32), k, len(vectors))
        except MilvusException as exc:
            raise HarnessError(f"Milvus at '{self.uri}' failed: {exc.message}") from exc
        finally:
            try:
                client.drop_collection(name)
            except Exception as exc:  # never mask the error that got us here; say what was left behind
                log.warning("could not drop Milvus collection %s at %s: %s", name, self.uri, exc)
            client.close()

    def _query(self, client, name: str, queries: np.ndarray, k: int, n: int) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
        batch = max(1, min(MAX_TOPK, SEARCH_BYTES // max(1, n * queries.shape[1] * 4)))
        ids = np.empty((len(queries), k), dtype=np.int64)
        dists = np.empty((len(queries), k), dtype=np.float32)
        for start in range(0, len(queries), batch):
            rows = queries[start : start + batch]
            for offset, hits in enumerate(self._hits(client, name, rows, min(k + 1, n, MAX_TOPK))):
                if len(hits) > k and hits[k - 1][0] == hits[k][0]:
                    hits = self._past_the_tie(client, name, rows[offset], k, n)
                if len(hits) < k:
                    raise HarnessError(f"Milvus returned {len(hits)} neighbours for a query, expected {k}")
                dists[start + offset], ids[start + offset] = zip(*hits[:k], strict=True)
        return ids, dists

    def _hits(self, client, name: str, rows: np.ndarray, limit: int) -> list[list[tuple[float, int]]]:  # type: ignore[no-untyped-def]
        """Search; each query's hits as (distance, id) sorted by distance, then id."""
        results = client.search(
            name,
            data=list(rows),
            limit=limit,
            anns_field="vec",
            search_params={"metric_type": "L2"},
            output_fields=["id"],
        )
        return [sorted((float(h["distance"]), int(h["id"])) for h in result) for result in results]

    def _past_the_tie(self, client, name: str, row: np.ndarray, k: int, n: int) -> list[tuple[float, int]]:  # type: ignore[no-untyped-def]
        """Search one query deeper until the distance after its k-th hit differs (or nothing is left)."""
        limit = min(k + 1, n, MAX_TOPK)
        while True:
            limit = min(2 * limit, n, MAX_TOPK)
            [hits] = self._hits(client, name, row[None, :], limit)
            if limit in (n, MAX_TOPK) or hits[k - 1][0] != hits[-1][0]:
                return hits
