"""Milvus through ``pymilvus.MilvusClient``: an embedded Milvus Lite file by default, or any server URI.

Each search builds a throw-away collection: columnar batches in, flush (seal), an explicit FLAT index with
the L2 metric (exact search, so the numbers are the same as the exact backend's), load, batched queries,
and the collection dropped again whatever happens.
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

        if k > MAX_TOPK:
            raise HarnessError(f"Milvus returns at most {MAX_TOPK} neighbours per query; {k} were needed")
        k = min(k, len(gallery))
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
            finally:
                client.close()

    def _query(self, client, name: str, queries: np.ndarray, k: int, n: int) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
        batch = max(1, min(MAX_TOPK, SEARCH_BYTES // max(1, n * queries.shape[1] * 4)))
        ids = np.empty((len(queries), k), dtype=np.int64)
        dists = np.empty((len(queries), k), dtype=np.float32)
        for start in range(0, len(queries), batch):
            hits = client.search(
                name,
                data=list(queries[start : start + batch]),
                limit=k,
                anns_field="vec",
                search_params={"metric_type": "L2"},
                output_fields=["id"],
            )
            for row, result in enumerate(hits, start=start):
                pairs = sorted((float(h["distance"]), int(h["id"])) for h in result)
                if len(pairs) != k:
                    raise HarnessError(f"Milvus returned {len(pairs)} neighbours for a query, expected {k}")
                dists[row], ids[row] = zip(*pairs, strict=True)
        return ids, dists
