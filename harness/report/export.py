"""Exports of the results database for the tools a team already has: Parquet/CSV files and MLflow.

- ``export_tables``: the ``results`` and ``cost_ledger`` views and the ``runs`` table, each one file, written
  by DuckDB's own ``COPY`` (no pandas round trip; types and JSON columns as DuckDB writes them).
- ``export_mlflow``: every finished (status ``ok``) run as one MLflow run, as the paper's dashboard had them:
  the cell and its suite parameters as params, every metric, the provenance as tags, and the run's full
  database row plus the Markdown report as artifacts. Re-exporting skips runs already in the experiment
  (tag ``ecombench.run_id``), so it can run after every grid.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError
from harness.storage import store

TABLES = ("results", "runs", "cost_ledger")
FORMATS = {"parquet": "(FORMAT parquet)", "csv": "(FORMAT csv, HEADER true)"}
EXPERIMENT = "ecombench"
RUN_ID_TAG = "ecombench.run_id"
#: MLflow keys allow letters, digits and ``_-. /``; '@' (as in mMP@5) is spelled out, anything else is '_'
_AT, _OTHER = re.compile("@"), re.compile(r"[^\w\-. /]")
MAX_VALUE = 5000  # MLflow's limit on a tag value (params: 6000)


def export_tables(db: Path, out: Path, fmt: str) -> list[Path]:
    """Write results, runs and cost_ledger to ``out/<name>.<fmt>``; returns the paths."""
    if fmt not in FORMATS:
        raise HarnessError(f"export format '{fmt}': expected one of {', '.join(FORMATS)} (or mlflow)")
    con = store.connect(db, read_only=True)
    try:
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for name in TABLES:
            path = out / f"{name}.{fmt}"
            con.execute(f"COPY (SELECT * FROM {name}) TO '{_sql_text(path)}' {FORMATS[fmt]}")
            paths.append(path)
        return paths
    finally:
        con.close()


def _sql_text(path: Path) -> str:
    return str(path).replace("'", "''")


def mlflow_key(name: str) -> str:
    """A metric or param name as MLflow accepts it: ``mMP@5`` -> ``mMP_at_5``."""
    return _OTHER.sub("_", _AT.sub("_at_", name))


def _millis(value: datetime | None) -> int | None:
    return int(value.timestamp() * 1000) if value is not None else None


def _text(value: Any, limit: int = MAX_VALUE) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def finished_runs(db: Path) -> list[dict[str, Any]]:
    """Every ``ok`` run as a dict of its columns, with its metrics under ``metrics``, oldest first."""
    con = store.connect(db, read_only=True)
    try:
        cursor = con.execute("SELECT * FROM runs WHERE status = 'ok' ORDER BY finished_at, run_id")
        columns = [d[0] for d in cursor.description]
        runs = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        metrics: dict[str, dict[str, float]] = {}
        for run_id, metric, value in con.execute(
            "SELECT run_id, metric, value FROM metrics ORDER BY metric"
        ).fetchall():
            metrics.setdefault(run_id, {})[metric] = value
    finally:
        con.close()
    for run in runs:
        run["metrics"] = metrics.get(run["run_id"], {})
    return runs


def _params(run: dict[str, Any]) -> dict[str, str]:
    params = {k: str(run[k]) for k in ("model", "dataset", "strategy", "suite")}
    if run["seed"] is not None:  # a cell that trains nothing has no seed (NULL), and MLflow gets none
        params["seed"] = str(run["seed"])
    for key, value in sorted(json.loads(run["params"] or "{}").items()):
        params[f"params.{mlflow_key(key)}"] = _text(value, 6000)
    return params


def _tags(run: dict[str, Any]) -> dict[str, str]:
    tags = {
        RUN_ID_TAG: run["run_id"],
        "mlflow.runName": f"{run['model']} | {run['dataset']} | {run['strategy']} | {run['suite']}",
        "random_init": str(bool(run["random_init"])).lower(),
    }
    for key in ("weights_digest", "manifest_digest", "git_sha", "harness_version", "lock_hash", "image_digest",
                "torch_version", "cuda_version", "device", "gpu", "cpu"):  # fmt: skip
        if run[key] is not None:
            tags[key] = _text(run[key])
    for key, value in sorted(json.loads(run["provenance"] or "{}").items()):
        if value is not None and key not in tags:  # the columns above are copies of provenance fields
            tags[f"provenance.{mlflow_key(key)}"] = _text(value)
    if run["preprocessing"]:
        tags["preprocessing"] = _text(run["preprocessing"])
    return tags


def tracking_uri_or_default(uri: str | None) -> str:
    """``--tracking-uri``, else ``$MLFLOW_TRACKING_URI``, else a file store in ``./mlruns``.

    mlflow-skinny (what the lock holds) speaks to file stores and MLflow servers (http/https), not to
    MLflow's own sqlite default. MLflow 3 keeps file stores behind an opt-in: naming one is that opt-in.
    """
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or Path("mlruns").absolute().as_uri()
    if uri.startswith("file:") or "://" not in uri:
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return uri


def export_mlflow(db: Path, tracking_uri: str | None, experiment: str = EXPERIMENT) -> tuple[int, int]:
    """Log every finished run not yet in the experiment; returns (logged, already there)."""
    runs = finished_runs(db)
    uri = tracking_uri_or_default(tracking_uri)
    from mlflow.exceptions import MlflowException

    try:
        return _log_runs(db, runs, uri, experiment)
    except MlflowException as exc:
        raise HarnessError(f"MLflow tracking store '{uri}': {exc.message}") from exc


def _log_runs(db: Path, runs: list[dict[str, Any]], uri: str, experiment: str) -> tuple[int, int]:
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    from harness.report import render_markdown

    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    done = {r.data.tags.get(RUN_ID_TAG) for r in client.search_runs([experiment_id], max_results=50_000)}
    todo = [run for run in runs if run["run_id"] not in done]
    if not todo:
        return 0, len(runs)
    with tempfile.TemporaryDirectory() as tmp:
        report = render_markdown(db, Path(tmp) / "report.md")
        for run in todo:
            record = Path(tmp) / "run.json"
            record.write_text(json.dumps(run, indent=2, default=str) + "\n")
            start, end = _millis(run["started_at"]), _millis(run["finished_at"])
            created = client.create_run(experiment_id, start_time=start, tags=_tags(run))
            run_id = created.info.run_id
            metrics = [Metric(mlflow_key(k), float(v), end or 0, 0) for k, v in sorted(run["metrics"].items())]
            params = [Param(k, v) for k, v in _params(run).items()]
            for at in range(0, max(len(metrics), 1), 1000):  # MLflow's batch limit: 1000 metrics
                client.log_batch(run_id, metrics=metrics[at : at + 1000], params=params if at == 0 else [])
            client.log_artifact(run_id, str(record))
            client.log_artifact(run_id, str(report))
            client.set_terminated(run_id, "FINISHED", end_time=end)
    return len(todo), len(runs) - len(todo)
