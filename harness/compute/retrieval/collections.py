"""One Milvus collection per gallery: built once, searched with any query-time parameters, dropped.

Built (timed as a whole, like ann-benchmarks' ``fit``): created, inserted in bounded batches (columnar on a
server, row dicts on Milvus Lite), flushed (sealed: nothing is left to a growing segment's interim index),
indexed, waited for until every row is in the index, loaded. Searched: batched queries sized for the endpoint,
results streamed into preallocated arrays, then a sample of single-query requests for per-query latency.

On a server the collections are pooled (:data:`POOL`): cells that search the same vectors (the same bytes: one
embedding-cache entry after its head and normalisation) under the same index build share one collection,
inserted once, whatever their search parameters (HNSW's ``ef``, IVF's ``nprobe``). The pool keeps the last
:data:`POOL_SIZE` collections; an evicted one is dropped, a failed one at once (whatever failed), the rest when
the process exits (:func:`release`). Milvus Lite files belong to one cell: never pooled, dropped after use.

Index size: Milvus 2.3.5 reports none (``describe_index`` has no size, loaded segments report ``mem_size`` 0), so
on the workdir's own server it is measured from the index files it wrote for this collection's segments
(``index_files``): each is a binlog whose payload is the index bytes in one zstd-compressed Parquet column, and
the size counted is that payload uncompressed (:func:`index_file_bytes`), the index as the server loads it (the
files themselves are smaller: HNSW over float32 embeddings compresses by ~7%). Elsewhere (another server,
Milvus Lite, segments under 1,024 rows that Milvus does not index) it is the index type's stated estimate
(``IndexType.size``); ``milvus_index_bytes_estimated`` says which.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import time
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.compute.retrieval.indexes import INDEX_TYPES, MAX_TOPK, IndexSpec, is_lite
from harness.core.errors import HarnessError

log = logging.getLogger(__name__)

INSERT_BATCH = 10_000  # rows per Milvus Lite insert (row dicts)
#: Milvus Lite brute-forces with numpy broadcasting (queries x vectors x dim floats): bound that product.
SEARCH_BYTES = 256 * 2**20
#: a server request: at most this many vector bytes, and this many hits back (its gRPC limit is 64 MiB)
SERVER_QUERY_BYTES = 32 * 2**20
SERVER_HITS = 1_000_000
INDEX_WAIT_S = 600.0
#: single-query requests timed after the batched search, for the per-query latency percentiles
LATENCY_QUERIES = 100
#: collections a process keeps on a server for reuse
POOL_SIZE = 1
#: a collection is dropped with this timeout after a failure (the server may be gone)
DROP_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Build:
    """What building a collection cost: its time and the index's size (measured, or the type's estimate)."""

    build_s: float
    index_bytes: int
    index_bytes_estimated: bool


@dataclass(frozen=True)
class SearchStats:
    """One search of a collection, for the cost ledger (harness.spec.metrics's ``milvus_*`` metrics)."""

    build: Build
    reused: bool
    search_s: float
    n_queries: int
    latencies_ms: np.ndarray

    def metrics(self) -> dict[str, float]:
        return {
            "milvus_build_s": self.build.build_s,
            "milvus_index_bytes": float(self.build.index_bytes),
            "milvus_index_bytes_estimated": float(self.build.index_bytes_estimated),
            "milvus_index_reused": float(self.reused),
            "milvus_search_s": self.search_s,
            "milvus_qps": self.n_queries / self.search_s if self.search_s > 0 else float("inf"),
            "milvus_latency_p50_ms": float(np.percentile(self.latencies_ms, 50)),
            "milvus_latency_p99_ms": float(np.percentile(self.latencies_ms, 99)),
        }


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


@contextmanager
def _quiet_pymilvus() -> Iterator[None]:
    """pymilvus logs each failed call with its traceback; the harness reports the failure itself, once."""
    logger = logging.getLogger("pymilvus")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextmanager
def milvus_errors(uri: str, doing: str) -> Iterator[None]:
    """Any client or gRPC failure as one HarnessError naming the URI (and what was being done)."""
    from pymilvus import MilvusException

    try:
        with _quiet_pymilvus():
            yield
    except HarnessError:
        raise
    except MilvusException as exc:
        raise HarnessError(f"Milvus at '{uri}' failed: {_one_line(exc.message)} (while {doing})") from exc
    except Exception as exc:  # grpc and OS errors that pymilvus lets through
        raise HarnessError(
            f"Milvus at '{uri}' failed: {type(exc).__name__}: {_one_line(str(exc))} (while {doing})"
        ) from exc


def connect(uri: str, token: str, timeout_s: float):  # type: ignore[no-untyped-def]
    from pymilvus import MilvusClient, MilvusException

    if is_lite(uri):
        Path(uri).expanduser().parent.mkdir(parents=True, exist_ok=True)
    try:
        with _quiet_pymilvus():
            return MilvusClient(uri=uri, token=token, timeout=timeout_s)
    except MilvusException as exc:
        raise HarnessError(f"cannot reach Milvus at '{uri}': {_one_line(exc.message)}") from exc
    except Exception as exc:  # pymilvus raises plain gRPC/OS errors for some bad URIs
        raise HarnessError(f"cannot reach Milvus at '{uri}': {_one_line(str(exc))}") from exc


def digest(vectors: np.ndarray) -> str:
    """The gallery's identity for the pool: its shape and bytes (float32, C order)."""
    data = np.ascontiguousarray(vectors, dtype=np.float32)
    h = hashlib.blake2b(repr(data.shape).encode(), digest_size=16)
    h.update(data.data)
    return h.hexdigest()


class Collection:
    """A gallery in Milvus under one index build; ``build()`` once, ``search()`` any number of times, ``drop()``."""

    def __init__(
        self, uri: str, token: str, timeout_s: float, index: IndexSpec, index_files: Path | None = None
    ) -> None:
        self.uri, self.token, self.timeout_s, self.index = uri, token, timeout_s, index
        self.index_files = index_files
        self.name = f"ecombench_{uuid.uuid4().hex}"
        self.n = self.dim = 0
        self.built: Build | None = None
        self._client: Any = None

    # -- build ---------------------------------------------------------------------------------------------
    def build(self, gallery: np.ndarray) -> Build:
        """Insert, flush, index, wait, load: the collection is ready to search; dropped again if any step fails."""
        from pymilvus import DataType

        vectors = np.ascontiguousarray(gallery, dtype=np.float32)
        self.n, self.dim = vectors.shape
        if self.index.type == "IVF_PQ" and self.dim % self.index.build["m"]:
            raise HarnessError(f"IVF_PQ's m={self.index.build['m']} must divide the embedding dimension {self.dim}")
        self._client = connect(self.uri, self.token, self.timeout_s)
        client = self._client
        started = time.perf_counter()
        try:
            with milvus_errors(self.uri, "creating the collection"):
                schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
                schema.add_field("id", DataType.INT64, is_primary=True)
                schema.add_field("vec", DataType.FLOAT_VECTOR, dim=self.dim)
                client.create_collection(self.name, schema=schema)
            with milvus_errors(self.uri, "inserting"):
                self._insert(vectors)
                client.flush(self.name)
            with milvus_errors(self.uri, f"building the {self.index.type} index"):
                params = client.prepare_index_params()
                params.add_index(
                    field_name="vec", index_type=self.index.type, metric_type="L2", params=self.index.build
                )
                client.create_index(self.name, params)
                self._wait_indexed()
            with milvus_errors(self.uri, "loading the collection"):
                client.load_collection(self.name)
            build_s = time.perf_counter() - started
            with milvus_errors(self.uri, "measuring the index"):
                measured = self._index_file_bytes()
        except BaseException:
            self.drop(timeout_s=DROP_TIMEOUT_S)
            raise
        estimated = INDEX_TYPES[self.index.type].size(self.n, self.dim, self.index.build)
        self.built = Build(build_s, measured or estimated, not measured)
        return self.built

    def _insert(self, vectors: np.ndarray) -> None:
        """Bounded batches: columns (ids, one float32 array) on a server, row dicts on Milvus Lite."""
        if is_lite(self.uri):
            for start in range(0, len(vectors), INSERT_BATCH):
                rows = vectors[start : start + INSERT_BATCH]
                self._client.insert(self.name, [{"id": start + i, "vec": row} for i, row in enumerate(rows)])
            return
        from pymilvus import Collection as OrmCollection
        from pymilvus import connections

        alias = f"ecombench-{uuid.uuid4().hex[:8]}"
        batch = max(1, SERVER_QUERY_BYTES // (vectors.shape[1] * 4))
        with warnings.catch_warnings():  # pymilvus 3 marks the ORM (the only columnar insert) deprecated
            warnings.simplefilter("ignore")
            connections.connect(alias, uri=self.uri, token=self.token, timeout=self.timeout_s)
            try:
                orm = OrmCollection(self.name, using=alias)
                for start in range(0, len(vectors), batch):
                    rows = vectors[start : start + batch]
                    orm.insert([np.arange(start, start + len(rows)), rows])
            finally:
                connections.disconnect(alias)

    def _wait_indexed(self) -> None:
        """Until every row is in the index (a load before that would search part of the data raw)."""
        if is_lite(self.uri):
            return
        deadline = time.monotonic() + INDEX_WAIT_S
        while True:
            info = self._client.describe_index(self.name, "vec")
            if "state" not in info:  # a server that does not report build progress (the milvus-lite server)
                return
            if info.get("state") == "Failed":
                raise HarnessError(
                    f"Milvus failed to build the {self.index.type} index: {info.get('index_state_fail_reason')}"
                )
            if info.get("state") == "Finished" and int(info.get("indexed_rows", 0)) >= min(
                self.n, int(info.get("total_rows", self.n))
            ):
                return
            if time.monotonic() > deadline:
                raise HarnessError(f"Milvus did not finish the {self.index.type} index within {INDEX_WAIT_S:.0f} s")
            time.sleep(0.5)

    def _index_file_bytes(self) -> int:
        """Index bytes in the files Milvus wrote for this collection's segments (0: not measurable here, or some
        segment has none)."""
        if self.index_files is None or not self.index_files.is_dir():
            return 0
        total = 0
        for segment in self._client.list_persistent_segments(self.name):
            # <index_files>/<build id>/<version>/<partition id>/<segment id>/<files>
            files = [
                p for p in self.index_files.glob(f"*/*/{segment.partition_id}/{segment.segment_id}/*") if p.is_file()
            ]
            if not files:  # a segment without index files (FLAT, or under 1,024 rows): the size is not all measured
                return 0
            total += sum(index_file_bytes(p) for p in files)
        return total

    # -- search --------------------------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int, search: dict[str, int]) -> tuple[np.ndarray, np.ndarray, float]:
        """(ids, squared L2 distances, seconds) of the k nearest per query, ranked by (distance, id)."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if is_lite(self.uri):
            batch = max(1, min(MAX_TOPK, SEARCH_BYTES // max(1, self.n * queries.shape[1] * 4)))
        else:  # a server computes in its own memory: bound the request and the reply instead
            limit = min(k + 1, self.n, MAX_TOPK)
            batch = max(1, min(MAX_TOPK, SERVER_QUERY_BYTES // (queries.shape[1] * 4), SERVER_HITS // limit))
        ids = np.empty((len(queries), k), dtype=np.int64)
        dists = np.empty((len(queries), k), dtype=np.float32)
        started = time.perf_counter()
        with milvus_errors(self.uri, "searching"):
            for start in range(0, len(queries), batch):
                rows = queries[start : start + batch]
                for offset, hits in enumerate(self._hits(rows, min(k + 1, self.n, MAX_TOPK), search)):
                    if self.index.exact and len(hits) > k and hits[k - 1][0] == hits[k][0]:
                        hits = self._past_the_tie(rows[offset], k, search)
                    if len(hits) < k:
                        raise HarnessError(f"Milvus returned {len(hits)} neighbours for a query, expected {k}")
                    dists[start + offset], ids[start + offset] = zip(*hits[:k], strict=True)
        return ids, dists, time.perf_counter() - started

    def latencies_ms(self, queries: np.ndarray, k: int, search: dict[str, int]) -> np.ndarray:
        """Per-query latency: up to LATENCY_QUERIES queries (evenly spread), one request each, timed."""
        picks = np.unique(np.linspace(0, len(queries) - 1, min(LATENCY_QUERIES, len(queries))).astype(int))
        rows = np.ascontiguousarray(queries[picks], dtype=np.float32)
        out = np.empty(len(rows))
        with milvus_errors(self.uri, "timing single queries"):
            for i, row in enumerate(rows):
                started = time.perf_counter()
                self._hits(row[None, :], min(k, self.n, MAX_TOPK), search)
                out[i] = 1000.0 * (time.perf_counter() - started)
        return out

    def _hits(self, rows: np.ndarray, limit: int, search: dict[str, int]) -> list[list[tuple[float, int]]]:
        """Search; each query's hits as (distance, id) sorted by distance, then id."""
        params = dict(search)
        if "ef" in params:  # Milvus refuses ef < limit: the search list is at least as long as the answer
            params["ef"] = max(params["ef"], limit)
        results = self._client.search(
            self.name,
            data=list(rows),
            limit=limit,
            anns_field="vec",
            search_params={"metric_type": "L2", "params": params},
            output_fields=["id"],
        )
        return [sorted((float(h["distance"]), int(h["id"])) for h in result) for result in results]

    def _past_the_tie(self, row: np.ndarray, k: int, search: dict[str, int]) -> list[tuple[float, int]]:
        """Search one query deeper until the distance after its k-th hit differs (or nothing is left)."""
        limit = min(k + 1, self.n, MAX_TOPK)
        while True:
            limit = min(2 * limit, self.n, MAX_TOPK)
            [hits] = self._hits(row[None, :], limit, search)
            if limit in (self.n, MAX_TOPK) or hits[k - 1][0] != hits[-1][0]:
                return hits

    # -- drop ----------------------------------------------------------------------------------------------
    def drop(self, timeout_s: float | None = None) -> None:
        """Drop the collection and close the client; a failure is logged (one line), never raised."""
        client, self._client = self._client, None
        if client is None:
            return
        with _quiet_pymilvus():
            try:
                client.drop_collection(self.name, timeout=timeout_s or self.timeout_s)
            except Exception as exc:  # never mask the error that got us here; say what was left behind
                log.warning("could not drop Milvus collection %s at %s: %s", self.name, self.uri, _one_line(str(exc)))
            finally:
                with contextlib.suppress(Exception):  # a client of a dead server: nothing left to close
                    client.close()

    def close(self) -> None:
        """Close the client, leaving the collection (its server is going away)."""
        client, self._client = self._client, None
        if client is not None:
            with _quiet_pymilvus(), contextlib.suppress(Exception):
                client.close()

    def serving(self) -> bool:
        """Still on the server and loaded (a restarted server has wiped it; a stopped one does not answer)."""
        if self._client is None:
            return False
        try:
            with _quiet_pymilvus():
                return "Loaded" in str(self._client.get_load_state(self.name, timeout=DROP_TIMEOUT_S)["state"])
        except Exception:
            return False


def index_file_bytes(path: Path) -> int:
    """The index bytes one Milvus index file holds: its Parquet payload's uncompressed size, read from the
    Parquet footer at the file's end (the binlog header before the payload is skipped), or the file's own size
    where it holds no Parquet payload (another Milvus version's layout)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    size = path.stat().st_size
    with open(path, "rb") as f:
        if b"PAR1" not in f.read(4096) or size < 12:  # the payload starts right after the binlog's small header
            return size
        f.seek(-8, 2)
        tail = f.read(8)  # footer length (4 bytes, little-endian), then the magic again
        length = int.from_bytes(tail[:4], "little")
        if tail[4:] != b"PAR1" or length > size - 12:
            return size
        f.seek(-8 - length, 2)
        footer = f.read(length)
    try:
        meta = pq.read_metadata(pa.BufferReader(b"PAR1" + footer + tail))
    except (pa.ArrowException, OSError):
        return size
    return sum(
        meta.row_group(g).column(c).total_uncompressed_size
        for g in range(meta.num_row_groups)
        for c in range(meta.num_columns)
    )


class Pool:
    """The server collections kept for reuse, by (URI, gallery digest, index type and build parameters)."""

    def __init__(self, size: int = POOL_SIZE) -> None:
        self.size = size
        self._open: OrderedDict[tuple[object, ...], Collection] = OrderedDict()
        #: collections built so far in this process (tests count them)
        self.builds = 0

    @staticmethod
    def key(uri: str, gallery: np.ndarray, index: IndexSpec) -> tuple[object, ...]:
        return uri, digest(gallery), index.type, tuple(sorted(index.build.items()))

    def acquire(
        self, uri: str, token: str, timeout_s: float, index: IndexSpec, gallery: np.ndarray, index_files: Path | None
    ) -> tuple[Collection, bool]:
        """The pooled collection of this gallery and index build (True), or a new one built now (False)."""
        key = self.key(uri, gallery, index)
        found = self._open.get(key)
        if found is not None and found.serving():
            self._open.move_to_end(key)
            return found, True
        if found is not None:  # its server was stopped or restarted meanwhile: built again
            self._open.pop(key)
            found.close()
        while len(self._open) >= self.size:  # evict before building: the server holds at most `size` of ours
            _, old = self._open.popitem(last=False)
            old.drop()
        collection = Collection(uri, token, timeout_s, index, index_files)
        collection.build(gallery)
        self.builds += 1
        self._open[key] = collection
        return collection, False

    def discard(self, collection: Collection) -> None:
        """Forget and drop a collection (after a failure: it is never reused)."""
        for key, held in list(self._open.items()):
            if held is collection:
                del self._open[key]
        collection.drop(timeout_s=DROP_TIMEOUT_S)

    def forget(self, uri: str) -> None:
        """Forget the collections of a server that is being stopped (its data goes with it): nothing to drop."""
        for key, held in list(self._open.items()):
            if held.uri == uri:
                del self._open[key]
                held.close()

    def names(self) -> list[str]:
        return [c.name for c in self._open.values()]

    def release(self) -> None:
        """Drop every pooled collection (at exit, and when a caller is done with the server)."""
        while self._open:
            _, collection = self._open.popitem(last=False)
            collection.drop(timeout_s=DROP_TIMEOUT_S)


POOL = Pool()


def release() -> None:
    POOL.release()


atexit.register(release)
