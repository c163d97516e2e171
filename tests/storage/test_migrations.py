"""The results database's schema version: an old database is migrated by the writer, read as it is by readers,
and a database from a newer ecombench is refused with a message saying so."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from harness.core.errors import HarnessError
from harness.spec.cells import Cell
from harness.storage import migrations
from harness.storage.store import connect, ingest
from support import make_shard

OLD_DB = Path(__file__).resolve().parent.parent / "golden" / "fixtures" / "old_db" / "results.duckdb"


def old_copy(tmp_path: Path) -> Path:
    db = tmp_path / "results.duckdb"
    shutil.copyfile(OLD_DB, db)  # never open the checked-in file for writing
    return db


def version_of(db: Path) -> int | None:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return migrations.stored_version(con)
    finally:
        con.close()


def test_a_new_database_is_created_at_the_current_version(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    connect(db).close()
    assert version_of(db) == migrations.current_version() == 3


def test_the_old_database_is_version_1_migrated_by_the_writer_and_keeps_its_rows(tmp_path: Path) -> None:
    db = old_copy(tmp_path)
    assert version_of(db) == 1  # written before versions existed
    read = connect(db, read_only=True)  # a reader reads it as it is and does not migrate
    before = read.execute("SELECT run_id, status, seed FROM runs ORDER BY run_id").fetchall()
    values = read.execute("SELECT * FROM metrics ORDER BY ALL").fetchall()
    read.close()
    assert version_of(db) == 1
    assert [seed for *_, seed in before] == [0, 0, 0]  # the defect: every run said seed 0

    connect(db).close()
    assert version_of(db) == migrations.current_version()
    con = duckdb.connect(str(db), read_only=True)
    after = con.execute("SELECT run_id, status, seed FROM runs ORDER BY run_id").fetchall()
    assert con.execute("SELECT * FROM metrics ORDER BY ALL").fetchall() == values
    assert con.execute("SELECT count(*) FROM per_query").fetchone() == (4,)
    con.close()
    # the same runs; their cells have no seed parameter (pre-trained retrieval), so their seed is now NULL
    assert after == [(run_id, status, None) for run_id, status, _ in before]
    connect(db).close()  # at the current version: nothing more to apply


def test_the_old_database_gains_the_shortcut_scores_table(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from harness.storage.store import record_shortcut_scores

    db = old_copy(tmp_path)
    at = datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None)
    record_shortcut_scores(db, "digits", [("racing", 3, 1.0, float("nan"), 0.0, "pixels:8", 0.05)], at)
    record_shortcut_scores(db, "digits", [("logme", 3, 0.5, 0.6, 0.1, "pixels:4", 0.02)], at)  # replaces digits
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT dataset, method, candidates, tau, weighted_tau, regret, choice FROM shortcut_scores")
    assert rows.fetchall() == [("digits", "logme", 3, 0.5, 0.6, 0.1, "pixels:4")]
    assert migrations.stored_version(con) == 3
    con.close()
    assert version_of(db) == migrations.current_version()


def test_migration_2_takes_the_seed_from_the_stored_params(tmp_path: Path) -> None:
    db = old_copy(tmp_path)
    con = duckdb.connect(str(db))
    con.execute("""UPDATE runs SET params = '{"backend": "exact", "seed": 3}' WHERE run_id = ?""",
                ["0123456789abcdef0123456789abcdef"])  # fmt: skip
    con.close()
    connect(db).close()
    con = duckdb.connect(str(db), read_only=True)
    seeds = dict(con.execute("SELECT run_id, seed FROM runs").fetchall())
    con.close()
    assert seeds["0123456789abcdef0123456789abcdef"] == 3
    assert sorted(seeds.values(), key=str) == [3, None, None]


@pytest.mark.parametrize("read_only", [False, True])
def test_a_database_from_a_newer_ecombench_is_refused(tmp_path: Path, read_only: bool) -> None:
    db = tmp_path / "r.duckdb"
    newer = migrations.current_version() + 1
    con = connect(db)
    migrations.stamp(con, newer)
    con.close()
    message = f"written by a newer ecombench \\(schema {newer}, this one reads up to {migrations.current_version()}\\)"
    with pytest.raises(HarnessError, match=message):
        connect(db, read_only=read_only)
    assert version_of(db) == newer  # untouched


def test_a_registered_migration_is_applied_once_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "r.duckdb"
    ingest(db, [make_shard("timm:a", "digits", {"mmp_at_5": 0.5})])
    calls = []

    def add_note(con: duckdb.DuckDBPyConnection) -> None:
        calls.append(1)
        con.execute("ALTER TABLE runs ADD COLUMN note VARCHAR DEFAULT 'migrated'")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, migrations.Migration("a note", add_note)])
    assert migrations.current_version() == 4
    connect(db).close()
    connect(db).close()
    assert calls == [1]
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT model, note FROM runs").fetchall() == [("timm:a", "migrated")]
    assert migrations.stored_version(con) == 4
    con.close()


def test_a_failing_migration_leaves_the_old_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = old_copy(tmp_path)

    def broken(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("ALTER TABLE runs ADD COLUMN half_done VARCHAR")
        raise HarnessError("migration broke")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, migrations.Migration("broken", broken)])
    with pytest.raises(HarnessError, match="migration broke"):
        connect(db)
    assert version_of(db) == 1  # migration 2 rolled back with it: one transaction
    con = duckdb.connect(str(db), read_only=True)
    assert "half_done" not in [c for (c,) in con.execute("SELECT column_name FROM (DESCRIBE runs)").fetchall()]
    assert con.execute("SELECT count(*) FROM runs WHERE seed = 0").fetchone() == (3,)
    con.close()


def test_runs_seed_is_the_cell_s_seed(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    seeded = make_shard("timm:a", "digits", {"mmp_at_5": 0.5})
    seeded.cell = Cell("timm:a", "digits", "toptuned", "retrieval", {"backend": "exact", "preset": "quick", "seed": 3})
    seeded.run_id = "3" * 32
    unseeded = make_shard("timm:b", "digits", {"mmp_at_5": 0.5})  # pre-trained retrieval: nothing is trained
    ingest(db, [seeded, unseeded])
    con = duckdb.connect(str(db), read_only=True)
    seeds = dict(con.execute("SELECT model, seed FROM runs").fetchall())
    con.close()
    assert seeds == {"timm:a": 3, "timm:b": None}
