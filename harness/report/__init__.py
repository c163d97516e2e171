"""Reports rendered from the results database's views by Jinja templates in ``reports/``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from harness.store import connect, failed_runs, latest_metrics

TEMPLATES = Path(__file__).resolve().parents[2] / "reports"

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


def comparison_tables(db: Path) -> tuple[list[Table], list[tuple[str, ...]]]:
    con = connect(db, read_only=True)
    try:
        records = latest_metrics(con, "retrieval", list(COMPARISON_METRICS))
        failures = [tuple(map(str, row)) for row in failed_runs(con)]
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


def render_markdown(db: Path, out: Path) -> Path:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    tables, failures = comparison_tables(db)
    text = env.get_template("comparison.md.j2").render(
        tables=tables,
        failures=failures,
        any_random=any(row[2] for t in tables for row in t.rows),
        db=db,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return out
