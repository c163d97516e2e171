"""Small grids that run in seconds, and what a test reads back from their database."""

from __future__ import annotations

from pathlib import Path

import duckdb

CHEAP = """
[grid]
models = ["pixels:4", "timm:test_resnet[init=random]"]
datasets = ["digits[per_class=6]", "synthetic[classes=3,per_class=6,size=16]"]
suites = ["retrieval"]

[params.retrieval]
backend = "exact"
"""

SHARED_JOB = """
[grid]
models = ["pixels:4"]
datasets = ["digits[per_class=8]"]
strategies = ["pretrained", "toptuned"]
suites = ["retrieval", "classification"]

[params.retrieval]
backend = "exact"
preset = "smoke"

[params.classification]
preset = "smoke"
"""


def quality(db: Path) -> dict[tuple[str, str, str, str, str], float]:
    """Every metric that is not a time or a cost (those differ between any two runs)."""
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT model, dataset, strategy, suite, metric, value FROM results r WHERE NOT EXISTS "
            "(SELECT 1 FROM cost_ledger c WHERE c.run_id = r.run_id AND c.metric = r.metric)"
            " AND metric <> 'embeddings_cached'"
        ).fetchall()
    return {tuple(row[:5]): row[5] for row in rows}


def counts(db: Path) -> tuple[int, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        runs, distinct = con.execute("SELECT count(*), count(DISTINCT run_id) FROM runs").fetchone()  # type: ignore[misc]
    return runs, distinct
