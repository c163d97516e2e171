"""``ecombench datasets prepare`` and ``ecombench datasets info``, behind the thin commands in harness.cli."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.compute.datasets import resolve_dataset
from harness.compute.datasets.files import FileDataset, dataset_id_with_root
from harness.core.errors import HarnessError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Task
    from rich.text import Text

    from harness.compute.datasets.base import Manifest


def _rate_column() -> Any:
    from rich.progress import ProgressColumn
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Task) -> Text:
            return Text(f"{task.speed:,.0f} images/s" if task.speed else "", style="progress.data.speed")

    return Rate()


def prepare_command(
    text: str, root: Path | None, workers: int, force: bool, db: Path, workdir: Path, console: Console, err: Console
) -> None:
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from harness.compute.datasets.prepare import prepare
    from harness.compute.datasets.summary import RichReporter, render
    from harness.storage.store import record_dataset

    dataset = resolve_dataset(dataset_id_with_root(text, root), workdir)
    if not isinstance(dataset, FileDataset):
        raise HarnessError(f"dataset '{dataset.id}' is generated in memory: there is nothing to prepare")
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _rate_column(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as progress:  # an error is then its one line
        done = prepare(dataset, workers, force, RichReporter(progress, f"reading {escape(dataset.id)}"))
    if done.reused:
        console.print("already prepared and still valid: nothing was read (--force prepares it again)")
    else:
        rate = done.hashed / done.seconds if done.seconds else 0.0
        resumed = f"; {done.resumed:,} taken from an interrupted run" if done.resumed else ""
        console.print(
            f"{done.hashed:,} images read, hashed and decoded in {done.seconds:.1f} s ({rate:,.0f} images/s, "
            f"{workers} workers){resumed}",
            highlight=False,
        )
    render(done.report, console, err)
    record_dataset(db, done.report)
    console.print(
        f"statistics recorded in {escape(str(db))}; use it as --dataset '{escape(dataset.id)}'", highlight=False
    )


def info_command(text: str, root: Path | None, db: Path, workdir: Path, console: Console, err: Console) -> None:
    from rich.markup import escape

    from harness.compute.datasets.summary import manifest_report, render
    from harness.storage.store import record_dataset

    dataset = resolve_dataset(dataset_id_with_root(text, root), workdir)
    if isinstance(dataset, FileDataset):
        report = dataset.report()
    else:
        report = manifest_report(dataset.manifest(), "generated; split drawn as the id's options say")
    duplicates = _identical_across_splits(
        dataset.manifest(), report
    )  # leakage the bytes show (harness.compute.datasets.duplicates)
    render(report, console, err)
    for line in duplicates:
        err.print(f"  {escape(line)}", highlight=False)
    record_dataset(db, report)
    console.print(f"statistics recorded in {escape(str(db))}", highlight=False)


def _identical_across_splits(manifest: Manifest, report: dict[str, Any], limit: int = 20) -> list[str]:
    """Count the byte-identical train/test pairs into the report's notes; the first ``limit`` as lines."""
    from harness.compute.datasets.duplicates import identical_pairs

    pairs = identical_pairs(manifest)
    report["notes"] = {**report.get("notes", {}), "byte-identical train/test pairs (sha256)": len(pairs)}
    train, test = manifest.indices("train"), manifest.indices("test")
    lines = [f"{manifest.items[train[a]].key} (train) = {manifest.items[test[b]].key} (test)" for a, b in pairs]
    return lines[:limit] + ([f"... and {len(lines) - limit:,} more"] if len(lines) > limit else [])
