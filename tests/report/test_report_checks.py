"""The report's independent checks: every reference agrees on the fixed case, and the section is rendered."""

from pathlib import Path

from harness.report import render_markdown
from harness.report.checks import Check, run_checks
from harness.storage.store import ingest
from support import make_shard


def test_every_reference_agrees_on_the_fixed_case() -> None:
    checks = run_checks()
    references = {c.reference.split()[0] for c in checks}
    assert {"pytorch-metric-learning", "faiss", "scikit-learn", "normal"} <= references  # dev deps present here
    assert [c.what for c in checks if c.status != "agrees"] == []
    assert Check("x", "y", 0.5, 0.51, 0.001).status == "DIFFERS" and Check("x", "y", 0.5, None, 0).status == "skipped"


def test_report_has_the_checks_section(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    ingest(db, [make_shard("timm:a", "digits", {"mmp_at_5": 0.5, "recall_at_1": 0.5})])
    text = render_markdown(db, tmp_path / "report.md").read_text()
    section = text.split("## How these numbers are checked")[1].split("## Metric definitions")[0]
    assert "| pytorch-metric-learning AccuracyCalculator | MAP@R (mean_average_precision_at_r) |" in section
    assert section.count("| agrees (±") == len(run_checks())


def test_an_absent_reference_is_skipped_with_a_note(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from harness.report import checks

    case = checks._retrieval_case()
    monkeypatch.setattr(checks, "_missing", lambda module: module == "faiss")
    [ranking] = checks._faiss(case)
    pml = checks._pml(case)  # its kNN needs faiss too
    assert ranking.status == "skipped" and "dev dependency" in ranking.note
    assert {c.status for c in pml} == {"skipped"} and all(c.ours is not None for c in pml)
