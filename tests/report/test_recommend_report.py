"""The report's "How well the shortcuts predicted this grid" from a real DuckDB: stored signals scored against the
grid by scipy, the replays recommend --evaluate stored, and no section where there is nothing to show."""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime
from pathlib import Path

import pytest
from scipy import stats

from harness.report import shortcuts
from harness.report.data import Filters, load
from harness.report.render import render
from harness.spec.cells import Cell
from harness.storage.store import ingest, record_shortcut_scores
from support import cell_run_id, make_shard

GRID = {"pixels:2": 0.30, "pixels:4": 0.55, "pixels:8": 0.60, "pixels:16": 0.58}
# the stored signals: k-NN accuracy ranks 16 > 8 > 4 > 2 (the grid's top two swapped), LogME puts pixels:2 first
KNN = {"pixels:2": 0.2, "pixels:4": 0.5, "pixels:8": 0.6, "pixels:16": 0.7}
LOGME = {"pixels:2": 0.9, "pixels:4": 0.1, "pixels:8": 0.3, "pixels:16": 0.2}


def signals_shard(model: str, dataset: str, values: dict[str, float]):  # type: ignore[no-untyped-def]
    cell = Cell(model, dataset, "pretrained", "signals", {"split": "test", "per_class": 5, "sample_seed": 0})
    shard = make_shard(model, dataset, values, finished_at="2026-11-26T10:00:06+00:00")  # 6 s against retrieval's 60
    return dataclasses.replace(shard, cell=cell, run_id=cell_run_id(cell))


def grid_db(tmp_path: Path) -> Path:
    db = tmp_path / "r.duckdb"
    shards = [make_shard(m, "digits", {"mmp_at_5": v}) for m, v in GRID.items()]
    shards += [signals_shard(m, "digits", {"knn_accuracy": KNN[m], "logme": LOGME[m]}) for m in GRID]
    shards.append(make_shard("pixels:2", "other", {"mmp_at_5": 0.4}))  # one model: nothing to rank there
    ingest(db, shards)
    return db


def test_stored_signals_are_scored_against_the_grid_by_scipy(tmp_path: Path) -> None:
    rows = {r.score.method: r for r in shortcuts.shortcuts(grid_db(tmp_path))}
    assert set(rows) == {"knn_accuracy", "logme"}  # no hscore stored, no other dataset with two models
    models = list(GRID)
    for name, signal in (("knn_accuracy", KNN), ("logme", LOGME)):
        row = rows[name]
        truth, predicted = [GRID[m] for m in models], [signal[m] for m in models]
        assert row.score.tau == pytest.approx(stats.kendalltau(predicted, truth).statistic)
        assert row.score.weighted_tau == pytest.approx(stats.weightedtau(predicted, truth).statistic)
        assert (row.dataset, row.source, row.candidates) == ("digits", "stored signals", 4)
        assert row.score.fraction == pytest.approx(4 * 6 / (4 * 60))
    assert rows["knn_accuracy"].score.tau == pytest.approx(4 / 6)  # 5 concordant pairs of 6, one discordant
    assert rows["knn_accuracy"].score.choice == "pixels:16"
    assert rows["knn_accuracy"].score.regret == pytest.approx(0.02)
    assert (rows["logme"].score.choice, rows["logme"].score.regret) == ("pixels:2", pytest.approx(0.30))
    assert shortcuts.shortcuts(tmp_path / "r.duckdb", Filters(dataset="other")) == []


def test_replays_and_signals_in_both_reports_and_no_section_without_them(tmp_path: Path) -> None:
    db = grid_db(tmp_path)
    at = datetime(2026, 12, 1, 12, 0)
    record_shortcut_scores(db, "digits", [("racing", 4, 1.0, 1.0, 0.0, "pixels:8", 0.07),
                                          ("hscore", 4, math.nan, math.nan, 0.3, "pixels:2", 0.05)], at)  # fmt: skip
    rows = shortcuts.shortcuts(db)
    assert [(r.score.method, r.source) for r in rows] == [
        ("racing", "replay"), ("hscore", "replay"), ("knn_accuracy", "stored signals"), ("logme", "stored signals")
    ]  # fmt: skip
    assert rows[1].shown == {"tau": "n/a", "weighted_tau": "n/a", "regret": "0.3000", "fraction": "5.0 %"}
    data = load(db)
    md = render("md", db, data, checks=[])
    assert "## How well the shortcuts predicted this grid" in md
    assert "| `digits` | racing | replay | 4 | 1.000 | 1.000 | 0.0000 | `pixels:8` | 7.0 % |" in md
    assert "| `digits` | knn_accuracy | stored signals | 4 | 0.667 |" in md
    html = render("html", db, data, checks=[])
    assert '<h2 id="shortcuts">How well the shortcuts predicted this grid</h2>' in html

    plain = tmp_path / "plain.duckdb"
    ingest(plain, [make_shard(m, "digits", {"mmp_at_5": v}) for m, v in GRID.items()])
    assert "How well the shortcuts" not in render("md", plain, load(plain), checks=[])
    assert "How well the shortcuts" not in render("html", plain, load(plain), checks=[])
