"""The runner and the results database: another process holding ``results.duckdb`` never stops a grid. Its cells keep
computing into their shards; ingest retries between cells and at the end, and only then says how to ingest later."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.execute.runner import LOCK_WAIT_ENV
from support import run_cli
from support.grids import CHEAP, SHARED_JOB, counts

#: a second process that opens the database for writing (DuckDB's lock is per process) until its stdin closes
HOLDER = (
    "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('held', flush=True); sys.stdin.read(); con.close()"
)


@contextmanager
def held(db: Path) -> Iterator[subprocess.Popen[str]]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=60)


def _shards(workdir: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted((workdir / "shards").glob("*.json"))]


def test_a_database_held_for_the_whole_grid_costs_no_cell_and_names_ingest(tmp_path: Path) -> None:
    (tmp_path / "grid.toml").write_text(CHEAP)
    db, workdir = tmp_path / "results.duckdb", tmp_path / ".ecombench"
    with held(db):
        result = run_cli("grid", "grid.toml", cwd=tmp_path, env={LOCK_WAIT_ENV: "1"})
    assert result.returncode == 2, result.stdout + result.stderr
    shards = _shards(workdir)
    assert len(shards) == 4 and {s["status"] for s in shards} == {"ok"}  # every cell computed, each shard kept
    message = " ".join(result.stderr.split())
    assert "is locked by another process" in message and "ecombench ingest" in message
    assert sum(line.startswith("[") and " ok " in line for line in result.stderr.splitlines()) == 4

    ingested = run_cli("ingest", cwd=tmp_path)  # what the message says to do, once the database is free
    assert ingested.returncode == 0, ingested.stderr
    assert counts(db) == (4, 4)
    again = run_cli("grid", "grid.toml", cwd=tmp_path)
    assert again.returncode == 0 and "4 done" in again.stdout  # nothing left to compute


def test_a_database_freed_mid_grid_gets_every_cell_without_waiting_for_the_end(tmp_path: Path) -> None:
    (tmp_path / "grid.toml").write_text(CHEAP)
    db, workdir = tmp_path / "results.duckdb", tmp_path / ".ecombench"
    with held(db):
        grid = subprocess.Popen(
            [sys.executable, "-m", "harness.cli", "grid", "grid.toml"], cwd=tmp_path, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env={**os.environ, LOCK_WAIT_ENV: "0"},
        )  # fmt: skip
        assert grid.stderr is not None
        first = grid.stderr.readline()  # the first cell finished, its ingest found the database held
        assert first.startswith("[1/4] ok"), first
    _, rest = grid.communicate(timeout=600)  # freed: the next cell's ingest takes the first one too
    assert grid.returncode == 0, first + rest
    assert len(_shards(workdir)) == 4 and counts(db) == (4, 4)


def test_a_held_database_never_stops_the_later_stages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stages (the cheap cells first, then those that top-tune) run as one: only the end waits for the database."""
    from harness.execute.runner import run_stages
    from harness.plan.grid import load_grid
    from harness.plan.plan import make_plan
    from harness.spec.settings import Settings
    from harness.storage.store import DatabaseLocked

    (tmp_path / "grid.toml").write_text(SHARED_JOB)
    settings = Settings(tmp_path / "work", tmp_path / "results.duckdb")
    grid = load_grid(tmp_path / "grid.toml")
    stages = make_plan(grid.cells, "cpu", settings.workdir, grid.skipped).stages()
    assert len(stages) == 2
    announced: list[tuple[int, int]] = []
    monkeypatch.setenv(LOCK_WAIT_ENV, "1")
    with held(settings.db), pytest.raises(DatabaseLocked, match="is locked by another process"):
        run_stages(stages, settings, lambda number, count, _: announced.append((number, count)))
    assert announced == [(1, 2), (2, 2)]
    planned = sum(len(stage.cells) for stage in stages)
    assert len(_shards(settings.workdir)) == planned  # every cell of both stages computed and kept
    outcomes = run_stages(stages, settings)  # free now: nothing recomputed, everything ingested
    assert {o.status for o in outcomes} == {"cached"} and counts(settings.db) == (planned, planned)
