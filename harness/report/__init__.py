"""Reports rendered from the results database's views by Jinja templates in ``reports/``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.report.data import Filters
from harness.store import connect, failed_runs, latest_metrics

#: metric column name -> label in the comparison tables
COMPARISON_METRICS = {"mmp_at_5": "mMP@5", "recall_at_1": "mR@1"}


@dataclass
class Table:
    """A model x dataset table of one metric; ``best`` holds the (row, dataset) cells to set in bold."""

    metric: str
    label: str
    datasets: list[str]
    rows: list[tuple[str, str, bool]]  # (model, strategy, random_init)
    values: dict[tuple[str, str, str], float]  # (model, strategy, dataset) -> value
    best: set[tuple[str, str, str]]


def comparison_tables(db: Path, filters: Filters | None = None) -> tuple[list[Table], list[tuple[str, ...]]]:
    keep = (filters or Filters()).matches
    con = connect(db, read_only=True)
    try:
        records = [r for r in latest_metrics(con, "retrieval", list(COMPARISON_METRICS)) if keep(r[0], r[1], r[2])]
        failures = [tuple(map(str, row)) for row in failed_runs(con) if keep(row[0], row[1], row[2])]
    finally:
        con.close()
    tables = []
    for metric, label in COMPARISON_METRICS.items():
        mine = [r for r in records if r[3] == metric]
        datasets = sorted({r[1] for r in mine})
        rows = sorted({(r[0], r[2], bool(r[5])) for r in mine})
        values = {(r[0], r[2], r[1]): float(r[4]) for r in mine}
        best = set()
        for dataset in datasets:
            column = {k: v for k, v in values.items() if k[2] == dataset}
            top = max(column.values())
            best |= {k for k, v in column.items() if v == top}
        tables.append(Table(metric, label, datasets, rows, values, best))
    return tables, failures


def render_markdown(db: Path, out: Path, filters: Filters | None = None) -> Path:
    """The Markdown report written to the file ``out`` (see harness.report.render for all formats)."""
    from harness.report.data import load
    from harness.report.render import render

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render("md", db, load(db, filters)))
    return out
