"""The services beside a run: the pinned container images and the real Milvus server of a workdir."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.table import Table

from harness.cli.options import Workdir
from harness.cli.render import console
from harness.spec.settings import DEFAULT_WORKDIR

containers_app = typer.Typer(no_args_is_help=True, help="Pinned images per model family and the Milvus sidecar.")
milvus_app = typer.Typer(
    no_args_is_help=True, help="The real Milvus standalone server of a workdir (milvus-server extra)."
)


@containers_app.command("build", short_help="Build the base and the named images")
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


@containers_app.command("list", short_help="The images, what each runs, and their ids")
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


def _milvus_line(state) -> str:  # type: ignore[no-untyped-def]
    ports = ", ".join(f"{k.removesuffix('_port')} {v}" for k, v in state.ports.items())
    return f"Milvus {state.version} at {state.uri} (pid {state.pid}; ports: {ports}; token in the state file)"


@milvus_app.command("start", short_help="Start the workdir's server, or reuse a running one")
def milvus_start(
    workdir: Workdir = DEFAULT_WORKDIR,
    port: Annotated[int | None, typer.Option(help="client (proxy) port; default 19530 or the next free one")] = None,
    timeout: Annotated[float, typer.Option(help="seconds the start may take")] = 180.0,
) -> None:
    """Start the server (data in <workdir>/milvus-server, authorization on, a fresh secret), or reuse a running one."""
    from harness.compute.retrieval import milvus_server

    state = milvus_server.start(workdir, timeout_s=timeout, proxy_port=port)
    console.print(f"{_milvus_line(state)}; started in {state.start_s:.1f} s", highlight=False)


@milvus_app.command("status", short_help="Whether the workdir's server runs (exit 1 when not)")
def milvus_status(workdir: Workdir = DEFAULT_WORKDIR) -> None:
    """Whether the workdir's server runs and is healthy (exit code 1 when not)."""
    from harness.compute.retrieval import milvus_server

    state = milvus_server.status(workdir)
    if state is None:
        console.print("no Milvus server running for this workdir", highlight=False)
        raise typer.Exit(1)
    console.print(_milvus_line(state), highlight=False)


@milvus_app.command("stop", short_help="Stop the workdir's server and its process tree")
def milvus_stop(workdir: Workdir = DEFAULT_WORKDIR) -> None:
    """Stop the workdir's server and its whole process tree."""
    from harness.compute.retrieval import milvus_server

    stopped = milvus_server.stop(workdir)
    console.print("Milvus server stopped" if stopped else "no Milvus server was running", highlight=False)
