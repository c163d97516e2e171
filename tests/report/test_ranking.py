"""One ranking across datasets: mean ranks (ties averaged), their bootstrap interval over datasets, win rates,
the complete block, and the report sections, against hand-computed cases."""

from pathlib import Path

import numpy as np
import pytest

from harness.report import ranking
from harness.report.data import load
from harness.report.render import render
from harness.storage.store import ingest
from support import make_shard

#: mMP@5 per model on digits, synthetic and sop
GRID = {"a": [0.5, 0.6, 0.7], "b": [0.4, 0.65, 0.7], "c": [0.3, 0.2, 0.1]}
DATASETS = ["digits", "synthetic", "sop:/data/sop"]


def _db(tmp_path: Path, grid: dict[str, list[float | None]], datasets: list[str] = DATASETS) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    db = tmp_path / "r.duckdb"
    shards = [
        make_shard(f"timm:{model}", dataset, {"mmp_at_5": value, "recall_at_1": 0.5}, random_init=False)
        for model, values in grid.items()
        for dataset, value in zip(datasets, values, strict=True)
        if value is not None
    ]
    ingest(db, shards)
    return db


def test_ranks_average_ties() -> None:
    scores = np.array([[0.5, 0.6, 0.7], [0.4, 0.65, 0.7], [0.3, 0.2, 0.1]])
    assert ranking.ranks(scores).tolist() == [[1.0, 2.0, 1.5], [2.0, 1.0, 1.5], [3.0, 3.0, 3.0]]


def test_win_rates_count_ties_half() -> None:
    rates = ranking.win_rates(np.array([[0.5, 0.6, 0.7], [0.4, 0.65, 0.7], [0.3, 0.2, 0.1]]))
    # a over b: digits won, synthetic lost, sop tied -> (1 + 0 + 0.5) / 3
    assert rates[0, 1] == pytest.approx(0.5) and rates[1, 0] == pytest.approx(0.5)
    assert rates[0, 2] == 1.0 and rates[2, 0] == 0.0
    assert np.isnan(np.diag(rates)).all()
    off = ~np.eye(3, dtype=bool)
    assert np.allclose((rates + rates.T)[off], 1.0)  # a over b plus b over a is every dataset


def test_bootstrap_interval_over_two_datasets_by_hand() -> None:
    # ranks 1 and 2 on two datasets: a resample's mean is 1 (both draws the first, p 1/4), 1.5 (p 1/2) or 2
    # (p 1/4), so the 2.5% and 97.5% quantiles are 1 and 2; a model ranked 1 everywhere has [1, 1]
    low, high = ranking.bootstrap_mean_ranks(np.array([[1.0, 2.0], [1.0, 1.0]]), n_resamples=4000)
    assert low.tolist() == [1.0, 1.0] and high.tolist() == [2.0, 1.0]
    again = ranking.bootstrap_mean_ranks(np.array([[1.0, 2.0, 3.0], [3.0, 1.0, 2.0]]))
    assert [a.tolist() for a in again] == [
        a.tolist() for a in ranking.bootstrap_mean_ranks(np.array([[1.0, 2.0, 3.0], [3.0, 1.0, 2.0]]))
    ]  # seeded: the same interval every time


def test_rankings_from_a_database(tmp_path: Path) -> None:
    (r,) = ranking.rankings(load(_db(tmp_path, GRID)))
    assert r.strategy == "pretrained" and r.metric == "mMP@5" and sorted(r.datasets) == sorted(DATASETS)
    assert [(m.model, m.mean_rank) for m in r.ranked] == [("timm:a", 1.5), ("timm:b", 1.5), ("timm:c", 3.0)]
    assert (r.ranked[2].low, r.ranked[2].high) == (3.0, 3.0)
    assert r.ranked[0].low == 1.0 and r.ranked[0].high == 2.0
    assert r.wins[0] == [None, pytest.approx(0.5), 1.0] and r.wins[2] == [0.0, 0.0, None]
    assert r.dropped_models == [] and r.dropped_datasets == []


def test_the_block_drops_what_is_most_missing(tmp_path: Path) -> None:
    # d ran on digits only (2 missing): d goes; then the block is complete
    grid: dict[str, list[float | None]] = {**GRID, "d": [0.9, None, None]}
    (r,) = ranking.rankings(load(_db(tmp_path / "1", grid)))
    assert r.dropped_models == ["timm:d"] and len(r.datasets) == 3
    # sop run by a only (2 of 3 missing): sop goes, every model stays
    grid = {"a": [0.5, 0.6, 0.7], "b": [0.4, 0.65, None], "c": [0.3, 0.2, None]}
    (r,) = ranking.rankings(load(_db(tmp_path / "2", grid)))
    assert r.dropped_datasets == ["sop:/data/sop"] and r.models == ["timm:a", "timm:b", "timm:c"]
    # one dataset only: nothing to rank
    assert ranking.rankings(load(_db(tmp_path / "3", {"a": [0.5], "b": [0.4]}, ["digits"]))) == []


def test_report_sections(tmp_path: Path) -> None:
    db = _db(tmp_path, GRID)
    data = load(db)
    md = render("md", db, data, checks=[])
    section = md.split("## One ranking across datasets")[1].split("\n## ")[0]
    assert "### pretrained: mean rank by mMP@5 over 3 datasets" in section
    assert "| 3 | `timm:c` | 3.00 | [3.00, 3.00] |" in section.replace("\\[", "[").replace("\\]", "]")
    assert "| 1 | — | 0.50 | 1.00 |" in section and "1000 resamples, seed 0" in section
    html = render("html", db, data, checks=[])
    assert 'id="ranking"' in html and '<table class="wins">' in html and "1.50" in html
    empty = _db(tmp_path / "e", {"a": [0.5], "b": [0.4]}, ["digits"])
    assert "nothing to rank across datasets" in render("html", empty, load(empty), checks=[])
