"""``ecombench bench-full``: the whole study (harness.workflows.bench_full), parsed and rendered."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from harness.cli.options import DataOptions, EstimateOptions, ExecutionOptions, SettingsOptions, with_option_groups
from harness.cli.render import console, print_failures


@with_option_groups
def bench_full(
    spec: Annotated[Path, typer.Argument(help="suite file of the study")] = Path("suites/paper.toml"),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print the preflight, plan and estimate; run nothing")
    ] = False,
    *,
    execution: ExecutionOptions,
    folders: DataOptions,
    make_replicas: Annotated[
        Path | None,
        typer.Option(
            help="first write tiny replicas of the six datasets here (the CI study) and use it as the data folder"
        ),
    ] = None,
    options: SettingsOptions,
    estimate: EstimateOptions,
    out: Annotated[Path, typer.Option(help="folder of the rendered reports")] = Path("reports/bench-full"),
    format: Annotated[str, typer.Option("--format", help="report formats: html, md, tex")] = "md,html",
) -> None:
    """The whole study: preflight (fails fast, listing every missing weight and dataset), prepare the
    datasets, run the grid cheapest cells first, render the reports. Killed at any point, the same command
    continues and recomputes nothing that finished. Exit code 1 if any cell failed."""
    import dataclasses

    from harness.plan.grid import Grid
    from harness.report.render import parse_formats
    from harness.spec.settings import Settings
    from harness.workflows.bench_full import Study
    from harness.workflows.bench_full import bench_full as run_study

    executor = execution.resolve()
    study = Study(spec, folders.data_root, folders.folders(), make_replicas, estimate.estimate_for, out,
                  tuple(parse_formats(format)), execution.slice())  # fmt: skip

    def settings_for(grid: Grid) -> Settings:
        return dataclasses.replace(options.settings(grid), execution=executor)

    done = run_study(study, settings_for, console, estimate.devices, dry_run)
    if dry_run:
        return
    counts, cells = done.counts(), len(done.outcomes)
    console.print(", ".join(f"{n} {s}" for s, n in counts.items()) + f" of {cells} cells", highlight=False)
    for path in done.reports:
        console.print(f"report written to {escape(str(path))}", highlight=False)
    if study.shard is not None:
        from harness.storage.workdir import Workdir

        index, count = study.shard
        folder, db = Workdir(done.settings.workdir).shards, done.settings.db
        console.print(
            f"slice {index}/{count}: shards written to {escape(str(folder))}, not to the database; once every slice "
            f"is done, `ecombench ingest --db {escape(str(db))}` merges them and bench-full without --shard reports",
            highlight=False,
            soft_wrap=True,
        )
    raise typer.Exit(1 if print_failures(done.outcomes) else 0)
