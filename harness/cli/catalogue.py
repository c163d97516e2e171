"""The registries: `models list`, `datasets list | prepare | info` and `weights fetch`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from harness.cli.options import Db, Workdir
from harness.cli.render import console, err
from harness.spec.settings import DEFAULT_DB, DEFAULT_WORKDIR

models_app = typer.Typer(no_args_is_help=True, help="The model registry.")
datasets_app = typer.Typer(no_args_is_help=True, help="The dataset registry.")
weights_app = typer.Typer(no_args_is_help=True, help="Pretrained weights in the local cache.")


@models_app.command("list", short_help="The model families, the catalogue, finished fine-tunes")
def models_list(workdir: Workdir = DEFAULT_WORKDIR) -> None:
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


@datasets_app.command("list", short_help="The dataset kinds and their options")
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


@datasets_app.command("prepare", short_help="Check every image; write the manifest and statistics")
def datasets_prepare(
    dataset: DatasetArg,
    root: Root = None,
    workers: Annotated[int, typer.Option(min=0, help="processes reading images (0: this one)")] = os.cpu_count() or 1,
    force: Annotated[bool, typer.Option(help="prepare again even if a valid prepared manifest exists")] = False,
    db: Db = DEFAULT_DB,
    workdir: Workdir = DEFAULT_WORKDIR,
) -> None:
    """Check every image, write the manifest (Parquet, in <workdir>/manifests) and its statistics."""
    from harness.workflows.datasets import prepare_command

    prepare_command(dataset, root, workers, force, db, workdir, console, err)


@datasets_app.command("info", short_help="A dataset's statistics, also recorded in the database")
def datasets_info(
    dataset: DatasetArg, root: Root = None, db: Db = DEFAULT_DB, workdir: Workdir = DEFAULT_WORKDIR
) -> None:
    """A dataset's statistics, from its prepared manifest (or built in memory), also recorded in the database."""
    from harness.workflows.datasets import info_command

    info_command(dataset, root, db, workdir, console, err)


@weights_app.command("fetch", short_help="Download the missing weights of a suite file's models")
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
