"""The ``ecombench`` command line: each command parses its options, makes one library call and renders the
result. The commands live by what they act on (cells, results, the study, the registries, the services); this
module assembles them into one app, in the order ``ecombench --help`` lists them, and runs it."""

from __future__ import annotations

import logging
import os
import sys

import typer
from rich.markup import escape

from harness.cli import bench, catalogue, cells, recommend, results, services
from harness.cli.render import err
from harness.core.errors import HarnessError

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
# ``ecombench --help`` lists each command in one short line (as git and docker do); the command's docstring, its
# own ``--help`` and the CLI reference in the docs say the rest.
app.command(short_help="Run one cell and print its metrics")(cells.run)
app.command(short_help="Run every cell of a suite file; finished ones are kept")(cells.grid)
app.command("plan", short_help="Dry run: every cell's status, estimated cost and needs")(cells.plan_command)
app.command(short_help="Run one cell from its spec into a shard")(cells.execute)
app.command(short_help="Write shards into the results database")(cells.ingest)
app.command(short_help="Drop runs from the results database")(results.prune)
app.command(short_help="Fine-tune a whole backbone (resumable)")(cells.finetune)
app.command(short_help="Render the reports from the results database")(results.report)
app.command(short_help="Export the results for other tools")(results.export)
app.command(short_help="Re-run a sample of finished cells and compare")(results.audit)
app.command(short_help="Which backbone (and strategy) for a catalogue, racing on samples")(recommend.recommend)
app.command("bench-full", short_help="The whole study: preflight, prepare, grid, report")(bench.bench_full)
app.add_typer(catalogue.models_app, name="models", short_help="The model registry")
app.add_typer(
    catalogue.datasets_app, name="datasets", short_help="The dataset registry: kinds, preparation, statistics"
)
app.add_typer(services.containers_app, name="containers", short_help="Pinned images per model family, Milvus sidecar")
app.add_typer(catalogue.weights_app, name="weights", short_help="Pretrained weights in the local cache")
app.add_typer(services.milvus_app, name="milvus", short_help="The real Milvus server of a workdir")


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
