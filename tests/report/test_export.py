"""Exports: the database's tables as Parquet/CSV (DuckDB's COPY), and every finished run into MLflow."""

import json
from pathlib import Path

import duckdb
import pytest

from harness.core.errors import HarnessError
from harness.report.export import TABLES, export_mlflow, export_tables, mlflow_key
from harness.storage.store import ingest
from support import make_shard, run_cli

METRICS = {"mmp_at_5": 0.625, "recall_at_1": 0.75, "extract_s": 12.5, "params": 1.0e6}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "results.duckdb"
    ingest(
        path,
        [
            make_shard("timm:a[init=random]", "digits", METRICS),
            make_shard("wheel:tf_efficientnet_lite0", "synthetic", {**METRICS, "mmp_at_5": 0.66}, random_init=False),
            make_shard("timm:broken", "digits", {}, status="error"),
        ],
    )
    return path


def counts(db: Path) -> dict[str, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {name: con.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in TABLES}  # type: ignore[index]
    finally:
        con.close()


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_tables_are_written_whole(db: Path, tmp_path: Path, fmt: str) -> None:
    paths = export_tables(db, tmp_path / "out", fmt)
    assert [p.name for p in paths] == [f"results.{fmt}", f"runs.{fmt}", f"cost_ledger.{fmt}"]
    reader = "read_parquet" if fmt == "parquet" else "read_csv_auto"
    con = duckdb.connect()
    written = {p.stem: con.execute(f"SELECT count(*) FROM {reader}('{p}')").fetchone()[0] for p in paths}  # type: ignore[index]
    assert written == counts(db) == {"results": 8, "runs": 3, "cost_ledger": 4}  # the failed run is in runs only
    value = con.execute(
        f"SELECT value FROM {reader}('{paths[0]}') WHERE model = 'wheel:tf_efficientnet_lite0' AND metric = 'mmp_at_5'"
    ).fetchone()
    assert value == (0.66,)


def test_bad_format_and_missing_db_are_clear_errors(db: Path, tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="export format 'xlsx': expected one of parquet, csv"):
        export_tables(db, tmp_path, "xlsx")
    with pytest.raises(HarnessError, match="does not exist"):
        export_tables(tmp_path / "none.duckdb", tmp_path, "csv")


def test_mlflow_key_spells_out_at() -> None:
    assert mlflow_key("mMP@5") == "mMP_at_5" and mlflow_key("map_at_r") == "map_at_r" and mlflow_key("a:b") == "a_b"


def test_every_finished_run_goes_to_mlflow_with_the_databases_values(db: Path, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = (tmp_path / "mlruns").as_uri()
    assert export_mlflow(db, uri) == (2, 0)
    assert export_mlflow(db, uri) == (0, 2)  # idempotent: runs already there are skipped
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("ecombench")
    assert experiment is not None
    logged = {r.data.tags["ecombench.run_id"]: r for r in client.search_runs([experiment.experiment_id])}
    con = duckdb.connect(str(db), read_only=True)
    expected: dict[str, dict[str, float]] = {}
    for run_id, metric, value in con.execute("SELECT run_id, metric, value FROM results").fetchall():
        expected.setdefault(run_id, {})[metric] = value
    rows = {r[0]: r[1:] for r in con.execute("SELECT run_id, model, git_sha, random_init FROM runs").fetchall()}
    con.close()
    assert set(logged) == set(expected)  # the failed run is not exported
    for run_id, run in logged.items():
        assert run.data.metrics == expected[run_id]
        model, git_sha, random_init = rows[run_id]
        assert run.data.params["model"] == model and run.data.params["params.backend"] == "exact"
        assert "seed" not in run.data.params  # these cells train nothing: no seed (not "None", not a made-up 0)
        assert run.data.tags["git_sha"] == git_sha == "abc" and run.data.tags["random_init"] == str(random_init).lower()
        assert run.data.tags["cpu"] == "test cpu" and "provenance.cpu" not in run.data.tags  # one copy of each
        assert run.info.status == "FINISHED"
        artifacts = {a.path for a in client.list_artifacts(run_id=run.info.run_id)}
        assert artifacts == {"report.md", "run.json"}
        record = json.loads(Path(client.download_artifacts(run.info.run_id, "run.json", str(tmp_path))).read_text())
        assert record["run_id"] == run_id and record["metrics"] == expected[run_id]


@pytest.mark.slow
def test_cli_export(db: Path, tmp_path: Path) -> None:
    done = run_cli("export", "csv", str(tmp_path / "csv"), "--db", str(db), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "csv").iterdir()) == ["cost_ledger.csv", "results.csv", "runs.csv"]
    done = run_cli("export", "mlflow", "--db", str(db), cwd=tmp_path)  # default: a file store in ./mlruns
    assert done.returncode == 0, done.stderr
    assert "logged 2 run(s) to MLflow" in done.stdout and (tmp_path / "mlruns").is_dir()
    done = run_cli("export", "parquet", "--db", str(db), cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.strip().startswith("error: export parquet needs an OUT folder")
