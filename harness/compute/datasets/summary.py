"""Dataset statistics: images and classes per split, images per class; computed by DuckDB over a view
``manifest(path, label, class_name, split)``, and shown as rich tables by ``ecombench datasets``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from harness.compute.datasets.base import Manifest

SPLIT_STATS = """
WITH per_class AS (SELECT split, label, count(*) AS n FROM manifest GROUP BY split, label),
     overall AS (SELECT label, count(*) AS n FROM manifest GROUP BY label)
SELECT split, sum(n)::BIGINT, count(*)::BIGINT, min(n)::BIGINT, median(n)::DOUBLE, max(n)::BIGINT
FROM (SELECT * FROM per_class UNION ALL SELECT 'all' AS split, label, n FROM overall)
GROUP BY split
ORDER BY CASE split WHEN 'train' THEN 0 WHEN 'test' THEN 1 WHEN 'all' THEN 3 ELSE 2 END, split
"""
CLASS_COUNTS = """
SELECT split, label, class_name, count(*)::BIGINT FROM manifest GROUP BY split, label, class_name
ORDER BY split <> 'train', split, label
"""
STAT_KEYS = ("split", "images", "classes", "min", "median", "max")


def split_stats(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Per split, then "all": images, classes, and images per class (min / median / max)."""
    return [dict(zip(STAT_KEYS, row, strict=True)) for row in con.execute(SPLIT_STATS).fetchall()]


def class_counts(con: duckdb.DuckDBPyConnection) -> list[list[Any]]:
    """[split, label, class_name, images] for every class of every split."""
    return [list(row) for row in con.execute(CLASS_COUNTS).fetchall()]


def manifest_report(manifest: Manifest, protocol: str) -> dict[str, Any]:
    """The statistics part of a prepared manifest's sidecar, for a dataset held in memory (e.g. digits)."""
    import duckdb

    items = manifest.items
    con = duckdb.connect()
    try:
        columns = [[i.key for i in items], [i.label for i in items], [i.class_name for i in items]]
        con.execute(
            "CREATE TABLE manifest AS SELECT unnest(?) AS path, unnest(?) AS label, unnest(?) AS class_name,"
            " unnest(?) AS split",
            [*columns, [i.split for i in items]],
        )
        splits, classes = split_stats(con), class_counts(con)
    finally:
        con.close()
    return {
        "dataset": manifest.dataset_id,
        "digest": manifest.digest,
        "listed": len(items) + manifest.excluded,
        "images": len(items),
        "excluded": manifest.excluded,
        "split": {"protocol": protocol},
        "splits": splits,
        "classes": classes,
        "manifest": None,
    }


def render(report: dict[str, Any], console: Console, err: Console, limit: int = 20) -> None:
    """The statistics table, then what was left out and why (at most ``limit`` names of each kind)."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(report["dataset"]))
    for column in ("split", "images", "classes", "images/class min", "median", "max"):
        table.add_column(column, justify="left" if column == "split" else "right")
    for row in report["splits"]:
        median = f"{row['median']:g}"
        table.add_row(row["split"], *(f"{row[k]:,}" for k in ("images", "classes", "min")), median, f"{row['max']:,}")
    console.print(table)
    lines = [f"split: {report['split']['protocol']}", f"manifest digest: {report['digest']}"]
    if report.get("manifest"):
        lines.append(f"manifest: {report['manifest']}")
    else:
        lines.append("manifest: built in memory (not prepared)")
    if report.get("modes"):
        modes = ", ".join(f"{mode or '?'} {count:,}" for mode, count in report["modes"].items())
        lines.append(f"image modes (converted to RGB when read): {modes}")
    for note, count in report.get("notes", {}).items():
        lines.append(f"{note}: {count:,}")
    console.print("\n".join(escape(line) for line in lines), highlight=False)
    left_out = [
        ("corrupt images excluded", [f"{key}: {error}" for key, error in report.get("corrupt", [])]),
        ("listed images missing, excluded", report.get("missing", [])),
        (
            f"classes under {report.get('min_class_size')} images dropped",
            [f"{name} ({count})" for name, count in report.get("dropped_classes", [])],
        ),
    ]
    for title, names in left_out:
        if names:
            err.print(f"[yellow]{len(names):,} {title}:[/]", highlight=False)
            for name in names[:limit]:
                err.print(f"  {escape(name)}", highlight=False)
            if len(names) > limit:
                err.print(f"  ... and {len(names) - limit:,} more (all in the manifest's sidecar)", highlight=False)


class RichReporter:
    """A prepare progress bar: files read, hashed and decoded, with rate and time left."""

    def __init__(self, progress: Progress, label: str) -> None:
        self.progress, self.label = progress, label
        self.task: TaskID | None = None

    def start(self, total: int, resumed: int) -> None:
        text = self.label + (f" (resuming after {resumed:,})" if resumed else "")
        self.task = self.progress.add_task(text, total=total, completed=resumed)

    def advance(self, count: int) -> None:
        assert self.task is not None
        self.progress.advance(self.task, count)
