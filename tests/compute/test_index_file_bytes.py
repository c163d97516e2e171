"""The measured Milvus index size: a Milvus 2.3 index file is a binlog (a small header, then the index bytes as
one zstd-compressed Parquet binary column); the size counted is that payload uncompressed, as the server loads
it. Files are built here with pyarrow in that layout; the real server's are measured in test_milvus_server."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from harness.compute.retrieval.collections import index_file_bytes


def binlog(path: Path, payload: bytes, header: bytes = b"\xbc\xfa\xff\x00" + bytes(178)) -> int:
    """Write ``header`` + a zstd Parquet file of one binary value; returns the payload column's uncompressed size."""
    buffer = io.BytesIO()
    pq.write_table(pa.table({"index": pa.array([payload], pa.binary())}), buffer, compression="zstd")
    path.write_bytes(header + buffer.getvalue())
    return int(pq.ParquetFile(io.BytesIO(buffer.getvalue())).metadata.row_group(0).column(0).total_uncompressed_size)


def test_an_index_file_counts_its_payload_uncompressed(tmp_path: Path) -> None:
    # float32 unit vectors compress a little (their sign/exponent bytes repeat), as HNSW files do
    x = np.random.default_rng(0).standard_normal((2000, 64)).astype(np.float32)
    vectors = (x / np.linalg.norm(x, axis=1, keepdims=True)).tobytes()
    expected = binlog(tmp_path / "HNSW_0", vectors)
    measured = index_file_bytes(tmp_path / "HNSW_0")
    assert measured == expected
    assert len(vectors) <= measured < len(vectors) + 1024  # the bytes plus page headers
    assert (tmp_path / "HNSW_0").stat().st_size < len(vectors)  # the file alone would read smaller than the data


def test_a_file_without_a_parquet_payload_counts_its_own_size(tmp_path: Path) -> None:
    (tmp_path / "raw").write_bytes(b"\x00" * 5000)
    assert index_file_bytes(tmp_path / "raw") == 5000
    (tmp_path / "cut").write_bytes(b"PAR1" + b"\x01" * 100)  # the magic, but no footer
    assert index_file_bytes(tmp_path / "cut") == 104
