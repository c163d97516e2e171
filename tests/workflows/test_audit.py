"""`ecombench audit`: finished cells re-run from their stored commands reproduce, and a tampered value is caught."""

from pathlib import Path

import duckdb
import pytest

from harness.core.errors import HarnessError
from harness.report import render_markdown
from harness.storage.store import ingest
from support import make_shard, run_cli

CELL = ["--model", "pixels:4", "--dataset", "digits[per_class=12]", "--backend", "exact"]


@pytest.mark.slow
def test_audit_reproduces_then_catches_a_tampered_value(tmp_path: Path) -> None:
    assert run_cli("run", *CELL, cwd=tmp_path).returncode == 0
    db = tmp_path / "results.duckdb"

    done = run_cli("audit", "--sample", "5", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (
        "identical" in done.stdout and "20 metrics compared, 0 did not hold" in done.stdout
    )  # embeddings_cached: not compared
    with duckdb.connect(str(db), read_only=True) as con:
        statuses = dict(con.execute("SELECT metric, status FROM audits").fetchall())
        interval = con.execute("SELECT status FROM audits WHERE metric = 'mmp_at_5_ci_low'").fetchone()
    assert statuses["mmp_at_5"] == statuses["n_queries"] == "identical"
    assert statuses["search_s"] == "not compared"  # a time measures the machine
    assert interval == ("identical",)  # the bootstrap is reproducible bit for bit

    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE metrics SET value = value + 0.01 WHERE metric = 'map_at_r'")
    tampered = run_cli("audit", cwd=tmp_path)
    assert tampered.returncode == 1 and "differs" in tampered.stdout
    text = render_markdown(db, tmp_path / "report.md").read_text()
    audit = text.split("**Last audit**")[1].split("## Metric definitions")[0]
    assert "0 of\n1 re-run cells reproduced" in audit
    assert r"| pixels:4 / digits\[per_class=12\] / pretrained / retrieval |" in audit  # Markdown-escaped


def test_audit_of_an_empty_database_is_a_clear_error(tmp_path: Path) -> None:
    from harness.workflows.audit import sample_runs

    db = tmp_path / "r.duckdb"
    ingest(db, [make_shard("timm:a", "digits", {}, status="error")])
    with pytest.raises(HarnessError, match="no finished run to audit"):
        sample_runs(db, 3)
    ingest(db, [make_shard(f"timm:{i}", "digits", {"mmp_at_5": 0.5}) for i in range(6)])
    first = [r["run_id"] for r in sample_runs(db, 3, seed=1)]
    assert first == [r["run_id"] for r in sample_runs(db, 3, seed=1)] and len(set(first)) == 3  # reproducible
    assert len(sample_runs(db, 50)) == 6


def test_a_cache_flag_is_not_compared() -> None:
    from harness.workflows.audit import compare

    run = {"run_id": "a" * 32, "model": "m", "dataset": "d", "strategy": "toptuned", "suite": "retrieval"}
    rows = compare(run, {"embeddings_cached": 1.0, "mmp_at_5": 0.5}, {"embeddings_cached": 0.0, "mmp_at_5": 0.5},
                   1e-4, "a" * 32)  # fmt: skip
    assert {r.metric: r.status for r in rows} == {"embeddings_cached": "not compared", "mmp_at_5": "identical"}
