"""An old database: results.duckdb and its workdir written by the store as it is now (three shards, one failed,
one with per-query values). Today's store and report read it; a re-ingest into it is idempotent. Once schema
versions and migrations exist, this proves that a database written before them still reads."""

from __future__ import annotations

import json
import shutil

import golden_support as g

from harness.storage import store

EXPECTED = json.loads(g.OLD_DB_EXPECTED.read_text())


def _copy(tmp_path):  # type: ignore[no-untyped-def]
    folder = tmp_path / "old_db"
    shutil.copytree(g.OLD_DB_DIR, folder)  # never open the checked-in file: a writer rewrites metric_registry
    return folder


def test_the_expected_values_are_the_hand_built_ones() -> None:
    assert EXPECTED["counts"]["runs"] == 3
    assert EXPECTED["counts"]["metrics"] == 8
    assert EXPECTED["counts"]["per_query"] == 4
    assert EXPECTED["recall@1"] == 0.625
    assert sorted(EXPECTED["statuses"].values()) == ["error", "ok", "ok"]


def test_today_s_code_reads_the_old_database(tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = _copy(tmp_path)
    assert g.read_old_db(folder / "results.duckdb") == EXPECTED


def test_reingesting_the_old_workdir_changes_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = _copy(tmp_path)
    assert store.ingest_folder(folder / "results.duckdb", folder / "workdir" / "shards") == 3
    assert g.read_old_db(folder / "results.duckdb") == _rewritten()


def test_the_old_database_migrated_to_the_current_schema_reads_the_same(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from harness.storage import migrations

    db = _copy(tmp_path) / "results.duckdb"
    store.connect(db).close()  # the writer's connect migrates
    con = store.connect(db, read_only=True)
    try:
        assert migrations.stored_version(con) == migrations.current_version() > 1
    finally:
        con.close()
    assert g.read_old_db(db) == _rewritten()


def _rewritten() -> dict:  # type: ignore[type-arg]
    """EXPECTED once a writer has opened the database: it rewrites metric_registry from today's declarations (by
    design, so a metric declared since the old database was built is in it); every other count is the old one."""
    from harness.spec.metrics import METRICS

    return {**EXPECTED, "counts": {**EXPECTED["counts"], "metric_registry": len(METRICS)}}
