"""``ecombench bench-full``: the paper's whole study as one resumable command.

    preflight   every model's weights and every dataset's layout checked at once (harness.plan.readiness); the
                dry run's plan and estimate printed (harness.plan.dryrun); nothing starts while anything is missing
    prepare     each file dataset's manifest, once (``ecombench datasets prepare``; a prepared one is reused)
    grid        the plan's cheap-first stages one after the other: pre-trained retrieval and cost, then what
                needs a top-tune search, then what needs a fine-tune (harness.plan.plan.Plan.stages)
    report      ``ecombench report`` of whatever is in the database

Killed at any point, the same command continues: finished cells are found by their keys (shards), shards
not yet ingested are ingested, an interrupted fine-tune resumes from its last epoch checkpoint, a prepared
manifest is reused.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape

from harness.plan.readiness import DatasetCheck


def prepare_datasets(checks: list[DatasetCheck], workdir: Path, workers: int, db: Path, console: Console) -> None:
    """Prepare every file dataset that is not prepared yet, recording its statistics in the database."""
    from harness.compute.datasets import resolve_dataset
    from harness.compute.datasets.files import FileDataset
    from harness.compute.datasets.prepare import prepare
    from harness.storage.store import record_dataset

    for check in checks:
        dataset = resolve_dataset(check.id, workdir)
        if not isinstance(dataset, FileDataset):
            continue
        done = prepare(dataset, workers)
        images = int(done.report["images"])
        what = "already prepared" if done.reused else f"prepared in {done.seconds:.1f} s"
        console.print(f"dataset {escape(check.id)}: {what}, {images:,} images", highlight=False, soft_wrap=True)
        if not done.reused:
            record_dataset(db, done.report)
