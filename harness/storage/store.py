"""The results database: DDL in one place, idempotent ingest of run shards, and the queries reports use.

Only the process that calls ``ingest`` opens the file for writing (DuckDB allows one writer).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from harness.core.errors import HarnessError
from harness.spec import metrics as metrics_registry
from harness.spec.cells import Cell
from harness.storage import migrations
from harness.storage.shards import Shard, ShardStore
from harness.storage.sidefiles import load_per_query, per_query_path

log = logging.getLogger(__name__)
#: how long a writer waits for another process's lock on the database before giving up
LOCK_WAIT_S = 120.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id          VARCHAR PRIMARY KEY,  -- the cell key
    model           VARCHAR NOT NULL,
    dataset         VARCHAR NOT NULL,
    strategy        VARCHAR NOT NULL,
    suite           VARCHAR NOT NULL,
    params          JSON NOT NULL,
    status          VARCHAR NOT NULL CHECK (status IN ('ok', 'error')),
    error           VARCHAR,
    random_init     BOOLEAN NOT NULL,
    weights_digest  VARCHAR,
    manifest_digest VARCHAR,
    preprocessing   JSON,
    seed            INTEGER,
    git_sha         VARCHAR,
    harness_version VARCHAR,
    lock_hash       VARCHAR,
    image_digest    VARCHAR,
    torch_version   VARCHAR,
    cuda_version    VARCHAR,
    device          VARCHAR,
    gpu             VARCHAR,
    cpu             VARCHAR,
    provenance      JSON,
    started_at      TIMESTAMP,
    finished_at     TIMESTAMP,
    details         JSON  -- suite-specific records, e.g. a top-tuning search's best hyperparameters and trials
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    value  DOUBLE NOT NULL,
    PRIMARY KEY (run_id, metric)
);
-- per-query (per-test-image) values of a run's metrics, loaded by ingest from <workdir>/per_query/*.npz
-- (harness.compute.suites.per_query): what paired tests between models read; query = position in the evaluated split
CREATE TABLE IF NOT EXISTS per_query (
    run_id VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    query  INTEGER NOT NULL,
    value  DOUBLE NOT NULL,
    PRIMARY KEY (run_id, metric, query)
);
-- `ecombench audit` (harness.workflows.audit): one row per re-run cell and metric; metric '' for a rerun that failed
CREATE TABLE IF NOT EXISTS audits (
    audit_id   VARCHAR NOT NULL,
    run_id     VARCHAR NOT NULL,
    metric     VARCHAR NOT NULL,
    stored     DOUBLE,
    audited    DOUBLE,
    tolerance  DOUBLE NOT NULL,
    status     VARCHAR NOT NULL
               CHECK (status IN ('identical', 'within', 'differs', 'missing', 'not compared', 'error')),
    device     VARCHAR NOT NULL,
    note       VARCHAR,
    audited_at TIMESTAMP NOT NULL,
    PRIMARY KEY (audit_id, run_id, metric)
);
-- dataset statistics, written by `ecombench datasets prepare` / `info`, one row per manifest
CREATE TABLE IF NOT EXISTS datasets (
    dataset       VARCHAR NOT NULL,
    digest        VARCHAR NOT NULL,  -- the manifest digest (runs.manifest_digest)
    images        BIGINT NOT NULL,
    classes       BIGINT NOT NULL,
    train_images  BIGINT NOT NULL,
    train_classes BIGINT NOT NULL,
    test_images   BIGINT NOT NULL,
    test_classes  BIGINT NOT NULL,
    excluded      BIGINT NOT NULL,   -- listed images left out: corrupt, or missing where tolerated
    details       JSON,              -- split protocol, images per class, notes, dropped classes
    recorded_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (dataset, digest)
);
-- images per class and split (the paper's category-distribution figure)
CREATE TABLE IF NOT EXISTS dataset_classes (
    dataset    VARCHAR NOT NULL,
    digest     VARCHAR NOT NULL,
    split      VARCHAR NOT NULL,
    label      INTEGER NOT NULL,
    class_name VARCHAR NOT NULL,
    images     BIGINT NOT NULL,
    PRIMARY KEY (dataset, digest, split, label)
);
-- `ecombench recommend --evaluate` (harness.workflows.recommend): how well a shortcut's ranking of the models
-- (racing, a cheap signal) predicted a finished grid's mMP@5; rewritten per dataset by each evaluation
CREATE TABLE IF NOT EXISTS shortcut_scores (
    dataset      VARCHAR NOT NULL,
    method       VARCHAR NOT NULL,
    candidates   INTEGER NOT NULL,  -- models ranked
    tau          DOUBLE,            -- Kendall tau-b against the grid; NULL where undefined (a constant ranking)
    weighted_tau DOUBLE,
    regret       DOUBLE NOT NULL,   -- the grid's best mMP@5 minus that of the method's choice
    choice       VARCHAR NOT NULL,
    fraction     DOUBLE,            -- of the grid's device time the method spent
    evaluated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (dataset, method)
);
-- one row per KerasTuner trial of a top-tuning search (classification and toptuned retrieval runs)
CREATE OR REPLACE VIEW toptune_trials AS
    SELECT r.run_id, r.model, r.dataset, r.strategy, r.suite,
           t.value->>'trial_id' AS trial_id, t.value->>'status' AS status,
           TRY_CAST(t.value->>'score' AS DOUBLE) AS score, t.value->'hyperparameters' AS hyperparameters
    FROM runs r, json_each(r.details->'trials') t
    WHERE r.status = 'ok';
-- one row per epoch of each fine-tune; every cell that used a fine-tune carries its curve, so one per job
CREATE OR REPLACE VIEW training_curves AS
    SELECT DISTINCT ON (job, epoch)
           r.details->>'finetune_job' AS job, r.model, r.details->>'finetune_source' AS dataset,
           r.details->'finetune_preset'->>'name' AS preset, CAST(c.value->>'epoch' AS INTEGER) AS epoch,
           TRY_CAST(c.value->>'train_loss' AS DOUBLE) AS train_loss,
           TRY_CAST(c.value->>'val_loss' AS DOUBLE) AS val_loss,
           TRY_CAST(c.value->>'val_accuracy' AS DOUBLE) AS val_accuracy,
           TRY_CAST(c.value->>'lr' AS DOUBLE) AS lr, TRY_CAST(c.value->>'epoch_s' AS DOUBLE) AS epoch_s,
           TRY_CAST(c.value->>'images_per_s' AS DOUBLE) AS images_per_s
    FROM runs r, json_each(r.details->'curve') c
    WHERE r.status = 'ok'
    ORDER BY job, epoch, r.finished_at DESC;
CREATE OR REPLACE VIEW results AS
    SELECT r.run_id, r.model, r.dataset, r.strategy, r.suite, m.metric, m.value,
           r.random_init, r.params, r.device, r.git_sha, r.finished_at
    FROM metrics m JOIN runs r USING (run_id)
    WHERE r.status = 'ok';
-- one row per declared metric (harness/spec/metrics.py), rewritten from the registry by every writer
CREATE TABLE IF NOT EXISTS metric_registry (
    metric           VARCHAR PRIMARY KEY,
    label            VARCHAR NOT NULL,
    unit             VARCHAR NOT NULL,
    kind             VARCHAR NOT NULL CHECK (kind IN ('quality', 'cost', 'count', 'interval')),
    higher_is_better BOOLEAN,
    suites           VARCHAR[] NOT NULL
);
-- the one cost ledger: every time, throughput, memory, FLOPs, size and price figure of every suite and
-- strategy (the registry's kind 'cost'), with the machine it was measured on
CREATE OR REPLACE VIEW cost_ledger AS
    SELECT r.run_id, r.model, r.dataset, r.strategy, r.suite, m.metric, m.value,
           r.device, r.gpu, r.cpu, TRY_CAST(r.provenance->>'shared_machine' AS BOOLEAN) AS shared_machine,
           r.random_init, r.params, r.finished_at
    FROM metrics m JOIN runs r USING (run_id) JOIN metric_registry g USING (metric)
    WHERE r.status = 'ok' AND g.kind = 'cost';
"""

RUN_COLUMNS = (
    "run_id", "model", "dataset", "strategy", "suite", "params", "status", "error", "random_init",
    "weights_digest", "manifest_digest", "preprocessing", "seed", "git_sha", "harness_version", "lock_hash",
    "image_digest", "torch_version", "cuda_version", "device", "gpu", "cpu", "provenance", "started_at",
    "finished_at", "details",
)  # fmt: skip


#: every table with a run_id column, runs last (the others name its runs): what dropping a run deletes from
RUN_TABLES = ("metrics", "per_query", "audits", "runs")


def dataset_match(column: str = "dataset") -> str:
    """SQL for a dataset filter, bound three times to the filter: an id with options matches only itself; one
    without (``digits``) matches the id with any options too (``digits[per_class=30]``)."""
    return f"({column} = ? OR (NOT contains(?, '[') AND split_part({column}, '[', 1) = ?))"


def dataset_matches(wanted: str, dataset: str) -> bool:
    """``dataset_match`` in Python, for rows already read."""
    return dataset == wanted or ("[" not in wanted and dataset.split("[", 1)[0] == wanted)


class DatabaseLocked(HarnessError):
    """Another process holds the database (DuckDB allows one writer, and no reader beside a writer)."""


def connect(path: Path, read_only: bool = False, wait_s: float = LOCK_WAIT_S) -> duckdb.DuckDBPyConnection:
    """Open the database; while another process holds its lock, wait (saying so once) up to ``wait_s``."""
    if read_only and not path.exists():
        raise HarnessError(f"results database '{path}' does not exist: run `ecombench run` or `ecombench grid` first")
    deadline, said = time.monotonic() + wait_s, False
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise HarnessError(f"cannot open results database '{path}': {exc}") from exc
            if time.monotonic() > deadline:
                raise DatabaseLocked(f"results database '{path}' is locked by another process: {exc}") from exc
            if not said:
                log.warning("results database %s is in use by another process; waiting up to %.0f s", path, wait_s)
                said = True
            time.sleep(0.5)
        except duckdb.Error as exc:
            raise HarnessError(f"cannot open results database '{path}': {exc}") from exc
    try:
        _open_schema(con, path, read_only)
    except BaseException:
        con.close()
        raise
    return con


def _open_schema(con: duckdb.DuckDBPyConnection, path: Path, read_only: bool) -> None:
    """Check the schema version; a writer also creates or migrates the schema (harness.storage.migrations)."""
    version = migrations.stored_version(con)
    migrations.check_readable(version, str(path))
    if read_only:
        return
    current = migrations.current_version()
    with transaction(con):
        applied = migrations.migrate(con, version) if version is not None else []  # a new file: created current
        con.execute(SCHEMA)
        if version != current:
            migrations.stamp(con, current)
    for line in applied:
        log.info("results database %s migrated: %s", path, line)
    _write_registry(con)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Commit what the block wrote, or roll all of it back on any exception (an interrupt included)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _write_registry(con: duckdb.DuckDBPyConnection) -> None:
    """Replace ``metric_registry``'s rows with the registry's, so the views follow the code that wrote last."""
    columns = [list(column) for column in zip(*metrics_registry.rows(), strict=True)]
    with transaction(con):
        con.execute("DELETE FROM metric_registry")
        con.execute(
            "INSERT INTO metric_registry SELECT unnest(?), unnest(?), unnest(?), unnest(?), unnest(?), unnest(?)",
            columns,
        )


def run_seed(cell: Cell) -> int | None:
    """The seed a run records: its cell's ``seed`` parameter (a top-tune search's, a fine-tune's, one of a grid's
    ``seeds``). NULL for a cell that has none: it trains nothing, and a 0 would claim a seed that nothing drew
    from. (The shard's own ``seed`` is the worker's global torch seed, the same for every cell.)"""
    seed = cell.params.get("seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def _run_row(shard: Shard) -> tuple[Any, ...]:
    p = shard.provenance
    cell = shard.cell
    values = {
        "run_id": shard.run_id, "model": cell.model, "dataset": cell.dataset, "strategy": cell.strategy,
        "suite": cell.suite, "params": json.dumps(cell.params, sort_keys=True), "status": shard.status,
        "error": shard.error, "random_init": shard.random_init, "weights_digest": shard.weights_digest,
        "manifest_digest": shard.manifest_digest, "preprocessing": json.dumps(shard.preprocessing, default=str),
        "seed": run_seed(cell), "provenance": json.dumps(p, default=str),
        "started_at": shard.started_at, "finished_at": shard.finished_at,
        "details": json.dumps(shard.details, default=str),
        **{k: p.get(k) for k in ("git_sha", "harness_version", "lock_hash", "image_digest", "torch_version",
                                 "cuda_version", "device", "gpu", "cpu")},
    }  # fmt: skip
    return tuple(values[c] for c in RUN_COLUMNS)


def ingest(db_path: Path, shards: Iterable[Shard], workdir: Path | None = None, wait_s: float = LOCK_WAIT_S) -> int:
    """Insert or replace each shard's run and metrics, one transaction per shard; returns how many.

    Idempotent on run_id. An error never replaces a finished result of the same run_id (the failed attempt
    stays in its shard beside it). A successful run also removes earlier *failed* runs of the same cell (same
    model, dataset, strategy, suite and params), so a fixed failure no longer shows as missing.

    With ``workdir``, a shard's per-query file (``details.per_query``) is loaded into the ``per_query`` table.
    They go into the database rather than being read by the report from the workdir because the report reads
    the database only: a copied ``results.duckdb`` keeps its paired tests, and DuckDB stores the columns
    compressed (a 60k-query cell is ~300k small rows). A missing file (a shard written elsewhere) only loses
    that run's paired tests; its intervals are metrics and stay.
    """
    con = connect(db_path, wait_s=wait_s)
    placeholders = ", ".join("?" for _ in RUN_COLUMNS)
    count = 0
    try:
        for shard in shards:
            if shard.status == "error":
                row = con.execute("SELECT status FROM runs WHERE run_id = ?", [shard.run_id]).fetchone()
                if row and row[0] == "ok":
                    log.warning("%s: a failed attempt does not replace its finished result", shard.cell.label())
                    continue
            with transaction(con):
                con.execute("DELETE FROM metrics WHERE run_id = ?", [shard.run_id])
                con.execute("DELETE FROM per_query WHERE run_id = ?", [shard.run_id])
                con.execute("DELETE FROM runs WHERE run_id = ?", [shard.run_id])
                if shard.status == "ok":
                    cell = shard.cell
                    con.execute(
                        "DELETE FROM runs WHERE status = 'error' AND model = ? AND dataset = ? AND strategy = ?"
                        " AND suite = ? AND params = ?::JSON",
                        [cell.model, cell.dataset, cell.strategy, cell.suite, json.dumps(cell.params, sort_keys=True)],
                    )
                con.execute(f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({placeholders})", _run_row(shard))
                rows = [(shard.run_id, name, float(value)) for name, value in sorted(shard.metrics.items())]
                if rows:  # a failed run has none
                    con.executemany("INSERT INTO metrics VALUES (?, ?, ?)", rows)
                if workdir is not None and shard.status == "ok":
                    _insert_per_query(con, shard, workdir)
            count += 1
    finally:
        con.close()
    return count


def _insert_per_query(con: duckdb.DuckDBPyConnection, shard: Shard, workdir: Path) -> None:
    name = shard.details.get("per_query")
    if not name:
        return
    file = per_query_path(workdir, str(name))
    if not file.exists():
        log.warning("run %s: per-query file %s is missing; no paired tests for it", shard.run_id, file)
        return
    import pyarrow

    query, values = load_per_query(file)
    # Handed to DuckDB as Arrow columns, not Python lists: no Python object per query (a 10^6-query cell would
    # hold ~5 million of them).
    for metric, array in sorted(values.items()):
        rows = pyarrow.table({"query": query.astype(np.int32), "value": np.asarray(array, dtype=np.float64)})
        con.register("per_query_rows", rows)
        try:
            con.execute("INSERT INTO per_query SELECT ?, ?, query, value FROM per_query_rows", [shard.run_id, metric])
        finally:
            con.unregister("per_query_rows")


def ingest_missing(
    db_path: Path, shards: list[Shard], replace: set[str], workdir: Path | None = None, wait_s: float = LOCK_WAIT_S
) -> int:
    """Ingest the shards the database lacks, and those in ``replace`` (just computed); returns how many."""
    con = connect(db_path, wait_s=wait_s)
    try:
        present = {r[0] for r in con.execute("SELECT run_id FROM runs WHERE status = 'ok'").fetchall()}
    finally:
        con.close()
    return ingest(db_path, [s for s in shards if s.run_id in replace or s.run_id not in present], workdir, wait_s)


def ingest_folder(db_path: Path, folder: Path) -> int:
    """Ingest every shard of a folder (e.g. copied back from another machine); safe to run again. It is a
    workdir's ``shards``: per-query files are looked up beside it, in ``../per_query``."""
    if not folder.is_dir():
        raise HarnessError(f"shard folder '{folder}' does not exist")
    return ingest(db_path, ShardStore(folder).all(), folder.parent)


def record_dataset(db_path: Path, report: dict[str, Any]) -> None:
    """Insert or replace a manifest's statistics (a prepared manifest's sidecar) in ``datasets`` and
    ``dataset_classes``; idempotent on (dataset, digest)."""
    key = [report["dataset"], report["digest"]]
    per_split = {row["split"]: (row["images"], row["classes"]) for row in report["splits"]}
    (train_images, train_classes), (test_images, test_classes) = (per_split.get(s, (0, 0)) for s in ("train", "test"))
    details = {k: report.get(k) for k in ("split", "splits", "listed", "notes", "min_class_size", "dropped_classes")}
    classes = report["classes"]
    con = connect(db_path)
    try:
        with transaction(con):
            con.execute("DELETE FROM dataset_classes WHERE dataset = ? AND digest = ?", key)
            con.execute("DELETE FROM datasets WHERE dataset = ? AND digest = ?", key)
            con.execute(
                "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, current_timestamp)",
                [*key, report["images"], per_split.get("all", (0, 0))[1], train_images, train_classes, test_images,
                 test_classes, report["excluded"], json.dumps(details, default=str)],
            )  # fmt: skip
            if classes:
                con.execute(
                    "INSERT INTO dataset_classes SELECT ?, ?, unnest(?), unnest(?), unnest(?), unnest(?)",
                    [*key, *(list(column) for column in zip(*classes, strict=True))],
                )
    finally:
        con.close()


def record_audit(db_path: Path, rows: list[tuple[Any, ...]], audited_at: datetime) -> None:
    """Insert one audit's rows (audit_id, run_id, metric, stored, audited, tolerance, status, device, note)."""
    con = connect(db_path)
    try:
        with transaction(con):
            con.executemany(
                "INSERT INTO audits VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [(*r, audited_at) for r in rows]
            )
    finally:
        con.close()


def record_shortcut_scores(db_path: Path, dataset: str, rows: list[tuple[Any, ...]], evaluated_at: datetime) -> None:
    """Replace ``dataset``'s shortcut scores with ``rows`` (method, candidates, tau, weighted_tau, regret, choice,
    fraction); NaN is stored as NULL."""
    clean = [tuple(None if isinstance(v, float) and v != v else v for v in row) for row in rows]
    con = connect(db_path)
    try:
        with transaction(con):
            con.execute("DELETE FROM shortcut_scores WHERE dataset = ?", [dataset])
            con.executemany(
                "INSERT INTO shortcut_scores VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(dataset, *row, evaluated_at) for row in clean],
            )
    finally:
        con.close()


PER_QUERY = """
    SELECT a.query, a.value AS a_value, b.value AS b_value FROM per_query a JOIN per_query b USING (metric, query)
    WHERE a.run_id = ? AND b.run_id = ? AND metric = ?
    ORDER BY a.query
"""


def paired_values(
    con: duckdb.DuckDBPyConnection, run_a: str, run_b: str, metric: str
) -> tuple[np.ndarray, np.ndarray] | None:
    """Two runs' per-query values of ``metric`` on the queries both scored (aligned); None when either has none
    stored, or the runs share no query (e.g. different datasets)."""
    columns = con.execute(PER_QUERY, [run_a, run_b, metric]).fetchnumpy()  # arrays, no Python object per row
    a, b = (np.asarray(columns[name], dtype=np.float64) for name in ("a_value", "b_value"))
    return (a, b) if len(a) else None
