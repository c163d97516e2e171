"""The ``ecombench`` command line: a thin layer over harness.plan.grid, harness.execute.runner and harness.report."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.core.errors import HarnessError
from harness.spec import metrics as metrics_registry
from harness.storage.workdir import Workdir as WorkdirLayout

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
models_app = typer.Typer(no_args_is_help=True, help="The model registry.")
datasets_app = typer.Typer(no_args_is_help=True, help="The dataset registry.")
containers_app = typer.Typer(no_args_is_help=True, help="Pinned images per model family and the Milvus sidecar.")
app.add_typer(models_app, name="models")
app.add_typer(datasets_app, name="datasets")
app.add_typer(containers_app, name="containers")
# Piped output (CI logs, nox) is not wrapped at 80 columns: tables of long ids stay readable.
console = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

Db = Annotated[Path, typer.Option(help="results database (DuckDB file)")]
Workdir = Annotated[Path, typer.Option(help="embedding cache, run shards and the Milvus Lite file")]
MilvusUri = Annotated[
    str | None, typer.Option(help="Milvus server URI, e.g. http://127.0.0.1:19530 (default: Milvus Lite in workdir)")
]
Device = Annotated[str, typer.Option(help="torch device for extraction: cpu, cuda, cuda:1, ...")]
BatchSize = Annotated[int, typer.Option(min=1, help="images per forward pass")]
Workers = Annotated[int, typer.Option(min=0, help="image-decoding worker processes")]
Force = Annotated[bool, typer.Option(help="recompute cells that already finished")]
DataRoot = Annotated[str | None, typer.Option(help="the data folder: the suite file's [data] root")]
DataFolders = Annotated[
    list[str] | None, typer.Option("--data", help="NAME=PATH: one [data] folder of the suite file (repeatable)")
]
EstimateFor = Annotated[
    str | None, typer.Option("--estimate-for", help="estimate for this device, e.g. H100 (default: --device's)")
]
Devices = Annotated[int, typer.Option(min=1, help="devices the estimate's wall time is spread over")]
SuiteFile = Annotated[Path, typer.Argument(help="suite file, e.g. suites/smoke.toml")]
Jobs = Annotated[int, typer.Option(min=1, help="cells run at once on this machine (worker processes)")]
Container = Annotated[
    bool, typer.Option("--container", help="run each cell in its model family's image (see `containers list`)")
]
CellTimeout = Annotated[float, typer.Option(min=1, help="with --container: wall-clock limit per cell (s)")]
MilvusSidecar = Annotated[
    str,
    typer.Option(
        help="with --container: the Milvus sidecar of retrieval cells on Milvus: server (the real Milvus server) or "
        "lite (Milvus Lite, lighter and quicker to start)"
    ),
]


Precision = Annotated[
    str | None,
    typer.Option(help="forward precision (autocast): fp32, bf16 or fp16 (default: the suite file's, else fp32)"),
]
ChannelsLast = Annotated[
    bool | None,
    typer.Option(
        "--channels-last/--no-channels-last", help="channels-last memory format (default: the suite file's, else off)"
    ),
]
ImageCache = Annotated[
    bool,
    typer.Option(
        "--image-cache/--no-image-cache",
        help="decode and resize each split once into <workdir>/images (uint8), shared by every model with the same "
        "preprocessing; normalisation runs on --device",
    ),
]


def _sidecar(kind: str) -> str:
    """The --milvus-sidecar kind, checked before anything runs."""
    from harness.execute.containers import get_sidecar

    return get_sidecar(kind).kind


def _check_local_execution(jobs: int, container: bool) -> None:
    """A container runs one cell at a time: --container with --jobs is refused before anything runs."""
    if container and jobs > 1:
        raise HarnessError("--container runs one cell at a time: leave out --jobs")


def _settings(db: Path, workdir: Path, milvus_uri: str | None, device: str, batch_size: int, workers: int, force: bool,  # type: ignore[no-untyped-def]
              precision: str | None = None, channels_last: bool | None = None, image_cache: bool = False,
              grid: Any = None):  # fmt: skip
    """The run settings; --precision / --channels-last win over the suite file's [grid] values (``grid``)."""
    from harness.compute.extract.embed import ExtractionSettings
    from harness.core.precision import PRECISIONS
    from harness.execute.preflight import check_settings
    from harness.execute.worker import RunSettings

    check_settings(device, workdir)
    given = grid.extraction if grid is not None else {}
    precision = precision if precision is not None else given.get("precision", "fp32")
    channels_last = channels_last if channels_last is not None else given.get("channels_last", False)
    if precision not in PRECISIONS:
        raise HarnessError(f"--precision '{precision}': expected one of {', '.join(PRECISIONS)}")
    extraction = ExtractionSettings(batch_size, workers, device, precision, bool(channels_last), image_cache)
    return RunSettings(workdir, db, milvus_uri, extraction, force)


def _data(pairs: list[str] | None) -> dict[str, str]:
    folders = {}
    for pair in pairs or []:
        name, sep, path = pair.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise HarnessError(f"--data '{pair}': expected NAME=PATH, e.g. --data sop=/mnt/Stanford_Online_Products")
        folders[name.strip()] = path.strip()
    return folders


def _estimate_device(device: str, estimate_for: str | None) -> str:
    if estimate_for:
        return estimate_for
    from harness.plan.identity import device_kind, hardware

    return hardware(device) if device_kind(device) == "cuda" else "cpu"


def _plan(grid: Any, settings: Any) -> Any:
    from harness.plan.plan import make_plan

    extraction = settings.extraction
    return make_plan(grid.cells, extraction.device, settings.workdir, grid.skipped, extraction=extraction.numerics)


def _run_plan(plan: Any, settings: Any, execution: Any = None) -> list[Any]:
    """Run a plan; a database held by another process costs no computed cell (they stay in their shards)."""
    from harness.execute.runner import run_plan
    from harness.storage.store import DatabaseLocked

    try:
        return run_plan(plan, settings, execution)
    except DatabaseLocked as exc:
        raise HarnessError(
            f"{exc}\nEvery computed cell is kept in {settings.workdir / 'shards'}: run "
            f"`ecombench ingest --db {settings.db} --workdir {settings.workdir}` once the database is free "
            "(or run the same command again: it recomputes nothing)"
        ) from exc


def _parse_params(pairs: list[str]) -> dict[str, Any]:
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


STATUS = {"ok": "[green]ok[/]", "cached": "[cyan]cached[/]", "error": "[red]error[/]"}
#: metric -> column label in the CLI's tables
DISPLAY_METRICS = metrics_registry.labels("mmp_at_5", "recall_at_1", "map_at_r", "mrr", "ndcg_at_10")


def _print_outcomes(outcomes: list[Any]) -> int:
    """One row per cell; failures listed below the table. Returns the number of failed cells."""
    table = Table(title="results")
    for column in ("model", "dataset", "strategy", "suite", "status"):
        table.add_column(column, overflow="fold")
    for label in DISPLAY_METRICS.values():
        table.add_column(label, justify="right")
    for o in outcomes:
        values = [f"{o.metrics[m]:.4f}" if m in o.metrics else "—" for m in DISPLAY_METRICS]
        cell = o.cell
        table.add_row(*map(escape, (cell.model, cell.dataset, cell.strategy, cell.suite)), STATUS[o.status], *values)
    console.print(table)
    failed = [o for o in outcomes if o.status == "error"]
    for o in failed:
        err.print(
            f"[red]error[/] in {escape(o.cell.label())}: {escape(o.error or '')}", highlight=False, soft_wrap=True
        )
    return len(failed)


def _print_metrics(outcome: Any) -> None:
    """All metrics of one cell, one per line."""
    table = Table(title=escape(outcome.cell.label()))
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in sorted(outcome.metrics.items()):
        table.add_row(DISPLAY_METRICS.get(name, name), f"{value:.4f}")
    console.print(table)


@app.command()
def run(
    model: Annotated[str, typer.Option(help="model id, e.g. timm:resnet50.a1_in1k")],
    dataset: Annotated[str, typer.Option(help="dataset id, e.g. digits or folder:/path")],
    suite: Annotated[str, typer.Option(help="suite to run")] = "retrieval",
    strategy: Annotated[str, typer.Option(help="tuning strategy")] = "pretrained",
    backend: Annotated[str | None, typer.Option(help="retrieval backend: milvus or exact")] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="suite parameter KEY=VALUE (a TOML scalar), repeatable")
    ] = None,
    db: Db = Path("results.duckdb"),
    workdir: Workdir = Path(".ecombench"),
    milvus_uri: MilvusUri = None,
    device: Device = "cpu",
    batch_size: BatchSize = 32,
    workers: Workers = 2,
    force: Force = False,
    precision: Precision = None,
    channels_last: ChannelsLast = None,
    image_cache: ImageCache = False,
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

    given = {**_parse_params(param or []), **({"backend": backend} if backend else {})}
    grid = make_cells([model], [dataset], [strategy], [suite], {suite: given} if given else {})
    settings = _settings(db, workdir, milvus_uri, device, batch_size, workers, force, precision, channels_last,
                         image_cache)  # fmt: skip
    from harness.execute.runner import Execution

    settings = dataclasses.replace(settings, ingest=ingest)
    execution = Execution(container=container or False, timeout_s=timeout, milvus_sidecar=_sidecar(milvus_sidecar))
    [outcome] = _run_plan(_plan(grid, settings), settings, execution)
    if outcome.status == "cached":
        console.print(f"finished earlier (run {outcome.run_id}): reused, nothing recomputed; --force recomputes")
    if outcome.status == "error":
        err.print(
            f"[red]error[/] in {escape(outcome.cell.label())}: {escape(outcome.error or '')}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    _print_metrics(outcome)


@app.command()
def grid(
    spec: SuiteFile,
    db: Db = Path("results.duckdb"),
    workdir: Workdir = Path(".ecombench"),
    milvus_uri: MilvusUri = None,
    device: Device = "cpu",
    batch_size: BatchSize = 32,
    workers: Workers = 2,
    force: Force = False,
    precision: Precision = None,
    channels_last: ChannelsLast = None,
    image_cache: ImageCache = False,
    jobs: Jobs = 1,
    container: Container = False,
    timeout: CellTimeout = 3600,
    milvus_sidecar: MilvusSidecar = "server",
    shard: Annotated[
        str | None, typer.Option(help="I/N: run only the I-th of N slices and write shards only (`ingest` merges)")
    ] = None,
    executor: Annotated[
        str, typer.Option(help="local (this machine: --jobs, --container) or ray (tasks on a Ray cluster)")
    ] = "local",
    address: Annotated[
        str | None, typer.Option(help="with --executor ray: auto, HOST:6379 or ray://HOST:10001 (default: a local one)")
    ] = None,
    data_root: DataRoot = None,
    data: DataFolders = None,
) -> None:
    """Run every cell of a suite file; finished cells are not recomputed. Exit code 1 if any cell failed."""
    import dataclasses

    from harness.execute.runner import Execution
    from harness.plan.grid import load_grid

    grid_ = load_grid(spec, data_root, _data(data))
    settings = _settings(db, workdir, milvus_uri, device, batch_size, workers, force, precision, channels_last,
                         image_cache, grid_)  # fmt: skip
    plan = _plan(grid_, settings)
    if shard is not None:
        index, sep, count = shard.partition("/")
        if not (sep and index.isdigit() and count.isdigit()):
            raise HarnessError(f"--shard {shard!r}: expected I/N, e.g. --shard 3/8")
        plan = plan.shard(int(index), int(count))
        settings = dataclasses.replace(settings, ingest=False)  # many slices at once: one writer, later
    counts = plan.counts()
    console.print(
        f"{len(plan.cells)} cells from {spec}: " + ", ".join(f"{n} {status}" for status, n in counts.items() if n)
        + (f"; {len(plan.skipped)} suite/strategy pairs skipped (see `ecombench plan`)" if plan.skipped else "")
    )  # fmt: skip
    _check_local_execution(jobs, container)
    if executor not in ("local", "ray") or (executor == "ray" and (container or jobs > 1)):
        raise HarnessError(f"--executor {executor}: expected local, or ray without --jobs and --container")
    if address and executor != "ray":
        raise HarnessError("--address names a Ray cluster: add --executor ray")
    execution = Execution(jobs, container, timeout, executor == "ray", address, _sidecar(milvus_sidecar))
    outcomes = _run_plan(plan, settings, execution)
    raise typer.Exit(1 if _print_outcomes(outcomes) else 0)


@app.command("plan")
def plan_command(
    spec: SuiteFile,
    json_out: Annotated[
        bool, typer.Option("--json", help="print one cell spec per line (for `ecombench execute`)")
    ] = False,
    pending: Annotated[bool, typer.Option(help="with --json: only the cells that are not done")] = False,
    db: Db = Path("results.duckdb"),
    workdir: Workdir = Path(".ecombench"),
    milvus_uri: MilvusUri = None,
    device: Device = "cpu",
    batch_size: BatchSize = 32,
    workers: Workers = 2,
    precision: Precision = None,
    channels_last: ChannelsLast = None,
    image_cache: ImageCache = False,
    data_root: DataRoot = None,
    data: DataFolders = None,
    estimate_for: EstimateFor = None,
    devices: Devices = 1,
) -> None:
    """The dry run of a suite file: each model's weights (present or not, and how to fetch them), each
    dataset's folder, layout and preparation, every cell with its status (done / pending / failed / stale /
    blocked) and estimated device time, the totals (device-hours, price, wall time, disk), the sub-jobs and
    the cells that share them, and the pairs skipped. Loads no model and reads no image."""
    import json

    from harness.plan.grid import load_grid

    grid_ = load_grid(spec, data_root, _data(data))
    settings = _settings(db, workdir, milvus_uri, device, batch_size, workers, False, precision, channels_last,
                         image_cache, grid_)  # fmt: skip
    if not json_out:
        from harness.plan.dryrun import dry_run, show

        estimate_device = _estimate_device(device, estimate_for)
        run_ = dry_run(grid_, device, workdir, db, estimate_device, settings.extraction.numerics)
        show(run_, spec, console, devices)
        _show_jobs(run_.plan)
        return
    for planned in _plan(grid_, settings).cells:
        if not pending or planned.status != "done":
            line = json.loads(planned.spec.to_json())
            print(json.dumps({**line, "settings": settings.as_dict()}, sort_keys=True))


def _show_jobs(plan: Any) -> None:
    shared = plan.jobs()
    if shared:
        jobs_table = Table(title="sub-jobs (trained once, before the cells that consume them)")
        for column in ("key", "job", "status", "consumed by"):
            jobs_table.add_column(column, overflow="fold")
        for key, (job, consumers) in shared.items():
            users = ", ".join(p.spec.key[:8] for p in consumers)
            jobs_table.add_row(key[:8], escape(job.label), plan.job_status[key], f"{len(consumers)} cells: {users}")
        console.print(jobs_table)


@app.command()
def execute(
    spec: Annotated[str, typer.Argument(help="a line of `ecombench plan --json`: a file, or - for stdin")] = "-",
    workdir: Annotated[Path | None, typer.Option(help="override the spec's workdir")] = None,
    device: Annotated[str | None, typer.Option(help="override the spec's device (cuda:1, ...)")] = None,
) -> None:
    """Run exactly one cell from its spec and write its shard; never opens the results database."""
    import dataclasses
    import json

    from harness.execute.worker import RunSettings, Worker
    from harness.spec.cells import CellSpec

    text = sys.stdin.read() if spec == "-" else _read_text(Path(spec), "cell spec")
    try:
        data = json.loads(text)
        settings = RunSettings.from_dict(data.pop("settings"))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise HarnessError(f"not a line of `ecombench plan --json`: {exc}") from exc
    cell_spec = CellSpec.from_json(json.dumps(data))
    if workdir is not None:
        settings = dataclasses.replace(settings, workdir=workdir)
    if device is not None:
        settings = dataclasses.replace(settings, extraction=dataclasses.replace(settings.extraction, device=device))
    shard, cached = Worker(settings, None).run(cell_spec)
    status = "cached" if cached and shard.status == "ok" else shard.status
    console.print(f"{status} {escape(shard.cell.label())}: {settings.shards.path(shard.run_id)}", soft_wrap=True)
    if shard.status == "error":
        err.print(f"[red]error[/] in {escape(shard.cell.label())}: {escape(shard.error or '')}", soft_wrap=True)
        raise typer.Exit(1)


@app.command()
def ingest(
    shards: Annotated[
        list[Path] | None, typer.Option("--shards", help="shard folder (repeatable; default: <workdir>/shards)")
    ] = None,
    db: Db = Path("results.duckdb"),
    workdir: Workdir = Path(".ecombench"),
) -> None:
    """Write shards into the database: the one writer; idempotent, safe to run again."""
    from harness.storage.store import ingest_folder

    total = 0
    for folder in shards or [WorkdirLayout(workdir).shards]:
        count = ingest_folder(db, folder)
        console.print(f"{count} runs ingested from {escape(str(folder))}")
        total += count
    console.print(f"{total} runs in {escape(str(db))}")


@app.command()
def prune(
    db: Db = Path("results.duckdb"),
    failed: Annotated[bool, typer.Option("--failed", help="the failed runs (with --model/--dataset: theirs)")] = False,
    run_id: Annotated[list[str] | None, typer.Option("--run-id", help="this run (repeatable)")] = None,
    model: Annotated[str | None, typer.Option(help="runs of this model id")] = None,
    dataset: Annotated[
        str | None, typer.Option(help="runs of this dataset id (digits also matches digits[per_class=30])")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="delete them (without it: a dry run that lists them)")] = False,
    workdir: Workdir = Path(".ecombench"),
) -> None:
    """Drop runs from the database (every table that names them, in one transaction): the failed ones, runs by
    id, or those of a model or dataset. Filters combine (all must hold); run ids are added to what they select.
    Without --yes nothing is deleted: the runs are listed. Their shards move to <workdir>/pruned, so a re-run
    computes them again instead of reading them back."""
    from harness.report.data import Filters
    from harness.storage.prune import Selection
    from harness.storage.prune import prune as prune_runs

    wanted = Filters(dataset=dataset).canonical().dataset
    result = prune_runs(db, Selection(tuple(run_id or ()), failed, model, wanted), yes, workdir)
    if not result.runs:
        console.print("no run matches: nothing to prune", highlight=False)
        return
    table = Table(title=f"{len(result.runs)} runs {'deleted' if result.deleted else 'selected'}")
    for column in ("run id", "model", "dataset", "strategy", "suite", "status"):
        table.add_column(column, overflow="fold")
    for run in result.runs:
        table.add_row(*map(escape, (run.run_id, run.model, run.dataset, run.strategy, run.suite, run.status)))
    console.print(table)
    rows = ", ".join(f"{name} {count}" for name, count in result.rows.items())
    if result.deleted:
        moved = f"{len(result.moved)} shards moved to {workdir / 'pruned'}"
        console.print(f"deleted rows: {rows}; {moved}", highlight=False)
    else:
        console.print(f"dry run, nothing deleted; rows that would go: {rows}. Add --yes to delete.", highlight=False)


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(f"cannot read {what} '{path}': {exc}") from exc


@app.command()
def finetune(
    model: Annotated[str, typer.Option(help="timm backbone to fine-tune, e.g. timm:resnet50.a1_in1k")],
    dataset: Annotated[str, typer.Option(help="dataset id; its training split is used")],
    preset: Annotated[str, typer.Option(help="recipe in harness/presets/finetune.toml: paper or quick")] = "quick",
    seed: Annotated[int, typer.Option(help="seed of the hold-out split, the data order and the augmentations")] = 0,
    gpus: Annotated[int, typer.Option(min=1, help="training processes, one per GPU (torchrun, DDP)")] = 1,
    db: Db = Path("results.duckdb"),
    workdir: Workdir = Path(".ecombench"),
    device: Device = "cpu",
    force: Annotated[bool, typer.Option(help="train again from scratch, even if finished")] = False,
) -> None:
    """Fine-tune the whole backbone (checkpoints every epoch; a killed run resumes). The result is a
    `checkpoint:` model; `--strategy finetuned` in retrieval and classification evaluates it."""
    from harness.plan.grid import make_cells

    params = {"finetune": {"finetune_preset": preset, "seed": seed, "gpus": gpus}}
    grid = make_cells([model], [dataset], ["finetuned"], ["finetune"], params)
    settings = _settings(db, workdir, None, device, 32, 2, force)
    [outcome] = _run_plan(_plan(grid, settings), settings)
    if outcome.status == "error":
        err.print(f"[red]error[/] in {escape(outcome.cell.label())}: {escape(outcome.error or '')}", soft_wrap=True)
        raise typer.Exit(1)
    _print_metrics(outcome)
    shard = settings.shards.get(outcome.run_id)
    assert shard is not None
    details = shard.details
    console.print(f"fine-tuned model: {escape(details['finetuned_model'])}", soft_wrap=True)


@app.command()
def report(
    db: Db = Path("results.duckdb"),
    out: Annotated[
        Path | None,
        typer.Option(
            help="folder for report.<format> (a path ending in .md: that file); default reports/out, where a "
            "filtered report is report.<filters>.<format> beside the main one"
        ),
    ] = None,
    format: Annotated[str, typer.Option("--format", help="comma-separated: html, md, tex")] = "md",
    dataset: Annotated[
        str | None,
        typer.Option(help="only this dataset id; one without options (digits) also matches it with any (digits[...])"),
    ] = None,
    model: Annotated[str | None, typer.Option(help="only this model id")] = None,
    strategy: Annotated[str | None, typer.Option(help="only this strategy")] = None,
    tolerance: Annotated[
        float, typer.Option(min=0.0, help="decision summary: the cheapest model within this absolute mMP@5 of the best")
    ] = 0.01,
) -> None:
    """Render reports from the database: paper-style tables per strategy, a decision summary, figures and (HTML)
    the provenance and rerun command of every value."""
    from harness.report import render_markdown
    from harness.report.data import Filters
    from harness.report.render import parse_formats, write_reports

    formats, filters = parse_formats(format), Filters(model, dataset, strategy).canonical()
    if out is not None and out.suffix == ".md" and formats == ["md"]:  # the older `--out FILE.md`
        console.print(f"report written to {render_markdown(db, out, filters, tolerance)}")
        return
    stem = f"report.{filters.slug}" if out is None and filters.slug else "report"  # never over the main report
    for path in write_reports(db, out or Path("reports/out"), formats, filters, tolerance, stem):
        console.print(f"report written to {path}")


@models_app.command("list")
def models_list(workdir: Workdir = Path(".ecombench")) -> None:
    """The model families, the paper's backbones and the fine-tunes finished in workdir (imports no torch)."""
    from harness.compute.finetune.catalogue import finished_jobs
    from harness.compute.models import FAMILIES, catalog

    families = Table(title="families")
    for column in ("family", "id grammar", "description"):
        families.add_column(column)
    for name, family in FAMILIES.items():
        families.add_row(name, escape(family.grammar), escape(family.description))
    console.print(families)
    models = Table(title="catalogue (the paper's backbones)")
    for column in ("id", "pretraining", "name", "weights (source; licence)"):
        models.add_column(column, overflow="fold")
    for entry in catalog():
        cells = (entry["id"], entry["pretraining"], entry["name"], entry.get("weights", ""))
        models.add_row(*map(escape, cells))
    console.print(models)
    tuned = finished_jobs(workdir)
    if tuned:
        table = Table(title=f"fine-tuned in {escape(str(workdir))} (`ecombench finetune`)")
        for column in ("id", "fine-tune of", "on", "preset", "epochs", "held-out acc"):
            table.add_column(column, overflow="fold")
        for job in tuned:
            accuracy = "—" if job["val_accuracy"] is None else f"{job['val_accuracy']:.4f}"
            row = (job["id"], job["base"], job["dataset"], job["preset"], str(job["epochs"]), accuracy)
            table.add_row(*map(escape, row))
        console.print(table)


@datasets_app.command("list")
def datasets_list() -> None:
    """The dataset kinds (imports no torch)."""
    from harness.compute.datasets import list_datasets

    table = Table(title="datasets")
    table.add_column("id")
    table.add_column("description")
    for pattern, description in list_datasets():
        table.add_row(escape(pattern), escape(description))
    console.print(table)


DatasetArg = Annotated[str, typer.Argument(help="dataset id, e.g. sop:/data/Stanford_Online_Products, or sop + --root")]
Root = Annotated[Path | None, typer.Option(help="the dataset's folder: the PATH of its id")]


@datasets_app.command("prepare")
def datasets_prepare(
    dataset: DatasetArg,
    root: Root = None,
    workers: Annotated[int, typer.Option(min=0, help="processes reading images (0: this one)")] = os.cpu_count() or 1,
    force: Annotated[bool, typer.Option(help="prepare again even if a valid prepared manifest exists")] = False,
    db: Db = Path("results.duckdb"),
    workdir: Workdir = Path(".ecombench"),
) -> None:
    """Check every image, write the manifest (Parquet, in <workdir>/manifests) and its statistics."""
    from harness.workflows.datasets import prepare_command

    prepare_command(dataset, root, workers, force, db, workdir, console, err)


@datasets_app.command("info")
def datasets_info(
    dataset: DatasetArg, root: Root = None, db: Db = Path("results.duckdb"), workdir: Workdir = Path(".ecombench")
) -> None:
    """A dataset's statistics, from its prepared manifest (or built in memory), also recorded in the database."""
    from harness.workflows.datasets import info_command

    info_command(dataset, root, db, workdir, console, err)


@containers_app.command("build")
def containers_build(
    names: Annotated[
        list[str] | None, typer.Argument(help="a family, milvus, milvus-lite or base (default: all)")
    ] = None,
    base_image: Annotated[
        str | None, typer.Option(help="Debian image the base is built FROM (default: the digest-pinned debian)")
    ] = None,
) -> None:
    """Build the base and the named images with BuildKit, streaming the build log."""
    from harness.execute.containers import engine, image_id
    from harness.execute.containers.build import build

    for image in build(names or [], base_image or os.environ.get("ECOMBENCH_BASE_IMAGE")):
        console.print(f"{image.tag} {image_id(engine(), image)}", highlight=False)


@containers_app.command("list")
def containers_list() -> None:
    """The images, what each runs, and whether it is built (with its id)."""
    from harness.execute.containers import IMAGES, engine

    client = engine()
    built = {tag: image.id for image in client.images.list(name="ecombench/*") for tag in image.tags}
    table = Table(title="containers")
    for column in ("image", "tag", "runs", "id"):
        table.add_column(column, overflow="fold")
    for image in IMAGES.values():
        runs = ", ".join(image.model_kinds) or image.description
        table.add_row(image.name, image.tag, runs, built.get(image.tag, "[yellow]not built[/]"))
    console.print(table)


@app.command()
def export(
    format: Annotated[str, typer.Argument(help="parquet, csv or mlflow")],
    out: Annotated[
        Path | None, typer.Argument(help="folder for results/runs/cost_ledger.<format> (not for mlflow)")
    ] = None,
    db: Db = Path("results.duckdb"),
    tracking_uri: Annotated[
        str | None, typer.Option(help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else file store ./mlruns)")
    ] = None,
    experiment: Annotated[str, typer.Option(help="MLflow experiment name")] = "ecombench",
) -> None:
    """Export the database: the results, runs and cost_ledger tables as Parquet or CSV files, or every finished
    run to MLflow (params, metrics, provenance tags, the report as an artifact; runs already there are skipped)."""
    from harness.report.export import export_mlflow, export_tables, tracking_uri_or_default

    if format == "mlflow":
        if out is not None:
            raise HarnessError("export mlflow takes no OUT folder: pass --tracking-uri to choose the store")
        uri = tracking_uri_or_default(tracking_uri)
        logged, skipped = export_mlflow(db, uri, experiment)
        console.print(f"logged {logged} run(s) to MLflow at {uri} (experiment '{experiment}'); {skipped} were there")
        return
    if out is None:
        raise HarnessError(f"export {format} needs an OUT folder, e.g. `ecombench export {format} exports/`")
    for path in export_tables(db, out, format):
        console.print(f"wrote {path}")


@app.command()
def audit(
    sample: Annotated[int, typer.Option(min=1, help="finished cells to re-run (all, when fewer)")] = 3,
    seed: Annotated[int, typer.Option(help="which cells: the sample is drawn reproducibly by this seed")] = 0,
    suite: Annotated[str | None, typer.Option(help="only cells of this suite")] = None,
    tolerance: Annotated[
        float, typer.Option(min=0.0, help="absolute tolerance where a run was not on the CPU (CPU: identical)")
    ] = 1e-4,
    db: Db = Path("results.duckdb"),
    device: Device = "cpu",
) -> None:
    """Re-run a sample of finished cells from their stored rerun commands in a scratch workdir and compare every
    metric with the stored value; records the audit in the database (table audits). Exit 1 if any differs."""
    from harness.workflows.audit import audit as run_audit

    audit_id, rows = run_audit(db, sample, seed, device, tolerance, suite)
    table = Table(title=f"audit {audit_id}")
    for column in ("cell", "metric", "stored", "audited", "status"):
        table.add_column(column, overflow="fold", justify="right" if column in ("stored", "audited") else "left")
    colour = {"identical": "green", "within": "green", "differs": "red", "missing": "red", "error": "red"}
    for r in rows:
        if r.status == "not compared":
            continue
        shown = [f"{v:.6g}" if v is not None else "—" for v in (r.stored, r.audited)]
        status = f"[{colour[r.status]}]{r.status}[/]" + (f" {escape(r.note)}" if r.note else "")
        table.add_row(escape(r.label), r.metric, *shown, status)
    console.print(table)
    bad = [r for r in rows if r.status in ("differs", "missing", "error")]
    skipped = sum(r.status == "not compared" for r in rows)
    cells = len({r.run_id for r in rows})
    console.print(f"{cells} cells, {len(rows) - skipped} metrics compared, {len(bad)} did not hold; "
                  f"{skipped} not compared (cost figures measure the machine, cache flags the workdir)",
                  highlight=False)  # fmt: skip
    if bad:
        raise typer.Exit(1)


weights_app = typer.Typer(no_args_is_help=True, help="Pretrained weights in the local cache.")
app.add_typer(weights_app, name="weights")


@weights_app.command("fetch")
def weights_fetch(
    spec: Annotated[Path, typer.Argument(help="suite file whose models to fetch, e.g. suites/paper.toml")],
) -> None:
    """Download the missing weights of a suite file's models (timm's, open_clip's or the authors' URL), on a
    machine with internet access; where no hub is reachable, say so (one line per model). Exit 1 if any is
    still missing."""
    from harness.compute.models.fetch import fetch
    from harness.core.tomlfile import read_toml
    from harness.plan.grid import expand_models

    data = read_toml(spec, "suite file")
    models = expand_models(list(data.get("grid", {}).get("models", [])), dict(data.get("collections", {})))
    results = fetch(models)
    colour = {"present": "green", "fetched": "green", "manual": "yellow", "failed": "red", "unreachable": "red"}
    for r in results:
        console.print(f"[{colour[r.status]}]{r.status}[/] {escape(r.model)}: {escape(r.message)}", soft_wrap=True)
    raise typer.Exit(1 if any(r.status in ("failed", "unreachable", "manual") for r in results) else 0)


@app.command("bench-full")
def bench_full(
    spec: Annotated[Path, typer.Argument(help="suite file of the study")] = Path("suites/paper.toml"),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print the preflight, plan and estimate; run nothing")
    ] = False,
    jobs: Jobs = 1,
    container: Container = False,
    timeout: CellTimeout = 3600,
    milvus_sidecar: MilvusSidecar = "server",
    data_root: DataRoot = None,
    data: DataFolders = None,
    make_replicas: Annotated[
        Path | None,
        typer.Option(
            help="first write tiny replicas of the six datasets here (the CI study) and use it as the data folder"
        ),
    ] = None,
    db: Db = Path("results.duckdb"),
    workdir: Workdir = Path(".ecombench"),
    milvus_uri: MilvusUri = None,
    device: Device = "cpu",
    batch_size: BatchSize = 32,
    workers: Workers = 2,
    precision: Precision = None,
    channels_last: ChannelsLast = None,
    image_cache: ImageCache = False,
    estimate_for: EstimateFor = None,
    devices: Devices = 1,
    out: Annotated[Path, typer.Option(help="folder of the rendered reports")] = Path("reports/bench-full"),
    format: Annotated[str, typer.Option("--format", help="report formats: html, md, tex")] = "md,html",
) -> None:
    """The whole study: preflight (fails fast, listing every missing weight and dataset), prepare the
    datasets, run the grid cheapest cells first, render the reports. Killed at any point, the same command
    continues and recomputes nothing that finished. Exit code 1 if any cell failed."""
    from harness.execute.runner import Execution
    from harness.plan.dryrun import dry_run as make_dry_run
    from harness.plan.dryrun import show
    from harness.plan.grid import load_grid
    from harness.plan.readiness import require_ready
    from harness.report.render import parse_formats, write_reports
    from harness.workflows.bench_full import prepare_datasets

    _check_local_execution(jobs, container)
    execution = Execution(jobs, container, timeout, milvus_sidecar=_sidecar(milvus_sidecar))
    if make_replicas is not None:
        from harness.compute.datasets.replicas import make_all

        make_all(make_replicas)
        data_root = data_root or str(make_replicas)
    formats = parse_formats(format)
    grid_ = load_grid(spec, data_root, _data(data))
    settings = _settings(db, workdir, milvus_uri, device, batch_size, workers, False, precision, channels_last,
                         image_cache, grid_)  # fmt: skip
    preview = make_dry_run(grid_, device, workdir, db, _estimate_device(device, estimate_for),
                           settings.extraction.numerics)  # fmt: skip
    show(preview, spec, console, devices, cells=dry_run)
    if dry_run:
        return
    require_ready(preview.models, preview.datasets, spec)
    prepare_datasets(preview.datasets, workdir, workers, db, console)
    outcomes = []
    stages = _plan(grid_, settings).stages()
    for number, stage in enumerate(stages, start=1):
        console.print(f"stage {number}/{len(stages)}: {len(stage.cells)} cells", highlight=False)
        outcomes += _run_plan(stage, settings, execution)
    counts = {s: sum(o.status == s for o in outcomes) for s in ("ok", "cached", "error")}
    console.print(", ".join(f"{n} {s}" for s, n in counts.items()) + f" of {len(outcomes)} cells", highlight=False)
    for path in write_reports(db, out, formats):
        console.print(f"report written to {escape(str(path))}", highlight=False)
    failed = [o for o in outcomes if o.status == "error"]
    for o in failed:
        err.print(
            f"[red]error[/] in {escape(o.cell.label())}: {escape(o.error or '')}", highlight=False, soft_wrap=True
        )
    raise typer.Exit(1 if failed else 0)


# --- the real Milvus server (harness.compute.retrieval.milvus_server) ---
milvus_app = typer.Typer(
    no_args_is_help=True, help="The real Milvus standalone server of a workdir (milvus-server extra)."
)
app.add_typer(milvus_app, name="milvus")


def _milvus_line(state) -> str:  # type: ignore[no-untyped-def]
    ports = ", ".join(f"{k.removesuffix('_port')} {v}" for k, v in state.ports.items())
    return f"Milvus {state.version} at {state.uri} (pid {state.pid}; ports: {ports}; token in the state file)"


@milvus_app.command("start")
def milvus_start(
    workdir: Workdir = Path(".ecombench"),
    port: Annotated[int | None, typer.Option(help="client (proxy) port; default 19530 or the next free one")] = None,
    timeout: Annotated[float, typer.Option(help="seconds the start may take")] = 180.0,
) -> None:
    """Start the server (data in <workdir>/milvus-server, authorization on, a fresh secret), or reuse a running one."""
    from harness.compute.retrieval import milvus_server

    state = milvus_server.start(workdir, timeout_s=timeout, proxy_port=port)
    console.print(f"{_milvus_line(state)}; started in {state.start_s:.1f} s", highlight=False)


@milvus_app.command("status")
def milvus_status(workdir: Workdir = Path(".ecombench")) -> None:
    """Whether the workdir's server runs and is healthy (exit code 1 when not)."""
    from harness.compute.retrieval import milvus_server

    state = milvus_server.status(workdir)
    if state is None:
        console.print("no Milvus server running for this workdir", highlight=False)
        raise typer.Exit(1)
    console.print(_milvus_line(state), highlight=False)


@milvus_app.command("stop")
def milvus_stop(workdir: Workdir = Path(".ecombench")) -> None:
    """Stop the workdir's server and its whole process tree."""
    from harness.compute.retrieval import milvus_server

    stopped = milvus_server.stop(workdir)
    console.print("Milvus server stopped" if stopped else "no Milvus server was running", highlight=False)


def main() -> None:
    """Console entry point: a HarnessError, a usage error or a file system refusal is one line on stderr and
    exit code 2 (a failed cell: exit code 1), never a traceback."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Milvus Lite's embedded gRPC server logs every RPC it does not implement (pymilvus probes
    # AllocTimestamp) as an error with a traceback; they are harmless. Client-side failures still surface
    # as MilvusException and then as one clear HarnessError.
    logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
    logging.getLogger("harness.compute.finetune").setLevel(logging.INFO)  # one line per epoch
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    try:  # typer vendors its own click (0.2x); older ones use click's
        from typer._click.exceptions import ClickException
    except ImportError:  # pragma: no cover
        from click import ClickException  # type: ignore[assignment]

    try:
        code = app(standalone_mode=False)  # click's own errors come back here, to be printed as one line
    except HarnessError as exc:
        _fail(str(exc), 2)
    except ClickException as exc:  # a usage error: an unknown option, a value out of range, ...
        if type(exc).__name__ == "NoArgsIsHelpError":  # typer has printed the help
            sys.exit(exc.exit_code)
        ctx = getattr(exc, "ctx", None)
        where = f"{ctx.command_path}: " if ctx is not None else ""
        hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        _fail(f"{where}{exc.format_message()}{hint}", exc.exit_code)
    except typer.Abort:
        _fail("aborted", 1)
    except OSError as exc:  # a file system refusal no layer could word better: a full disk, a read-only folder
        _fail(f"{exc.strerror or exc}: '{exc.filename}'" if exc.filename else f"{exc.strerror or exc}", 2)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    err.print(f"[red]error:[/] {escape(' '.join(message.splitlines()))}", highlight=False, soft_wrap=True)
    sys.exit(code)
