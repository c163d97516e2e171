"""The consoles every command prints to, and the tables of cell outcomes that several commands show."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.spec import metrics as metrics_registry

# Piped output (CI logs, nox) is not wrapped at 80 columns: tables of long ids stay readable.
console = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

STATUS = {"ok": "[green]ok[/]", "cached": "[cyan]cached[/]", "error": "[red]error[/]"}
#: metric -> column label in the CLI's tables
DISPLAY_METRICS = metrics_registry.labels("mmp_at_5", "recall_at_1", "map_at_r", "mrr", "ndcg_at_10")
#: suites whose cells have headline metrics of their own: their rows go in a table with these columns
SUITE_COLUMNS = {
    metrics_registry.TEXT_RETRIEVAL: metrics_registry.labels(
        "text_hit_at_1", "text_recall_at_10", "text_mrr", "text_ndcg_at_10", "text_map"
    ),
    metrics_registry.ZEROSHOT: metrics_registry.labels("zeroshot_acc1", "zeroshot_acc5", "zeroshot_balanced_accuracy"),
}


def print_failures(outcomes: list[Any]) -> int:
    """One line on stderr per failed cell. Returns the number of failed cells."""
    failed = [o for o in outcomes if o.status == "error"]
    for o in failed:
        err.print(
            f"[red]error[/] in {escape(o.cell.label())}: {escape(o.error or '')}", highlight=False, soft_wrap=True
        )
    return len(failed)


def print_outcomes(outcomes: list[Any]) -> int:
    """One row per cell, in a table whose columns are its suite's headline metrics (the image metrics unless
    ``SUITE_COLUMNS`` names others); failures listed below. Returns the number of failed cells."""
    groups: dict[str | None, list[Any]] = {}
    for o in outcomes:
        groups.setdefault(o.cell.suite if o.cell.suite in SUITE_COLUMNS else None, []).append(o)
    for suite, rows in groups.items():
        columns = DISPLAY_METRICS if suite is None else SUITE_COLUMNS[suite]
        table = Table(title="results" if suite is None else f"results: {suite}")
        for column in ("model", "dataset", "strategy", "suite", "status"):
            table.add_column(column, overflow="fold")
        for label in columns.values():
            table.add_column(label, justify="right")
        for o in rows:
            values = [f"{o.metrics[m]:.4f}" if m in o.metrics else "—" for m in columns]
            ids = (o.cell.model, o.cell.dataset, o.cell.strategy, o.cell.suite)
            table.add_row(*map(escape, ids), STATUS[o.status], *values)
        console.print(table)
    return print_failures(outcomes)


def print_metrics(outcome: Any) -> None:
    """All metrics of one cell, one per line."""
    table = Table(title=escape(outcome.cell.label()))
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in sorted(outcome.metrics.items()):
        table.add_row(DISPLAY_METRICS.get(name, name), f"{value:.4f}")
    console.print(table)
