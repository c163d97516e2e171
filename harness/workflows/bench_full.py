"""``ecombench bench-full``: the paper's whole study as one resumable command.

    data        with ``make_replicas``: tiny replicas of the six datasets written first, used as the data folder
    preflight   every model's weights and every dataset's layout checked at once (harness.plan.readiness); the
                dry run's plan and estimate printed (harness.plan.dryrun); nothing starts while anything is missing
    prepare     each file dataset's manifest, once (``ecombench datasets prepare``; a prepared one is reused)
    grid        the plan's cheap-first stages one after the other: pre-trained retrieval and cost, then what
                needs a top-tune search, then what needs a fine-tune (harness.plan.plan.Plan.stages), on the
                executor asked for (this machine, containers or a Ray cluster)
    report      ``ecombench report`` of whatever is in the database

Killed at any point, the same command continues: finished cells are found by their keys (shards), shards
not yet ingested are ingested, an interrupted fine-tune resumes from its last epoch checkpoint, a prepared
manifest is reused.

With a ``shard`` (I, N) the study runs only the I-th of N static slices of its cells and writes shards only,
like ``ecombench grid --shard``: N machines run a slice each, then ``ecombench ingest`` merges them (DuckDB has
one writer) and bench-full without a slice finds every cell done and renders the reports.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from harness.execute.runner import Outcome
from harness.plan.dryrun import DryRun
from harness.plan.grid import Grid
from harness.plan.plan import Plan
from harness.plan.readiness import DatasetCheck
from harness.spec.settings import Settings


@dataclass(frozen=True)
class Study:
    """Which study bench-full runs, on which data, and where its reports go."""

    spec: Path
    data_root: str | None = None
    data: dict[str, str] = field(default_factory=dict)
    make_replicas: Path | None = None  # write tiny replicas of the six datasets here and use them (the CI study)
    estimate_for: str | None = None  # the device the estimate is for (default: the run's)
    out: Path = Path("reports/bench-full")
    formats: tuple[str, ...] = ("md", "html")
    shard: tuple[int, int] | None = None  # (I, N): only the I-th of N slices, shards only


@dataclass(frozen=True)
class StudyRun:
    """What a bench-full did: the dry run it showed, the cells it ran, the reports it wrote."""

    preview: DryRun
    settings: Settings
    outcomes: list[Outcome] = field(default_factory=list)
    reports: list[Path] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {s: sum(o.status == s for o in self.outcomes) for s in ("ok", "cached", "error")}

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "error"]


def bench_full(
    study: Study,
    settings_for: Callable[[Grid], Settings],
    console: Console,
    devices: int = 1,
    dry_run: bool = False,
) -> StudyRun:
    """Run the study (``dry_run``: only its preflight, plan and estimate), printing each step's progress.
    ``settings_for`` makes the run settings of the study's grid (the suite file's [grid] settings are defaults
    the caller's may override); ``devices`` spreads the estimate's wall time."""
    from harness.plan.readiness import require_ready
    from harness.report.dryrun import show

    grid = load(study)
    settings = settings_for(grid)
    if study.shard is not None:
        settings = dataclasses.replace(settings, ingest=False)  # many slices at once: one writer, later
    preview = preflight(study, grid, settings)
    show(preview, study.spec, console, devices, cells=dry_run)
    if dry_run:
        return StudyRun(preview, settings)
    require_ready(preview.models, preview.datasets, study.spec)
    prepare_datasets(preview.datasets, settings.workdir, settings.extraction.workers, settings.db, console,
                     record=settings.ingest)  # fmt: skip
    outcomes = run_stages(study, grid, settings, console)
    if not settings.ingest:  # a slice: the database and the reports come once every slice is merged
        return StudyRun(preview, settings, outcomes)
    from harness.report.render import write_reports

    return StudyRun(preview, settings, outcomes, write_reports(settings.db, study.out, list(study.formats)))


def load(study: Study) -> Grid:
    """The study's grid, on its replicas where it asks for them."""
    from harness.plan.grid import load_grid

    data_root = study.data_root
    if study.make_replicas is not None:
        from harness.compute.datasets.replicas import make_all

        make_all(study.make_replicas)
        data_root = data_root or str(study.make_replicas)
    return load_grid(study.spec, data_root, study.data)


def preflight(study: Study, grid: Grid, settings: Settings) -> DryRun:
    """The dry run: weights and datasets checked, the plan (of the slice, with one) and its estimate."""
    from harness.plan.dryrun import dry_run
    from harness.plan.estimate import estimate_plan
    from harness.workflows.grid import estimate_device

    extraction = settings.extraction
    device = estimate_device(extraction.device, study.estimate_for)
    preview = dry_run(grid, extraction.device, settings.workdir, settings.db, device, extraction.numerics)
    if study.shard is None:
        return preview
    sliced = preview.plan.shard(*study.shard)
    estimate = estimate_plan(sliced, device, settings.workdir, settings.db)
    return dataclasses.replace(preview, plan=sliced, estimate=estimate)


def run_stages(study: Study, grid: Grid, settings: Settings, console: Console) -> list[Outcome]:
    """The plan's (or its slice's) cheap-first stages, one after the other."""
    from harness.workflows.grid import plan_grid, run_cells

    plan = plan_grid(grid, settings)
    if study.shard is not None:
        plan = plan.shard(*study.shard)

    def announce(number: int, count: int, stage: Plan) -> None:
        console.print(f"stage {number}/{count}: {len(stage.cells)} cells", highlight=False)

    # one run: one force time, and a database held by a reader waits only after the last stage
    return run_cells(plan.stages(), settings, announce)


def prepare_datasets(
    checks: list[DatasetCheck], workdir: Path, workers: int, db: Path, console: Console, record: bool = True
) -> None:
    """Prepare every file dataset that is not prepared yet, recording its statistics in the database (not with
    ``record`` off: a slice of the study leaves the database to the one ingest)."""
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
        if not done.reused and record:
            record_dataset(db, done.report)
