"""``ecombench prune``: drop failed or unwanted runs from the results database, from every table that names them.

A selection is the runs named by id (``--run-id``, each must exist) plus, where any filter is given, the runs
matching all of them (``--failed``, ``--model``, ``--dataset``). ``--dataset digits`` matches ``digits`` and
``digits[per_class=30]``; ``--dataset digits[per_class=30]`` matches only that id (harness.storage.store.dataset_match).
Nothing is deleted unless asked (``--yes``); the deletion is one transaction. The pruned runs' shards move
from ``<workdir>/shards`` to ``<workdir>/pruned``: kept (nothing is lost), but neither ``ecombench ingest``
nor a re-run's plan sees them, so a pruned cell runs again instead of coming back from its old shard.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from harness.core.errors import HarnessError
from harness.storage.shards import ShardStore
from harness.storage.store import RUN_TABLES, connect, dataset_match, transaction
from harness.storage.workdir import Workdir


@dataclass(frozen=True)
class Selection:
    run_ids: tuple[str, ...] = ()
    failed: bool = False
    model: str | None = None
    dataset: str | None = None

    @property
    def filtered(self) -> bool:
        return self.failed or self.model is not None or self.dataset is not None

    def check(self) -> None:
        if not self.run_ids and not self.filtered:
            raise HarnessError("prune needs something to select: --failed, --run-id ID, --model or --dataset")


@dataclass(frozen=True)
class Selected:
    run_id: str
    model: str
    dataset: str
    strategy: str
    suite: str
    status: str


@dataclass
class Pruned:
    runs: list[Selected]
    rows: dict[str, int]  # table -> rows that name the selected runs (deleted, with ``yes``)
    deleted: bool
    moved: list[Path]  # the shards moved out of the workdir's shards folder


SELECT = f"""
    SELECT run_id, model, dataset, strategy, suite, status FROM runs
    WHERE list_contains(?, run_id)
       OR (?::BOOLEAN AND (NOT ? OR status = 'error') AND (?::VARCHAR IS NULL OR model = ?)
           AND (?::VARCHAR IS NULL OR {dataset_match()}))
    ORDER BY model, dataset, strategy, suite, run_id
"""


def select(con: duckdb.DuckDBPyConnection, selection: Selection) -> list[Selected]:
    """The selected runs; an id that names no run is an error (a typo must not prune nothing quietly)."""
    selection.check()
    ids = list(dict.fromkeys(selection.run_ids))
    known = {r[0] for r in con.execute("SELECT run_id FROM runs WHERE list_contains(?, run_id)", [ids]).fetchall()}
    unknown = [run_id for run_id in ids if run_id not in known]
    if unknown:
        raise HarnessError(f"unknown run id {', '.join(repr(u) for u in unknown)}: no such run in the database")
    params = [ids, selection.filtered, selection.failed, selection.model, selection.model,
              *[selection.dataset] * 4]  # fmt: skip
    return [Selected(*row) for row in con.execute(SELECT, params).fetchall()]


def _counts(con: duckdb.DuckDBPyConnection, ids: list[str]) -> dict[str, int]:
    return {
        table: int(con.execute(f"SELECT count(*) FROM {table} WHERE list_contains(?, run_id)", [ids]).fetchone()[0])  # type: ignore[index]
        for table in RUN_TABLES
    }


def prune(db: Path, selection: Selection, yes: bool = False, workdir: Path | None = None) -> Pruned:
    """What ``selection`` selects and how many rows of each table name it; deleted only with ``yes``, and then
    the runs' shards in ``workdir`` (when given) moved aside."""
    if not db.exists():
        raise HarnessError(f"results database '{db}' does not exist: nothing to prune")
    con = connect(db) if yes else connect(db, read_only=True)
    try:
        runs = select(con, selection)
        ids = [r.run_id for r in runs]
        rows = _counts(con, ids)
        if yes and ids:
            with transaction(con):
                for table in RUN_TABLES:  # runs last: every other table names a run
                    con.execute(f"DELETE FROM {table} WHERE list_contains(?, run_id)", [ids])
    finally:
        con.close()
    moved = set_aside(workdir, ids) if yes and workdir is not None else []
    return Pruned(runs, rows, yes and bool(ids), moved)


def set_aside(workdir: Path, run_ids: list[str]) -> list[Path]:
    """Move each run's shard (and a failure kept beside it) to ``<workdir>/pruned``, after the database let go."""
    shards, aside = ShardStore(Workdir(workdir).shards), Workdir(workdir).pruned
    moved = []
    for run_id in run_ids:
        for path in (shards.path(run_id), shards.failure_path(run_id)):
            if path.is_file():
                aside.mkdir(parents=True, exist_ok=True)
                moved.append(path.replace(aside / path.name))
    return moved
