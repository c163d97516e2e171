"""Seeds in the report: a real two-seed grid (random-init backbone, top-tuned with the smallest preset) shows each
cell's mean ± sample standard deviation across seeds next to its bootstrap interval, computed by hand here, and
the audit of that grid reproduces every compared metric."""

import math
from pathlib import Path

import duckdb
import pytest

from harness.report import render_markdown
from harness.report.data import load
from harness.storage.store import ingest
from support import make_shard, run_cli

TWO_SEEDS = """
[grid]
models = ["timm:test_resnet[init=random]"]
datasets = ["digits[per_class=8]", "synthetic[classes=3,per_class=6,size=16]"]
strategies = ["pretrained", "toptuned"]
suites = ["retrieval"]
seeds = [0, 1]

[params.retrieval]
backend = "exact"
preset = "smoke"
"""


def test_single_seed_values_show_no_spread(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    ingest(db, [make_shard("timm:a", "digits", {"mmp_at_5": 0.5, "recall_at_1": 0.5})])
    (value,) = [v for row in load(db).tables[0].rows for v in row.values.values()][:1]
    assert value.seeds == () and value.spread == "" and value.seed_sd is None


@pytest.mark.slow
def test_two_seed_grid_shows_mean_and_sd_and_its_audit_holds(tmp_path: Path) -> None:
    (tmp_path / "grid.toml").write_text(TWO_SEEDS)
    done = run_cli("grid", "grid.toml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    db = tmp_path / "results.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT dataset, params->>'seed', value FROM results WHERE strategy = 'toptuned' AND metric = 'mmp_at_5'"
            " ORDER BY dataset, CAST(params->>'seed' AS INTEGER)"
        ).fetchall()
        pretrained_seeds = con.execute(
            "SELECT count(*) FROM results WHERE strategy = 'pretrained' AND params->>'seed' IS NOT NULL"
        ).fetchone()
    assert [(d.split("[")[0], s) for d, s, _ in rows] == [("digits", "0"), ("digits", "1"),
                                                          ("synthetic", "0"), ("synthetic", "1")]  # fmt: skip
    assert pretrained_seeds == (0,)  # nothing trains in a pre-trained retrieval cell: one run, no spread
    text = render_markdown(db, tmp_path / "report.md").read_text()
    table = text.split("## Paper table: toptuned")[1].split("\n## ")[0]
    for i in (0, 2):
        a, b = rows[i][2], rows[i + 1][2]
        mean = (a + b) / 2
        sd = math.sqrt(((a - mean) ** 2 + (b - mean) ** 2) / (2 - 1))  # sample sd, n - 1 = 1
        assert f"{mean:.4f} ± {sd:.4f} (2 seeds)" in table
    pretrained = text.split("## Paper table: pretrained")[1].split("\n## ")[0]
    assert "seeds)" not in pretrained
    assert "mean ± sample standard deviation across seeds" in text

    audit = run_cli("audit", "--sample", "6", cwd=tmp_path)
    assert audit.returncode == 0, audit.stderr
    assert "0 did not hold" in audit.stdout and "identical" in audit.stdout
