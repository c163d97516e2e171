"""Turn a prepare journal into the manifest: DuckDB drops corrupt images and too-small classes, numbers the
labels, draws the seeded split where the dataset has none, writes the Parquet in listing order (tmp +
os.replace) and the sidecar (digest, statistics, what was left out and why).

DuckDB works within ``MEMORY_LIMIT`` and spills to disk beyond it, so memory stays flat in the number of
images, except for the seeded stratified split: it holds one label per image in memory, to draw exactly
the split of harness.compute.datasets.splits.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from harness.compute.datasets.base import manifest_digest
from harness.compute.datasets.files import FileDataset, Notes
from harness.compute.datasets.splits import stratified_split
from harness.compute.datasets.summary import class_counts, split_stats
from harness.core.errors import HarnessError
from harness.core.io import atomic_write, fsync_path

MEMORY_LIMIT = "128MB"  # measured: 1M rows finalise in ~240 MB RSS, Python included
MISSING = "missing"  # the error field of a listed file that does not exist (where the dataset tolerates it)

# DuckDB turns the journal into the manifest. Column names: o order, k key, c class name, n class number,
# s split, r where listed, z size, h sha256, m original mode, e error.
READ_JOURNAL = """
CREATE TABLE journal AS SELECT * FROM read_json(?, format = 'newline_delimited', columns = {
    o: 'BIGINT', k: 'VARCHAR', c: 'VARCHAR', n: 'BIGINT', s: 'VARCHAR', r: 'VARCHAR', z: 'BIGINT',
    h: 'VARCHAR', m: 'VARCHAR', e: 'VARCHAR'})
"""
# plain aggregates only: DuckDB spills them to disk, not a list() over a million groups
DUPLICATE = "SELECT k FROM journal GROUP BY k HAVING count(*) > 1 ORDER BY min(o) LIMIT 1"
DROPPED = """
SELECT c, count(*) FROM journal WHERE e = '' GROUP BY n, c HAVING count(*) < ? ORDER BY n NULLS LAST, c
"""
KEPT = """
CREATE TABLE kept AS
WITH sized AS (SELECT *, count(*) OVER (PARTITION BY n, c) AS class_size FROM journal WHERE e = '')
SELECT o, k, c, s, z, h, m, (dense_rank() OVER (ORDER BY n NULLS LAST, c) - 1)::INTEGER AS label
FROM sized WHERE class_size >= ?
"""
WRITE = """
COPY (SELECT k AS path, label, c AS class_name, s AS split, z AS size, h AS sha256 FROM kept ORDER BY o)
TO ? (FORMAT parquet)
"""


def finalise(
    dataset: FileDataset, journal: Path, parquet: Path, sidecar: Path, meta: dict[str, Any], notes: Notes, listed: int
) -> dict[str, Any]:
    """Write ``parquet`` and ``sidecar`` from ``journal``; returns the sidecar's content."""
    # A database file rather than an in-memory one: its tables can leave memory, so RSS stays near the limit.
    spill = journal.with_name(journal.name + ".finalise")
    shutil.rmtree(spill, ignore_errors=True)
    spill.mkdir()
    # preserve_insertion_order off: every query that needs an order says ORDER BY o, and it saves memory
    config: dict[str, str | bool | int | float | list[str]] = {"memory_limit": MEMORY_LIMIT, "threads": 2}
    config |= {"temp_directory": str(spill / "tmp"), "preserve_insertion_order": False}
    con = duckdb.connect(str(spill / "finalise.duckdb"), config=config)
    try:
        con.execute(READ_JOURNAL, [str(journal)])
        duplicate = con.execute(DUPLICATE).fetchone()
        if duplicate:
            rows = con.execute("SELECT r FROM journal WHERE k = ? ORDER BY o LIMIT 2", duplicate).fetchall()
            (first,), (second,) = rows
            raise HarnessError(f"{second}: image '{dataset.base() / duplicate[0]}' is already listed in {first}")
        corrupt = con.execute("SELECT k, e FROM journal WHERE e NOT IN ('', ?) ORDER BY o", [MISSING]).fetchall()
        missing = [key for (key,) in con.execute("SELECT k FROM journal WHERE e = ? ORDER BY o", [MISSING]).fetchall()]
        dropped = con.execute(DROPPED, [dataset.min_class_size()]).fetchall()
        con.execute(KEPT, [dataset.min_class_size()])
        con.execute("DROP TABLE journal")
        (kept,) = _one(con, "SELECT count(*) FROM kept")
        if kept == 0:
            raise HarnessError(
                f"dataset '{dataset.id}' has no readable image: {len(corrupt)} corrupt, {len(missing)} missing"
                + (f", {len(dropped)} classes under {dataset.min_class_size()} images" if dropped else "")
                + (f" (first: {corrupt[0][1]})" if corrupt else "")
            )
        split = _assign_splits(con, dataset, kept)
        tmp = parquet.with_name(parquet.name + ".tmp")
        con.execute(WRITE, [str(tmp)])
        fsync_path(tmp)  # durable before the rename: a power cut must not leave a zero-byte manifest
        os.replace(tmp, parquet)
        fsync_path(parquet.parent)
        cursor = con.execute("SELECT k, label, c, s, h FROM kept ORDER BY o")
        digest = manifest_digest(dataset.id, _rows(cursor))
        con.execute("CREATE VIEW manifest AS SELECT k AS path, label, c AS class_name, s AS split FROM kept")
        modes = dict(con.execute("SELECT m, count(*) FROM kept GROUP BY m ORDER BY m").fetchall())
        report = {
            **meta,
            "digest": digest,
            "listed": listed,
            "images": kept,
            "excluded": len(corrupt) + len(missing),
            "corrupt": [list(row) for row in corrupt],
            "missing": missing,
            "min_class_size": dataset.min_class_size(),
            "dropped_classes": [list(row) for row in dropped],
            "notes": dict(sorted(notes.items())),
            "split": split,
            "modes": modes,
            "splits": split_stats(con),
            "classes": class_counts(con),
            "prepared_at": datetime.now(UTC).isoformat(),
        }
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
    atomic_write(sidecar, json.dumps(report, indent=1).encode())
    return report


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    row = con.execute(sql).fetchone()
    assert row is not None
    return row


def _rows(cursor: duckdb.DuckDBPyConnection) -> Iterator[Any]:
    while rows := cursor.fetchmany(10_000):
        yield from rows


def _assign_splits(con: duckdb.DuckDBPyConnection, dataset: FileDataset, kept: int) -> dict[str, Any]:
    """The dataset's own split, or a seeded stratified one drawn over the kept images in listing order."""
    (unsplit,) = _one(con, "SELECT count(*) FROM kept WHERE s IS NULL")
    if unsplit == 0:
        return {"protocol": dataset.describe_split()}
    if unsplit != kept:
        raise HarnessError(f"dataset '{dataset.id}' gives a split to some images only")
    test_fraction, seed = dataset.stratify()
    order = con.execute("SELECT o, label FROM kept ORDER BY o").fetchnumpy()
    splits = stratified_split(order["label"].tolist(), test_fraction, seed)
    con.execute("CREATE TABLE drawn AS SELECT unnest(?) AS o, unnest(?) AS s", [order["o"].tolist(), splits])
    con.execute("UPDATE kept SET s = drawn.s FROM drawn WHERE kept.o = drawn.o")
    protocol = f"seeded stratified split (test_fraction={test_fraction}, seed={seed})"
    return {"protocol": protocol, "test_fraction": test_fraction, "seed": seed}
