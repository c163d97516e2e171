"""Exports of the results database for the tools a team already has: Parquet/CSV files and MLflow.

- ``export_tables``: the ``results`` and ``cost_ledger`` views and the ``runs`` table, each one file, written
  by DuckDB's own ``COPY`` (no pandas round trip; types and JSON columns as DuckDB writes them).
- ``export_mlflow``: every finished (status ``ok``) run as one MLflow run, as the paper's dashboard had them:
  the cell and its suite parameters as params, every metric, the provenance as tags, and the run's full
  database row plus the Markdown report as artifacts. Re-exporting skips runs already in the experiment
  (tag ``ecombench.run_id``), so it can run after every grid.
- ``export_ann_hdf5``: one cell's embeddings with their exact neighbours in ann-benchmarks' HDF5 layout
  (``train``, ``test``, ``neighbors``, ``distances``; attributes ``distance = "angular"``, ``point_type``,
  ``dimension``), so a team can benchmark its own index on real product embeddings (details below).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.errors import HarnessError
from harness.core.io import atomic_path
from harness.storage import store
from harness.storage.workdir import Workdir

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


# --- ann-benchmarks HDF5 ------------------------------------------------------------------------------------
#: exact neighbours per query, as ann-benchmarks' own files have them
ANN_NEIGHBOURS = 100
#: queries held out of the evaluation split by default (at most half of it)
ANN_QUERIES = 1000
#: suites whose cell embeds the evaluation split with the backbone alone (pre-trained: no head, no new weights)
ANN_SUITES = ("retrieval", "compression", "leakage")


def export_ann_hdf5(
    db: Path, workdir: Path, run_id: str, out: Path, queries: int = ANN_QUERIES, seed: int = 0
) -> tuple[Path, dict[str, int]]:
    """Write ``out/<run_id>.hdf5``: the pre-trained cell's evaluation-split embeddings (L2-normalised, float32),
    ``queries`` of them drawn (seeded) as ``test`` and the rest as ``train``, with each test vector's
    ``ANN_NEIGHBOURS`` exact nearest train vectors by cosine distance 1 - cos (ann-benchmarks' "angular";
    ties broken by train position) in ``neighbors`` (int32) and ``distances`` (float32). Also ``train_index``
    / ``test_index`` (positions within the split, manifest order), ``train_labels`` / ``test_labels`` where the
    dataset resolves here, and the cell's provenance as attributes. Returns (path, sizes)."""
    import h5py

    from harness.compute.extract.vectors import l2_normalise

    run = _ann_run(db, run_id)
    split = str(json.loads(run["params"] or "{}").get("split", "test"))
    vectors = l2_normalise(np.asarray(_cached_embeddings(workdir, run, split), dtype=np.float32))
    n = len(vectors)
    if queries < 1 or n < 4:
        raise HarnessError(f"export hdf5: --queries must be >= 1 and the split must hold 4 vectors or more (has {n})")
    n_test = min(queries, n // 2)
    order = np.random.default_rng(seed).permutation(n)
    test_index, train_index = np.sort(order[:n_test]), np.sort(order[n_test:])
    train, test = vectors[train_index], vectors[test_index]
    neighbours, distances = exact_angular(train, test, min(ANN_NEIGHBOURS, len(train)))
    labels = _labels(run["dataset"], split, n)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{run_id}.hdf5"
    with atomic_path(path, suffix=".hdf5") as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update(type="dense", distance="angular", point_type="float", dimension=vectors.shape[1])
        f.attrs.update({f"ecombench_{k}": str(run[k]) for k in ("run_id", "model", "dataset", "weights_digest",
                                                                  "manifest_digest")})  # fmt: skip
        f.attrs.update(ecombench_split=split, ecombench_seed=seed)
        f.create_dataset("train", data=train)
        f.create_dataset("test", data=test)
        f.create_dataset("neighbors", data=neighbours.astype(np.int32))
        f.create_dataset("distances", data=distances.astype(np.float32))
        f.create_dataset("train_index", data=train_index.astype(np.int64))
        f.create_dataset("test_index", data=test_index.astype(np.int64))
        if labels is not None:
            f.create_dataset("train_labels", data=labels[train_index])
            f.create_dataset("test_labels", data=labels[test_index])
    return path, {"train": len(train), "test": len(test), "neighbours": neighbours.shape[1]}


def exact_angular(train: np.ndarray, test: np.ndarray, k: int, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(ids, 1 - cos) of each test vector's ``k`` nearest train vectors (unit-norm), nearest first, ties by id."""
    ids = np.empty((len(test), k), dtype=np.int64)
    dists = np.empty((len(test), k), dtype=np.float64)
    gallery = train.astype(np.float64)
    for start in range(0, len(test), chunk):
        d = 1.0 - test[start : start + chunk].astype(np.float64) @ gallery.T
        # a stable sort of each row: equal distances keep the lower train id first
        top = np.argsort(d, axis=1, kind="stable")[:, :k]
        ids[start : start + chunk] = top
        dists[start : start + chunk] = np.take_along_axis(d, top, axis=1)
    return ids, dists


def _ann_run(db: Path, run_id: str) -> dict[str, Any]:
    con = store.connect(db, read_only=True)
    try:
        cursor = con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id])
        columns = [d[0] for d in cursor.description]
        row = cursor.fetchone()
    finally:
        con.close()
    if row is None:
        raise HarnessError(
            f"export hdf5: no run '{run_id}' in '{db}' (`ecombench prune --model MODEL`, a dry run, lists run ids)"
        )
    run = dict(zip(columns, row, strict=True))
    if run["status"] != "ok" or run["strategy"] != "pretrained" or run["suite"] not in ANN_SUITES:
        raise HarnessError(
            f"export hdf5: run '{run_id}' is a {run['status']} {run['strategy']} {run['suite']} cell; only a finished "
            f"pre-trained cell of the {', '.join(ANN_SUITES)} suites is exported (a tuned cell's vectors come from a "
            "head or weights the embedding cache does not keep)"
        )
    return run


def _cached_embeddings(workdir: Path, run: dict[str, Any], split: str) -> np.ndarray:
    """The embedding-cache entry the run read: same model, dataset, split, weights and manifest digests."""
    folder = Workdir.of(workdir).embeddings
    precision = str(json.loads(run["params"] or "{}").get("precision", "fp32"))
    found = []
    for sidecar in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            meta = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            continue
        wanted = (run["model"], run["dataset"], split, run["weights_digest"], run["manifest_digest"], precision)
        have = tuple(meta.get(k) for k in ("model", "dataset", "split", "weights", "manifest"))
        if (*have, meta.get("precision", "fp32")) == wanted and sidecar.with_suffix(".npy").is_file():
            found.append(sidecar.with_suffix(".npy"))
    if not found:
        raise HarnessError(
            f"export hdf5: no cached embeddings of run '{run['run_id']}' ({run['model']} on {run['dataset']}, split "
            f"{split}) in '{folder}': rerun the cell with this --workdir to compute them again"
        )
    newest = max(found, key=lambda p: p.stat().st_mtime)  # a GPU and a CPU entry differ in the last bits only
    return np.load(newest)


def _labels(dataset_id: str, split: str, n: int) -> np.ndarray | None:
    """The split's labels in manifest order, where the dataset resolves on this machine; else None."""
    from harness.compute.datasets import resolve_dataset

    try:
        manifest = resolve_dataset(dataset_id).manifest()
        labels = np.asarray(manifest.labels(manifest.indices(split)), dtype=np.int64)
    except (HarnessError, OSError):
        return None
    return labels if len(labels) == n else None
