"""``ecombench recommend`` end to end: real images, real forward passes, a real grid in a real DuckDB replayed
from its embedding cache; a clear winner, a tie said as one, a budget that runs out, the tuning check."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest

from harness.compute.selection import racing
from harness.compute.selection.racing import RaceConfig
from harness.compute.selection.sampling import nested_sample, stratified_order
from harness.compute.selection.signals import SIGNALS
from harness.core.errors import HarnessError
from harness.spec.settings import Extraction, Settings
from harness.storage.store import connect
from harness.workflows import recommend as workflow
from support import run_cli

DATASET = "digits[per_class=24]"
GRID = f"""
[grid]
models = ["pixels:2", "pixels:4", "pixels:8"]
datasets = ["{DATASET}"]
suites = ["retrieval", "signals"]

[params.retrieval]
backend = "exact"

[params.signals]
per_class = 4
"""


def _test_items():  # type: ignore[no-untyped-def]
    from harness.compute.datasets import resolve_dataset

    manifest = resolve_dataset(DATASET).manifest()
    return [manifest.items[i] for i in manifest.indices("test")]


def settings(tmp_path: Path) -> Settings:
    return Settings(workdir=tmp_path / "work", db=tmp_path / "results.duckdb", extraction=Extraction(workers=0))


@pytest.mark.slow
def test_racing_on_real_embeddings_recommends_and_measures_the_tuning_gain(tmp_path):
    rec = workflow.recommend(["pixels:2", "pixels:8"], DATASET, settings(tmp_path), RaceConfig(first_per_class=4),
                             tune_preset="smoke", tune_top=1)  # fmt: skip
    assert (rec.race.outcome, rec.race.leader) == (racing.WINNER, "pixels:8")
    assert rec.race.stages[0].standings[1].verdict == "worse"
    assert rec.race.images == 2 * 40  # 10 classes x 4 images x 2 candidates, once each
    assert rec.grid_estimate_s and rec.fraction is not None and rec.fraction > 0
    assert set(rec.signals["pixels:8"]) == {"knn_accuracy", "logme", "hscore", "hscore_shrunk"}
    assert rec.signals["pixels:8"]["knn_accuracy"] > rec.signals["pixels:2"]["knn_accuracy"]
    (gain,) = rec.tuning
    assert gain.candidate == "pixels:8" and gain.low <= gain.gain <= gain.high and gain.seconds > 0
    assert gain.gain == pytest.approx(gain.tuned - gain.frozen)
    (prediction,) = rec.finetune  # the results database holds no tuned cells of pixels:8: nothing to fit
    assert (prediction.candidate, prediction.pairs, prediction.predicted) == ("pixels:8", 0, None)
    from harness.report.recommend import render_recommend

    assert "| `pixels:8` | 0 | no data to predict | | | |" in render_recommend(rec)


@pytest.mark.slow
def test_the_cli_says_tied_and_says_when_the_budget_ran_out(tmp_path):
    # --fraction 1: the default tenth of the grid's device time would stop the race before the whole split
    same = run_cli("recommend", "--dataset", DATASET, "--models", "pixels:4,pixels:4[mode=L]", "--fraction", "1",
                   "--first-per-class", "8", "--workdir", "w", "--out", "tied.md", cwd=tmp_path)  # fmt: skip
    assert same.returncode == 0, same.stderr
    assert "tied (not separable on the whole split): pixels:4" in same.stdout
    assert "could not be separated from: pixels:4[mode=L]" in same.stdout
    assert "**Tied**" in (tmp_path / "tied.md").read_text()

    poor = run_cli("recommend", "--dataset", DATASET, "--models", "pixels:4,pixels:4[mode=L],pixels:8",
                   "--budget", "0.001s", "--workdir", "w", "--out", "budget.md", cwd=tmp_path)  # fmt: skip
    assert poor.returncode == 0, poor.stderr
    assert "budget spent; leading:" in poor.stdout
    assert "**Budget spent**" in (tmp_path / "budget.md").read_text()

    bad = run_cli("recommend", "--dataset", DATASET, "--models", "pixels:4", "--budget", "2x", cwd=tmp_path)
    assert bad.returncode == 2 and "--budget '2x': expected a positive duration such as 2h, 30m or 90s" in bad.stderr


@pytest.mark.slow
def test_evaluate_replays_a_finished_grid_from_its_cached_embeddings(tmp_path):
    (tmp_path / "grid.toml").write_text(GRID)
    grid = run_cli("grid", "grid.toml", "--workdir", "w", "--db", "r.duckdb", cwd=tmp_path)
    assert grid.returncode == 0, grid.stderr
    with duckdb.connect(str(tmp_path / "r.duckdb"), read_only=True) as con:
        truth = dict(con.execute("SELECT model, value FROM results WHERE metric = 'mmp_at_5'").fetchall())
        stored = con.execute("SELECT model, metric, value FROM results WHERE suite = 'signals'").fetchall()
    assert len(truth) == 3
    signals = {(model, metric): value for model, metric, value in stored}
    assert {metric for _, metric in signals} == {*SIGNALS, "signal_images"}

    cells = workflow.finished_grids(tmp_path / "r.duckdb", tmp_path / "w")
    assert list(cells) == [DATASET] and {c.model: c.value for c in cells[DATASET]} == truth
    # the stored signals are the selection module's on the first-stage sample of the cached embeddings
    labels = np.array([item.label for item in _test_items()])
    first = nested_sample(stratified_order(labels, 0), 4)
    for cell in cells[DATASET]:
        assert signals[(cell.model, "signal_images")] == len(first) == 40
        for name, signal in SIGNALS.items():
            assert signals[(cell.model, name)] == pytest.approx(signal(cell.vectors[first], labels[first]))
    (replay,) = workflow.evaluate(tmp_path / "r.duckdb", tmp_path / "w", RaceConfig(first_per_class=4), 0.5)
    scores = {s.method: s for s in replay.scores}
    with duckdb.connect(str(tmp_path / "r.duckdb"), read_only=True) as con:
        kept = con.execute("SELECT method, choice, regret, candidates FROM shortcut_scores ORDER BY method").fetchall()
    assert kept == sorted((s.method, s.choice, pytest.approx(s.regret), 3) for s in replay.scores)
    assert set(scores) == {"racing", "knn_accuracy", "logme", "hscore", "hscore_shrunk"}
    best = max(truth.values())
    for score in scores.values():
        assert score.regret == pytest.approx(best - truth[score.choice])
        assert 0 < score.fraction <= 0.5 + 1e-9
    # the grid's own order: pixels:2 is the worst of the three on digits
    assert scores["racing"].choice != "pixels:2"

    cli = run_cli("recommend", "--evaluate", "--db", "r.duckdb", "--workdir", "w", "--out", "eval.md", cwd=tmp_path)
    assert cli.returncode == 0, cli.stderr
    assert "How well the shortcuts predicted this grid" in cli.stdout
    section = (tmp_path / "eval.md").read_text()
    assert section.count(f"| `{DATASET}` |") == 5
    report = run_cli("report", "--db", "r.duckdb", "--out", "out", "--format", "md", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    shown = (tmp_path / "out" / "report.md").read_text().split("## How well the shortcuts predicted this grid")[1]
    assert shown.count(" | replay | 3 | ") == 5 and shown.count(" | stored signals | 3 | ") == 4


def test_evaluate_without_a_grid_says_what_it_needs(tmp_path):
    connect(tmp_path / "r.duckdb").close()  # a real, empty results database
    with pytest.raises(HarnessError, match=r"no finished grid to replay in .*r.duckdb': needs pre-trained retrieval"):
        workflow.evaluate(tmp_path / "r.duckdb", tmp_path / "w", RaceConfig(), 0.1)


def test_replay_on_known_values_scores_racing_and_signals():
    labels = np.repeat(np.arange(4), 10)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 6)) * 3
    cells = [
        workflow._Cell(name, value, 10.0, (centres[labels] + rng.normal(size=(40, 6)) * spread).astype(np.float32))
        for name, value, spread in [("sharp", 0.9, 0.3), ("blurry", 0.5, 3.0), ("noise", 0.1, 30.0)]
    ]
    replay = workflow.replay("toy", cells, labels, RaceConfig(first_per_class=3), fraction=1.0)
    racing_score = replay.scores[0]
    assert (racing_score.method, racing_score.choice, racing_score.regret) == ("racing", "sharp", 0.0)
    assert replay.grid_seconds == 30.0


def _tuned_shard(model: str, dataset: str, strategy: str, mmp: float, **extra: float):  # type: ignore[no-untyped-def]
    import dataclasses

    from harness.spec.cells import Cell
    from support import cell_run_id, make_shard

    cell = Cell(model, dataset, strategy, "retrieval", {"backend": "exact", "split": "test", "tuned": strategy})
    shard = make_shard(model, dataset, {"mmp_at_5": mmp, **extra}, finished_at="2026-11-26T10:30:00+00:00")
    return dataclasses.replace(shard, cell=cell, run_id=cell_run_id(cell))


def test_the_fine_tune_gain_is_predicted_from_the_grid_s_pairs_or_said_unpredictable(tmp_path):
    from harness.compute.selection.tuning import predict_finetune_gain
    from harness.storage.store import ingest

    db = tmp_path / "r.duckdb"
    # pixels:8: top-tune gains 0.1 and 0.2, fine-tune gains 0.3 and 0.5 on two other datasets; the evaluated
    # dataset's own cells and a dataset lacking the fine-tuned cell do not count; pixels:2 has no fine-tune at all
    cells = {"a": (0.5, 0.6, 0.8), "b": (0.4, 0.6, 0.9), DATASET: (0.1, 0.9, 0.9)}
    strategies = ("pretrained", "toptuned", "finetuned")
    shards = []
    for d, values in cells.items():
        for s, v in zip(strategies, values, strict=True):
            cost = {"finetune_s": 1800.0 * (1 + (d == "b"))} if s == "finetuned" else {}
            shards.append(_tuned_shard("pixels:8", d, s, v, **cost))
    shards += [_tuned_shard("pixels:8", "c", "pretrained", 0.2), _tuned_shard("pixels:8", "c", "toptuned", 0.3)]
    shards += [_tuned_shard("pixels:2", "a", "pretrained", 0.2), _tuned_shard("pixels:2", "a", "toptuned", 0.3)]
    ingest(db, shards)

    pairs, seconds = workflow.grid_tuning_gains(db, "pixels:8", DATASET)
    assert pairs == [pytest.approx((0.1, 0.3)), pytest.approx((0.2, 0.5))] and seconds == [1800.0, 3600.0]
    predicted = predict_finetune_gain("pixels:8", 0.05, pairs, seconds)
    ratio = (0.1 * 0.3 + 0.2 * 0.5) / (0.1**2 + 0.2**2)  # least squares through the origin: 2.6
    assert (predicted.pairs, predicted.ratio) == (2, pytest.approx(ratio))
    assert predicted.predicted == pytest.approx(0.05 * ratio)
    assert predicted.gain_per_device_hour == pytest.approx(0.05 * ratio / 0.75)  # mean fine-tune: 2700 s

    none = predict_finetune_gain("pixels:2", 0.05, *workflow.grid_tuning_gains(db, "pixels:2", DATASET))
    assert (none.pairs, none.predicted, none.gain_per_device_hour) == (0, None, None)
    assert workflow.grid_tuning_gains(tmp_path / "absent.duckdb", "pixels:8", DATASET) == ([], [])
