"""Milvus through ``pymilvus.MilvusClient``: an embedded Milvus Lite file by default, or any server URI.

The backend interface (also what compression code crosses with index types): ``MilvusBackend(uri, token,
index=IndexSpec)`` then ``search(gallery, queries, k) -> (ids, squared L2 distances)``, both (Q, k) float32
vectors in, int64 / float32 out. :func:`index_spec` turns an index type and a ``"key=value,..."`` string
into a validated :class:`IndexSpec` (build and search parameters, see ``INDEX_TYPES``).

Each search builds a throw-away collection: vectors inserted in bounded batches (columnar on a server, row
dicts on Milvus Lite), flush (seal), the index (FLAT with L2 by default: exact, the same numbers as the exact
backend's; HNSW / IVF_* approximate), waited for until every row is indexed, load, batched queries, and the
collection dropped again whatever happens. Segments under 1,024 rows are not indexed by Milvus and are
searched by brute force: exact, so FLAT is unaffected and a tiny ANN collection reads as recall 1.

Under FLAT, ties are broken by gallery index, as in the exact backend (approximate indexes are exempt): hits
are re-sorted by (distance, id), and a query whose k-th distance ties with the next hit is searched again,
deeper, until the tie is resolved, so which of several equidistant items make the cut
does not depend on Milvus's internal order.
"""

from __future__ import annotations

import logging
import time
import uuid
import warnings
from dataclasses import dataclass, field
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


#: a server request: at most this many query bytes, and this many hits back (its gRPC limit is 64 MiB)
SERVER_QUERY_BYTES = 32 * 2**20
SERVER_HITS = 1_000_000
INDEX_WAIT_S = 600.0


@dataclass(frozen=True)
class IndexType:
    """A Milvus index type: its build and search parameters as name -> (default, lowest, highest)."""

    build: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    search: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        return not self.build and not self.search


_NLIST, _NPROBE = {"nlist": (128, 1, 65_536)}, {"nprobe": (16, 1, 65_536)}
INDEX_TYPES: dict[str, IndexType] = {
    "FLAT": IndexType(),
    "HNSW": IndexType({"M": (16, 2, 2048), "efConstruction": (200, 1, 2**31 - 1)}, {"ef": (64, 1, 32_768)}),
    "IVF_FLAT": IndexType(dict(_NLIST), dict(_NPROBE)),
    "IVF_SQ8": IndexType(dict(_NLIST), dict(_NPROBE)),
    "IVF_PQ": IndexType({**_NLIST, "m": (8, 1, 65_536), "nbits": (8, 1, 16)}, dict(_NPROBE)),
}


@dataclass(frozen=True)
class IndexSpec:
    """A validated index: its type, build parameters and search parameters (every default filled in)."""

    type: str = "FLAT"
    build: dict[str, int] = field(default_factory=dict)
    search: dict[str, int] = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        return INDEX_TYPES[self.type].exact


def index_spec(index: str, params: str = "") -> IndexSpec:
    """Validate ``index`` (an INDEX_TYPES name) and ``params`` (``"M=16,ef=64"``); one HarnessError if bad."""
    name = index.upper()
    if name not in INDEX_TYPES:
        raise HarnessError(f"unknown Milvus index '{index}' (known: {', '.join(INDEX_TYPES)})")
    kind = INDEX_TYPES[name]
    schema = {**kind.build, **kind.search}
    given: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in params.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in schema:
            known = ", ".join(schema) or "none"
            raise HarnessError(f"index parameter '{item}' is not one of {name}'s (known: {known}; form key=value)")
        _, low, high = schema[key]
        try:
            number = int(value.strip())
        except ValueError:
            raise HarnessError(f"index parameter {key} of {name} must be an integer, got '{value.strip()}'") from None
        if not low <= number <= high:
            raise HarnessError(f"index parameter {key}={number} of {name} must be between {low} and {high}")
        given[key] = number
    pick = lambda part: {k: given.get(k, d) for k, (d, _, _) in part.items()}  # noqa: E731
    return IndexSpec(name, pick(kind.build), pick(kind.search))


def is_lite(uri: str) -> bool:
    return not uri.startswith(("http://", "https://", "tcp://", "grpc://", "unix:"))


class MilvusBackend:
    name = "milvus"

    def __init__(self, uri: str, timeout_s: float = 30.0, token: str = "", index: IndexSpec | None = None) -> None:
        self.uri, self.timeout_s, self.token = uri, timeout_s, token
        self.index = index or IndexSpec()

    def _client(self):  # type: ignore[no-untyped-def]
        from pymilvus import MilvusClient, MilvusException

        if is_lite(self.uri):
            Path(self.uri).expanduser().parent.mkdir(parents=True, exist_ok=True)
        try:
            return MilvusClient(uri=self.uri, token=self.token, timeout=self.timeout_s)
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
            self._insert(client, name, vectors)
            client.flush(name)  # sealed before indexing: nothing is left to a growing segment's interim index
            if self.index.type == "IVF_PQ" and dim % self.index.build["m"]:
                raise HarnessError(f"IVF_PQ's m={self.index.build['m']} must divide the embedding dimension {dim}")
            index = client.prepare_index_params()
            index.add_index(field_name="vec", index_type=self.index.type, metric_type="L2", params=self.index.build)
            client.create_index(name, index)
            self._wait_indexed(client, name, len(vectors))
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

    def _insert(self, client, name: str, vectors: np.ndarray) -> None:  # type: ignore[no-untyped-def]
        """Insert in bounded batches: columns (ids, one float32 array) on a server, row dicts on Milvus Lite."""
        if is_lite(self.uri):
            for start in range(0, len(vectors), INSERT_BATCH):
                rows = vectors[start : start + INSERT_BATCH]
                client.insert(name, [{"id": start + i, "vec": row} for i, row in enumerate(rows)])
            return
        from pymilvus import Collection, connections

        alias = f"ecombench-{uuid.uuid4().hex[:8]}"
        batch = max(1, SERVER_QUERY_BYTES // (vectors.shape[1] * 4))
        with warnings.catch_warnings():  # pymilvus 3 marks the ORM (the only columnar insert) deprecated
            warnings.simplefilter("ignore")
            connections.connect(alias, uri=self.uri, token=self.token, timeout=self.timeout_s)
            try:
                collection = Collection(name, using=alias)
                for start in range(0, len(vectors), batch):
                    rows = vectors[start : start + batch]
                    collection.insert([np.arange(start, start + len(rows)), rows])
            finally:
                connections.disconnect(alias)

    def _wait_indexed(self, client, name: str, n: int) -> None:  # type: ignore[no-untyped-def]
        """Until every row is in the index (a load before that would search part of the data raw)."""
        if is_lite(self.uri):
            return
        deadline = time.monotonic() + INDEX_WAIT_S
        while True:
            info = client.describe_index(name, "vec")
            if "state" not in info:  # a server that does not report build progress (the milvus-lite server)
                return
            if info.get("state") == "Failed":
                raise HarnessError(
                    f"Milvus failed to build the {self.index.type} index: {info.get('index_state_fail_reason')}"
                )
            if info.get("state") == "Finished" and int(info.get("indexed_rows", 0)) >= min(
                n, int(info.get("total_rows", n))
            ):
                return
            if time.monotonic() > deadline:
                raise HarnessError(f"Milvus did not finish the {self.index.type} index within {INDEX_WAIT_S:.0f} s")
            time.sleep(0.5)

    def _query(self, client, name: str, queries: np.ndarray, k: int, n: int) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
        if is_lite(self.uri):
            batch = max(1, min(MAX_TOPK, SEARCH_BYTES // max(1, n * queries.shape[1] * 4)))
        else:  # a server computes in its own memory: bound the request and the reply instead
            limit = min(k + 1, n, MAX_TOPK)
            batch = max(1, min(MAX_TOPK, SERVER_QUERY_BYTES // (queries.shape[1] * 4), SERVER_HITS // limit))
        ids = np.empty((len(queries), k), dtype=np.int64)
        dists = np.empty((len(queries), k), dtype=np.float32)
        for start in range(0, len(queries), batch):
            rows = queries[start : start + batch]
            for offset, hits in enumerate(self._hits(client, name, rows, min(k + 1, n, MAX_TOPK))):
                if self.index.exact and len(hits) > k and hits[k - 1][0] == hits[k][0]:
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
            search_params={"metric_type": "L2", "params": self._search_params(limit)},
            output_fields=["id"],
        )
        return [sorted((float(h["distance"]), int(h["id"])) for h in result) for result in results]

    def _search_params(self, limit: int) -> dict[str, int]:
        params = dict(self.index.search)
        if "ef" in params:  # Milvus refuses ef < limit: the search list is at least as long as the answer
            params["ef"] = max(params["ef"], limit)
        return params

    def _past_the_tie(self, client, name: str, row: np.ndarray, k: int, n: int) -> list[tuple[float, int]]:  # type: ignore[no-untyped-def]
        """Search one query deeper until the distance after its k-th hit differs (or nothing is left)."""
        limit = min(k + 1, n, MAX_TOPK)
        while True:
            limit = min(2 * limit, n, MAX_TOPK)
            [hits] = self._hits(client, name, row[None, :], limit)
            if limit in (n, MAX_TOPK) or hits[k - 1][0] != hits[-1][0]:
                return hits
