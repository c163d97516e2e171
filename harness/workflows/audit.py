"""``ecombench audit``: re-run a sample of finished cells from their stored rerun commands and compare.

Each sampled run's command (harness.report.rerun, exactly what the report prints) runs in its own process in a
scratch workdir with a scratch database, so nothing cached is reused: embeddings are extracted, heads trained
and searches run again. Every metric of the rerun is then compared with the stored one: identical on the CPU
(both the stored run and the audit on ``cpu``: tolerance 0), within ``tolerance`` (absolute) otherwise. Cost
figures (times, throughputs, memory, prices: registry kind "cost") measure the machine, not the model, and are
not compared. The audit's rows go to the ``audits`` table (harness.storage.store); the report shows the last one.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from harness.core.errors import HarnessError
from harness.report.rerun import rerun_command
from harness.spec.metrics import METRICS
from harness.storage.store import connect, record_audit

#: absolute tolerance where the stored run or the audit did not run on the CPU
DEFAULT_TOLERANCE = 1e-4
DEFAULT_SAMPLE = 3
#: a metric of kind cost is not compared (it measures the machine); a metric the rerun lacks is "missing"
STATUSES = ("identical", "within", "differs", "missing", "not compared", "error")
#: counts that describe the workdir the cell ran in, not its result: a grid's second cell on the same embeddings
#: finds them cached (1) where the audit's scratch workdir computes them afresh (0), so they are not compared
STATE = frozenset({"embeddings_cached"})

FINISHED = """
    SELECT run_id, model, dataset, strategy, suite, params, device FROM runs
    WHERE status = 'ok' AND (?::VARCHAR IS NULL OR suite = ?)
    ORDER BY run_id
"""


@dataclass(frozen=True)
class Comparison:
    run_id: str
    label: str  # model / dataset / strategy / suite
    metric: str
    stored: float | None
    audited: float | None
    tolerance: float
    status: str
    note: str = ""


def sample_runs(db: Path, n: int, seed: int = 0, suite: str | None = None) -> list[dict[str, Any]]:
    """``n`` finished runs (all of them when fewer), drawn reproducibly by ``seed`` from the run ids' order."""
    if n < 1:
        raise HarnessError(f"--sample {n}: expected at least 1 cell to audit")
    con = connect(db, read_only=True)
    try:
        cursor = con.execute(FINISHED, [suite, suite])
        names = [d[0] for d in cursor.description or []]
        runs = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()
    if not runs:
        raise HarnessError(f"'{db}' has no finished run to audit" + (f" in suite '{suite}'" if suite else ""))
    picked = np.random.default_rng(seed).choice(len(runs), size=min(n, len(runs)), replace=False)
    return [runs[i] for i in sorted(picked)]


def rerun(run: dict[str, Any], scratch: Path, device: str) -> tuple[dict[str, float], str, str]:
    """Run the stored command in ``scratch``; returns (the rerun's metrics, its run id, an error or "")."""
    import json

    params = json.loads(run["params"]) if isinstance(run["params"], str) else dict(run["params"])
    words = shlex.split(rerun_command(run["model"], run["dataset"], run["suite"], run["strategy"], params))
    command = [sys.executable, "-m", "harness.cli", *words[1:], "--workdir", str(scratch / "work")]
    command += ["--db", str(scratch / "audit.duckdb"), "--device", device]
    done = subprocess.run(command, capture_output=True, text=True, cwd=scratch)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        return {}, "", lines[-1] if lines else f"exit code {done.returncode}"
    with duckdb.connect(str(scratch / "audit.duckdb"), read_only=True) as con:
        found = con.execute("SELECT run_id FROM runs WHERE status = 'ok'").fetchall()
        if len(found) != 1:
            return {}, "", f"the rerun left {len(found)} finished runs, expected 1"
        [(run_id,)] = found
        rows = con.execute("SELECT metric, value FROM metrics WHERE run_id = ?", [run_id]).fetchall()
    return {metric: float(value) for metric, value in rows}, run_id, ""


def compare(
    run: dict[str, Any], stored: dict[str, float], audited: dict[str, float], tolerance: float, rerun_id: str
) -> list[Comparison]:
    label = " / ".join(run[k] for k in ("model", "dataset", "strategy", "suite"))
    note = "" if rerun_id == run["run_id"] else f"the rerun's cell key is {rerun_id[:12]}: code or data changed"
    out = []
    for metric, value in sorted(stored.items()):
        kind = METRICS[metric].kind if metric in METRICS else "quality"
        got = audited.get(metric)
        if kind == "cost" or metric in STATE:
            status = "not compared"
        elif got is None:
            status = "missing"
        elif got == value:
            status = "identical"
        elif abs(got - value) <= tolerance:
            status = "within"
        else:
            status = "differs"
        out.append(Comparison(run["run_id"], label, metric, value, got, tolerance, status, note))
    return out


def audit(
    db: Path,
    sample: int = DEFAULT_SAMPLE,
    seed: int = 0,
    device: str = "cpu",
    tolerance: float = DEFAULT_TOLERANCE,
    suite: str | None = None,
) -> tuple[str, list[Comparison]]:
    """Re-run a sample of ``db``'s finished cells, compare, record in ``audits``; returns (audit id, rows)."""
    runs = sample_runs(db, sample, seed, suite)
    con = connect(db, read_only=True)
    try:
        query = "SELECT metric, value FROM metrics WHERE run_id = ?"
        stored = {r["run_id"]: dict(con.execute(query, [r["run_id"]]).fetchall()) for r in runs}
    finally:
        con.close()
    rows: list[Comparison] = []
    for run in runs:
        scratch = Path(tempfile.mkdtemp(prefix="ecombench-audit-"))
        try:
            audited, rerun_id, error = rerun(run, scratch, device)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        tol = 0.0 if run["device"] == "cpu" and device == "cpu" else tolerance
        if error:
            label = " / ".join(run[k] for k in ("model", "dataset", "strategy", "suite"))
            rows.append(Comparison(run["run_id"], label, "", None, None, tol, "error", error))
        else:
            rows.extend(compare(run, stored[run["run_id"]], audited, tol, rerun_id))
    audit_id = uuid.uuid4().hex[:16]
    record_audit(
        db,
        [(audit_id, c.run_id, c.metric, c.stored, c.audited, c.tolerance, c.status, device, c.note) for c in rows],
        datetime.now(UTC),
    )
    return audit_id, rows
