"""The DDL of a fresh results database, read back from DuckDB's catalogue, equals the checked-in text."""

from __future__ import annotations

import golden_support as g


def test_fresh_database_ddl(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = g.fresh_ddl(tmp_path)
    golden = g.DDL_TXT.read_text()
    for table in ("runs", "metrics", "per_query", "audits", "datasets", "dataset_classes", "metric_registry"):
        assert f"-- {table}\nCREATE TABLE {table}" in golden
    for view in ("results", "cost_ledger", "toptune_trials", "training_curves"):
        assert f"-- {view}\nCREATE VIEW {view}" in golden
    assert text == golden
