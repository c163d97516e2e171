"""Commands that read the results database: report, export, prune, audit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from harness.cli.options import Db, Device, Workdir
from harness.cli.render import console
from harness.core.errors import HarnessError
from harness.spec.settings import DEFAULT_DB, DEFAULT_WORKDIR


def report(
    db: Db = DEFAULT_DB,
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


def export(
    format: Annotated[
        str,
        typer.Argument(
            help="parquet, csv, mlflow, or hdf5 (one cell's vectors with exact neighbours, ann-benchmarks' layout)"
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Argument(help="folder for results/runs/cost_ledger.<format>, or <run id>.hdf5 (not for mlflow)"),
    ] = None,
    db: Db = DEFAULT_DB,
    tracking_uri: Annotated[
        str | None, typer.Option(help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else file store ./mlruns)")
    ] = None,
    experiment: Annotated[str, typer.Option(help="MLflow experiment name")] = "ecombench",
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="hdf5: the pre-trained cell whose vectors to export")
    ] = None,
    queries: Annotated[int, typer.Option(min=1, help="hdf5: vectors held out as test queries (at most half)")] = 1000,
    workdir: Workdir = DEFAULT_WORKDIR,
) -> None:
    """Export the database: the results, runs and cost_ledger tables as Parquet or CSV files, or every finished
    run to MLflow (params, metrics, provenance tags, the report as an artifact; runs already there are skipped)."""
    from harness.report.export import export_ann_hdf5, export_mlflow, export_tables, tracking_uri_or_default

    if format == "hdf5":
        if out is None or run_id is None:
            raise HarnessError(
                "export hdf5 needs an OUT folder and --run-id, e.g. `ecombench export hdf5 exports/ --run-id RUN`"
            )
        path, sizes = export_ann_hdf5(db, workdir, run_id, out, queries)
        console.print(
            f"wrote {path}: {sizes['train']} train, {sizes['test']} test vectors, {sizes['neighbours']} neighbours each"
        )
        return
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


def prune(
    db: Db = DEFAULT_DB,
    failed: Annotated[bool, typer.Option("--failed", help="the failed runs (with --model/--dataset: theirs)")] = False,
    run_id: Annotated[list[str] | None, typer.Option("--run-id", help="this run (repeatable)")] = None,
    model: Annotated[str | None, typer.Option(help="runs of this model id")] = None,
    dataset: Annotated[
        str | None, typer.Option(help="runs of this dataset id (digits also matches digits\\[per_class=30])")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="delete them (without it: a dry run that lists them)")] = False,
    workdir: Workdir = DEFAULT_WORKDIR,
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


def audit(
    sample: Annotated[int, typer.Option(min=1, help="finished cells to re-run (all, when fewer)")] = 3,
    seed: Annotated[int, typer.Option(help="which cells: the sample is drawn reproducibly by this seed")] = 0,
    suite: Annotated[str | None, typer.Option(help="only cells of this suite")] = None,
    tolerance: Annotated[
        float, typer.Option(min=0.0, help="absolute tolerance where a run was not on the CPU (CPU: identical)")
    ] = 1e-4,
    db: Db = DEFAULT_DB,
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
