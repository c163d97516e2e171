"""The metric registry: every metric the real suites emit is declared, and the database's views follow it."""

from pathlib import Path

import duckdb
import numpy as np
import pytest

from harness.compute.suites import resolve_params
from harness.execute.runner import run_plan
from harness.plan.plan import make_plan
from harness.spec import metrics as metrics_registry
from harness.spec.cells import Cell
from harness.spec.metrics import METRICS, PER_QUERY, unregistered
from harness.spec.settings import Extraction, Settings
from harness.storage.store import connect, ingest
from support import make_shard

SMALL = "digits[per_class=12]"
TOPTUNE = {"preset": "smoke"}


def cell(model: str, suite: str, strategy: str = "pretrained", **given: object) -> Cell:
    return Cell(model, SMALL, strategy, suite, resolve_params(suite, strategy, dict(given)))


def test_declarations_are_consistent() -> None:
    for metric in PER_QUERY:
        low, high = METRICS[f"{metric.name}_ci_low"], METRICS[f"{metric.name}_ci_high"]
        assert low.kind == high.kind == "interval" and metric.kind == "quality"
    assert all(m.higher_is_better is None for m in METRICS.values() if m.kind == "count")
    assert all(m.higher_is_better is not None for m in METRICS.values() if m.kind != "count")
    with pytest.raises(ValueError, match="kind"):
        metrics_registry.Metric("x", "x", "", "speed", True, ("cost",))


def test_registry_table_and_cost_ledger_are_generated_from_it(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    metrics = {"mmp_at_5": 0.5, "extract_s": 3.0, "throughput_model_img_s": 9.0, "n_queries": 10.0, "new_thing": 1.0}
    ingest(db, [make_shard("timm:a", "digits", metrics)])
    connect(db).close()  # a second writer rewrites the table, it does not duplicate it
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM metric_registry").fetchone() == (len(METRICS),)
        kind, label = con.execute("SELECT kind, label FROM metric_registry WHERE metric = 'mmp_at_5'").fetchone()  # type: ignore[misc]
        ledger = [m for (m,) in con.execute("SELECT metric FROM cost_ledger ORDER BY metric").fetchall()]
    assert (kind, label) == ("quality", "mMP@5")
    assert ledger == ["extract_s", "throughput_model_img_s"]  # an unregistered metric is in no ledger


@pytest.mark.slow
def test_every_metric_the_real_suites_emit_is_registered(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    tiny = "timm:test_resnet[init=random]"
    cells = [
        cell("pixels:4", "retrieval", backend="exact"),
        cell("pixels:4", "retrieval", "toptuned", backend="exact", **TOPTUNE),
        cell("pixels:4", "classification", **TOPTUNE),
        cell("pixels:4", "signals", per_class=3),
        cell(tiny, "retrieval", "finetuned", backend="exact", finetune_preset="smoke"),
        cell(tiny, "finetune", "finetuned", finetune_preset="smoke"),
        cell(tiny, "cost", warmup=1, iterations=3, throughput_iterations=2, max_batch_cpu=2, pipeline_images=4,
             pipeline_repeats=1),
    ]  # fmt: skip
    settings = Settings(tmp_path / "work", tmp_path / "r.duckdb", extraction=Extraction(workers=0))
    outcomes = run_plan(make_plan(cells, "cpu", settings.workdir), settings)
    assert [o.error for o in outcomes] == [None] * len(cells)
    emitted = {name for o in outcomes for name in o.metrics}
    assert unregistered(emitted) == []
    for o in outcomes:  # each metric is declared for the suite that emitted it
        assert all(o.cell.suite in METRICS[name].suites for name in o.metrics), o.cell
    # every per-query quality metric carries its interval, around its value
    for o in outcomes:
        for name in (m.name for m in PER_QUERY if m.name in o.metrics):
            assert o.metrics[f"{name}_ci_low"] <= o.metrics[name] <= o.metrics[f"{name}_ci_high"]
    with duckdb.connect(str(settings.db), read_only=True) as con:
        stored = con.execute(
            "SELECT r.suite, p.metric, count(*), avg(p.value) FROM per_query p JOIN runs r USING (run_id)"
            " WHERE r.strategy = 'pretrained' GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        value = con.execute(
            "SELECT value FROM results WHERE suite = 'retrieval' AND strategy = 'pretrained' AND metric = 'mmp_at_5'"
        ).fetchone()
    by = {(suite, metric): (n, mean) for suite, metric, n, mean in stored}
    n_test = next(o.metrics["n_test"] for o in outcomes if o.cell.suite == "classification")
    assert by[("classification", "accuracy")][0] == n_test
    assert by[("retrieval", "mmp_at_5")][0] == next(
        o.metrics["n_queries"] for o in outcomes if o.cell.strategy == "pretrained" and o.cell.suite == "retrieval"
    )
    assert value is not None and np.isclose(by[("retrieval", "mmp_at_5")][1], value[0])
