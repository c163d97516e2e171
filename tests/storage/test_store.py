"""The results database: idempotent ingest, failures as data, the stable ``results`` view."""

from pathlib import Path

import duckdb
import pytest

from harness.core.errors import HarnessError
from harness.storage.shards import ShardStore
from harness.storage.store import connect, ingest, ingest_folder
from support import make_shard

METRICS = {"mmp_at_5": 0.5, "recall_at_1": 0.75}


def counts(db: Path) -> tuple[int, int, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        runs = con.execute("SELECT count(*) FROM runs").fetchone()[0]  # type: ignore[index]
        metrics = con.execute("SELECT count(*) FROM metrics").fetchone()[0]  # type: ignore[index]
        results = con.execute("SELECT count(*) FROM results").fetchone()[0]  # type: ignore[index]
    finally:
        con.close()
    return runs, metrics, results


def test_ingest_is_idempotent_on_run_id(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    shards = [make_shard("timm:a", "digits", METRICS), make_shard("timm:b", "digits", METRICS)]
    assert ingest(db, shards) == 2
    assert counts(db) == (2, 4, 4)
    ingest(db, shards)
    assert counts(db) == (2, 4, 4)  # same run ids: replaced, not duplicated


def test_results_view_carries_provenance_and_values(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    ingest(db, [make_shard("timm:o'brien", "digits", METRICS)])  # a quote in an id: parameters are bound
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT model, metric, value, random_init FROM results ORDER BY metric").fetchall()
    git_sha, cpu = con.execute("SELECT git_sha, cpu FROM runs").fetchone()  # type: ignore[misc]
    con.close()
    assert rows == [("timm:o'brien", "mmp_at_5", 0.5, True), ("timm:o'brien", "recall_at_1", 0.75, True)]
    assert (git_sha, cpu) == ("abc", "test cpu")


def test_failed_run_is_a_row_without_results_and_is_replaced_by_success(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    failed = make_shard("timm:a", "digits", {}, status="error", weights_digest=None)
    failed.run_id = "failed-run"  # a failure's key lacks the digests, so it differs from the success's
    ingest(db, [failed])
    assert counts(db) == (1, 0, 0)
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT status, error FROM runs").fetchall() == [("error", "boom")]
    con.close()
    ingest(db, [make_shard("timm:a", "digits", METRICS)])
    assert counts(db) == (1, 2, 2)  # the success removed the earlier failure of the same cell


def test_ingest_folder_reads_written_shards(tmp_path: Path) -> None:
    folder = tmp_path / "shards"
    for model in ("timm:a", "timm:b", "timm:c"):
        ShardStore(folder).write(make_shard(model, "synthetic", METRICS))
    assert ingest_folder(tmp_path / "r.duckdb", folder) == 3
    assert counts(tmp_path / "r.duckdb") == (3, 6, 6)


def test_reading_a_missing_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match=r"results database '.*nope.duckdb' does not exist: run `ecombench run`"):
        connect(tmp_path / "nope.duckdb", read_only=True)


def test_a_file_that_is_not_duckdb_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.duckdb"
    bad.write_text("not a database")
    with pytest.raises(HarnessError, match=r"cannot open results database '.*bad.duckdb'"):
        connect(bad)


def test_an_interrupted_grid_keeps_the_cells_it_finished(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.compute.suites.retrieval as retrieval
    from harness.execute.runner import run_plan
    from harness.plan.grid import make_cells
    from harness.plan.plan import make_plan
    from harness.spec.settings import Settings

    grid = make_cells(
        ["pixels:4"], ["synthetic[classes=2,per_class=4,size=16]", "synthetic[classes=3,per_class=4,size=16]"],
        ["pretrained"], ["retrieval"], {"retrieval": {"backend": "exact"}},
    )  # fmt: skip
    real_run, calls = retrieval.run, []

    def interrupted_on_the_second_cell(ctx: object) -> dict[str, float]:
        calls.append(ctx)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C during the second cell
        return real_run(ctx)  # type: ignore[arg-type]

    monkeypatch.setattr(retrieval, "run", interrupted_on_the_second_cell)
    settings = Settings(workdir=tmp_path / "work", db=tmp_path / "r.duckdb")
    with pytest.raises(KeyboardInterrupt):
        run_plan(make_plan(grid.cells, "cpu", settings.workdir), settings)
    con = duckdb.connect(str(settings.db), read_only=True)
    datasets = con.execute("SELECT dataset, status FROM runs").fetchall()
    con.close()
    assert datasets == [("synthetic[classes=2,per_class=4,size=16]", "ok")]
