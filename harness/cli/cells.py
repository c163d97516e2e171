"""Commands that plan and run cells: run, grid, plan, execute, ingest, finetune."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from harness.cli.options import (
    DataOptions,
    Db,
    Device,
    EstimateOptions,
    ExecutionOptions,
    MilvusSidecar,
    Omit,
    SettingsOptions,
    SuiteFile,
    Workdir,
    check_sidecar,
    with_option_groups,
)
from harness.cli.render import console, err, print_metrics, print_outcomes
from harness.core.errors import HarnessError
from harness.spec.settings import DEFAULT_DB, DEFAULT_WORKDIR
from harness.storage.workdir import Workdir as WorkdirLayout


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs to suite parameters: ``5`` is an int, ``0.5`` a float, ``true`` a bool, ``"x"`` or a
    bare word (``bf16``) text. Arrays, tables, dates and non-finite numbers are refused."""
    import math
    import tomllib

    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = (part.strip() for part in pair.partition("="))
        if not sep or not key.replace("_", "").isalnum():
            raise HarnessError(f"--param '{pair}': expected KEY=VALUE, e.g. --param warmup=5")
        try:
            value = tomllib.loads(f"v = {text}")["v"] if "\n" not in text else None
        except tomllib.TOMLDecodeError:
            value = text
        finite = not isinstance(value, float) or math.isfinite(value)
        if not isinstance(value, bool | int | float | str) or not finite:
            raise HarnessError(f"--param '{pair}': the value must be one number, true/false or text")
        params[key] = value
    return params


@with_option_groups
def run(
    model: Annotated[str, typer.Option(help="model id, e.g. timm:resnet50.a1_in1k")],
    dataset: Annotated[str, typer.Option(help="dataset id, e.g. digits or folder:/path")],
    suite: Annotated[str, typer.Option(help="suite to run")] = "retrieval",
    strategy: Annotated[str, typer.Option(help="tuning strategy")] = "pretrained",
    backend: Annotated[str | None, typer.Option(help="retrieval backend: milvus or exact")] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="suite parameter KEY=VALUE (a TOML scalar), repeatable")
    ] = None,
    *,
    options: SettingsOptions,
    container: Annotated[
        str | None, typer.Option(help="run in this model family's image (e.g. timm; see `containers list`)")
    ] = None,
    timeout: Annotated[float, typer.Option(min=1, help="with --container: wall-clock limit in seconds")] = 3600,
    milvus_sidecar: MilvusSidecar = "server",
    ingest: Annotated[bool, typer.Option(hidden=True, help="write the database (off inside containers)")] = True,
) -> None:
    """Run one cell natively, or in its family's container with --container, and print its metrics."""
    import dataclasses

    from harness.plan.grid import make_cells
    from harness.spec.settings import Execution
    from harness.workflows.grid import plan_grid, run_cells

    given = {**parse_params(param or []), **({"backend": backend} if backend else {})}
    grid = make_cells([model], [dataset], [strategy], [suite], {suite: given} if given else {})
    execution = Execution(container=container or False, timeout_s=timeout, milvus_sidecar=check_sidecar(milvus_sidecar))
    settings = dataclasses.replace(options.settings(), ingest=ingest, execution=execution)
    [outcome] = run_cells(plan_grid(grid, settings), settings)
    if outcome.status == "cached":
        console.print(f"finished earlier (run {outcome.run_id}): reused, nothing recomputed; --force recomputes")
    if outcome.status == "error":
        err.print(
            f"[red]error[/] in {escape(outcome.cell.label())}: {escape(outcome.error or '')}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    print_metrics(outcome)


@with_option_groups
def grid(spec: SuiteFile, *, options: SettingsOptions, execution: ExecutionOptions, folders: DataOptions) -> None:
    """Run every cell of a suite file; finished cells are not recomputed. Exit code 1 if any cell failed."""
    import dataclasses

    from harness.plan.grid import load_grid
    from harness.workflows.grid import plan_grid, run_cells

    executor, slice_ = execution.resolve(), execution.slice()
    grid_ = load_grid(spec, folders.data_root, folders.folders())
    settings = dataclasses.replace(options.settings(grid_), execution=executor)
    plan = plan_grid(grid_, settings)
    if slice_ is not None:
        plan = plan.shard(*slice_)
        settings = dataclasses.replace(settings, ingest=False)  # many slices at once: one writer, later
    counts = plan.counts()
    console.print(
        f"{len(plan.cells)} cells from {spec}: " + ", ".join(f"{n} {status}" for status, n in counts.items() if n)
        + (f"; {len(plan.skipped)} suite/strategy pairs skipped (see `ecombench plan`)" if plan.skipped else "")
    )  # fmt: skip
    outcomes = run_cells(plan, settings)
    raise typer.Exit(1 if print_outcomes(outcomes) else 0)


@with_option_groups
def plan_command(
    spec: SuiteFile,
    json_out: Annotated[
        bool, typer.Option("--json", help="print one cell spec per line (for `ecombench execute`)")
    ] = False,
    pending: Annotated[bool, typer.Option(help="with --json: only the cells that are not done")] = False,
    *,
    # plan runs nothing: --force has no meaning here
    options: Annotated[SettingsOptions, Omit("force")],
    folders: DataOptions,
    estimate: EstimateOptions,
) -> None:
    """The dry run of a suite file: each model's weights (present or not, and how to fetch them), each
    dataset's folder, layout and preparation, every cell with its status (done / pending / failed / stale /
    blocked) and estimated device time, the totals (device-hours, price, wall time, disk), the sub-jobs and
    the cells that share them, and the pairs skipped. Loads no model and reads no image."""
    import json

    from harness.plan.grid import load_grid
    from harness.workflows.grid import estimate_device, plan_grid

    grid_ = load_grid(spec, folders.data_root, folders.folders())
    settings = options.settings(grid_)
    if not json_out:
        from harness.plan.dryrun import dry_run
        from harness.report.dryrun import show

        device = options.device
        run_ = dry_run(grid_, device, options.workdir, options.db, estimate_device(device, estimate.estimate_for),
                       settings.extraction.numerics)  # fmt: skip
        show(run_, spec, console, estimate.devices)
        show_jobs(run_.plan)
        return
    for planned in plan_grid(grid_, settings).cells:
        if not pending or planned.status != "done":
            line = json.loads(planned.spec.to_json())
            print(json.dumps({**line, "settings": settings.as_dict()}, sort_keys=True))


def show_jobs(plan: Any) -> None:
    """The sub-jobs several cells share, with the cells that consume each."""
    shared = plan.jobs()
    if shared:
        jobs_table = Table(title="sub-jobs (trained once, before the cells that consume them)")
        for column in ("key", "job", "status", "consumed by"):
            jobs_table.add_column(column, overflow="fold")
        for key, (job, consumers) in shared.items():
            users = ", ".join(p.spec.key[:8] for p in consumers)
            jobs_table.add_row(key[:8], escape(job.label), plan.job_status[key], f"{len(consumers)} cells: {users}")
        console.print(jobs_table)


def execute(
    spec: Annotated[str, typer.Argument(help="a line of `ecombench plan --json`: a file, or - for stdin")] = "-",
    workdir: Annotated[Path | None, typer.Option(help="override the spec's workdir")] = None,
    device: Annotated[str | None, typer.Option(help="override the spec's device (cuda:1, ...)")] = None,
) -> None:
    """Run exactly one cell from its spec and write its shard; never opens the results database."""
    import dataclasses
    import json

    from harness.execute.worker import Worker, shard_store
    from harness.spec.cells import CellSpec
    from harness.spec.settings import Settings

    text = sys.stdin.read() if spec == "-" else read_text(Path(spec), "cell spec")
    try:
        data = json.loads(text)
        settings = Settings.from_dict(data.pop("settings"))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise HarnessError(f"not a line of `ecombench plan --json`: {exc}") from exc
    cell_spec = CellSpec.from_json(json.dumps(data))
    if workdir is not None:
        settings = dataclasses.replace(settings, workdir=workdir)
    if device is not None:
        settings = dataclasses.replace(settings, extraction=dataclasses.replace(settings.extraction, device=device))
    shard, cached = Worker(settings).run(cell_spec)
    status = "cached" if cached and shard.status == "ok" else shard.status
    console.print(f"{status} {escape(shard.cell.label())}: {shard_store(settings).path(shard.run_id)}", soft_wrap=True)
    if shard.status == "error":
        err.print(f"[red]error[/] in {escape(shard.cell.label())}: {escape(shard.error or '')}", soft_wrap=True)
        raise typer.Exit(1)


def read_text(path: Path, what: str) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(f"cannot read {what} '{path}': {exc}") from exc


def ingest(
    shards: Annotated[
        list[Path] | None, typer.Option("--shards", help="shard folder (repeatable; default: <workdir>/shards)")
    ] = None,
    db: Db = DEFAULT_DB,
    workdir: Workdir = DEFAULT_WORKDIR,
) -> None:
    """Write shards into the database: the one writer; idempotent, safe to run again."""
    from harness.storage.store import ingest_folder

    total = 0
    for folder in shards or [WorkdirLayout(workdir).shards]:
        count = ingest_folder(db, folder)
        console.print(f"{count} runs ingested from {escape(str(folder))}")
        total += count
    console.print(f"{total} runs in {escape(str(db))}")


def finetune(
    model: Annotated[str, typer.Option(help="timm backbone to fine-tune, e.g. timm:resnet50.a1_in1k")],
    dataset: Annotated[str, typer.Option(help="dataset id; its training split is used")],
    preset: Annotated[str, typer.Option(help="recipe in harness/presets/finetune.toml: paper or quick")] = "quick",
    seed: Annotated[int, typer.Option(help="seed of the hold-out split, the data order and the augmentations")] = 0,
    gpus: Annotated[int, typer.Option(min=1, help="training processes, one per GPU (torchrun, DDP)")] = 1,
    db: Db = DEFAULT_DB,
    workdir: Workdir = DEFAULT_WORKDIR,
    device: Device = "cpu",
    force: Annotated[bool, typer.Option(help="train again from scratch, even if finished")] = False,
) -> None:
    """Fine-tune the whole backbone (checkpoints every epoch; a killed run resumes). The result is a
    `checkpoint:` model; `--strategy finetuned` in retrieval and classification evaluates it."""
    from harness.execute.worker import shard_store
    from harness.plan.grid import make_cells
    from harness.workflows.grid import plan_grid, run_cells

    params = {"finetune": {"finetune_preset": preset, "seed": seed, "gpus": gpus}}
    grid = make_cells([model], [dataset], ["finetuned"], ["finetune"], params)
    settings = SettingsOptions(db=db, workdir=workdir, device=device, force=force).settings()
    [outcome] = run_cells(plan_grid(grid, settings), settings)
    if outcome.status == "error":
        err.print(f"[red]error[/] in {escape(outcome.cell.label())}: {escape(outcome.error or '')}", soft_wrap=True)
        raise typer.Exit(1)
    print_metrics(outcome)
    shard = shard_store(settings).get(outcome.run_id)
    assert shard is not None
    details = shard.details
    console.print(f"fine-tuned model: {escape(details['finetuned_model'])}", soft_wrap=True)
