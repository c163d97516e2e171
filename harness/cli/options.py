"""The options several commands share, declared once: each group is a dataclass whose fields are typer options,
and ``with_option_groups`` spreads a group's fields into a command's parameters where the group stands, then
hands the command one instance of the group. So ``run``, ``grid``, ``plan`` and ``bench-full`` read --device,
--precision, --executor, ... from the same declaration and turn them into run settings by the same method.

Fields keep the order they have always had on the command line: ``--help`` lists options in declaration order.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import time
import typing
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from harness.core.errors import HarnessError
from harness.spec.settings import DEFAULT_DB, DEFAULT_WORKDIR

if TYPE_CHECKING:
    from harness.plan.grid import Grid
    from harness.spec.settings import Execution, Settings

Db = Annotated[Path, typer.Option(help="results database (DuckDB file)")]
Workdir = Annotated[Path, typer.Option(help="embedding cache, run shards and the Milvus Lite file")]
MilvusUri = Annotated[
    str | None, typer.Option(help="Milvus server URI, e.g. http://127.0.0.1:19530 (default: Milvus Lite in workdir)")
]
Device = Annotated[str, typer.Option(help="torch device for extraction: cpu, cuda, cuda:1, ...")]
BatchSize = Annotated[int, typer.Option(min=1, help="images per forward pass")]
Workers = Annotated[int, typer.Option(min=0, help="image-decoding worker processes")]
Force = Annotated[bool, typer.Option(help="recompute cells that already finished")]
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
Shard = Annotated[
    str | None, typer.Option(help="I/N: run only the I-th of N slices and write shards only (`ingest` merges)")
]
Executor = Annotated[
    str, typer.Option(help="local (this machine: --jobs, --container) or ray (tasks on a Ray cluster)")
]
Address = Annotated[
    str | None, typer.Option(help="with --executor ray: auto, HOST:6379 or ray://HOST:10001 (default: a local one)")
]
#: the executors --executor names (harness.spec.settings.Execution.name picks the executor)
EXECUTORS = ("local", "ray")


@dataclasses.dataclass(frozen=True)
class SettingsOptions:
    """Where results go and how the forward passes run: every command that plans or runs cells."""

    db: Db = DEFAULT_DB
    workdir: Workdir = DEFAULT_WORKDIR
    milvus_uri: MilvusUri = None
    device: Device = "cpu"
    batch_size: BatchSize = 32
    workers: Workers = 2
    force: Force = False
    precision: Precision = None
    channels_last: ChannelsLast = None
    image_cache: ImageCache = False

    def settings(self, grid: Grid | None = None) -> Settings:
        """The run settings; --precision / --channels-last win over the suite file's [grid] values (``grid``)."""
        from harness.core.precision import PRECISIONS
        from harness.execute.preflight import check_settings
        from harness.spec.settings import Extraction, Settings

        check_settings(self.device, self.workdir)
        given = grid.extraction if grid is not None else {}
        precision = self.precision if self.precision is not None else given.get("precision", "fp32")
        channels_last = self.channels_last if self.channels_last is not None else given.get("channels_last", False)
        if precision not in PRECISIONS:
            raise HarnessError(f"--precision '{precision}': expected one of {', '.join(PRECISIONS)}")
        extraction = Extraction(
            self.batch_size, self.workers, self.device, precision, bool(channels_last), self.image_cache
        )
        # one force time for everything this command runs (every stage of bench-full, every process of a grid)
        force_since = time.time() if self.force else None
        return Settings(self.workdir, self.db, self.milvus_uri, extraction, force_since)


@dataclasses.dataclass(frozen=True)
class ExecutionOptions:
    """Which executor runs a suite file's cells, and which slice of them: ``grid`` and ``bench-full``."""

    jobs: Jobs = 1
    container: Container = False
    timeout: CellTimeout = 3600
    milvus_sidecar: MilvusSidecar = "server"
    shard: Shard = None
    executor: Executor = "local"
    address: Address = None

    def resolve(self) -> Execution:
        """The executor's settings, every combination checked before anything runs."""
        from harness.spec.settings import Execution

        check_local_execution(self.jobs, self.container)
        if self.executor not in EXECUTORS or (self.executor == "ray" and (self.container or self.jobs > 1)):
            raise HarnessError(f"--executor {self.executor}: expected local, or ray without --jobs and --container")
        if self.address and self.executor != "ray":
            raise HarnessError("--address names a Ray cluster: add --executor ray")
        sidecar = check_sidecar(self.milvus_sidecar)
        return Execution(self.jobs, self.container, self.timeout, self.executor == "ray", self.address, sidecar)

    def slice(self) -> tuple[int, int] | None:
        """--shard I/N as (I, N); None without --shard (the range is checked by Plan.shard)."""
        if self.shard is None:
            return None
        index, sep, count = self.shard.partition("/")
        if not (sep and index.isdigit() and count.isdigit()):
            raise HarnessError(f"--shard {self.shard!r}: expected I/N, e.g. --shard 3/8")
        return int(index), int(count)


@dataclasses.dataclass(frozen=True)
class DataOptions:
    """Where a suite file's data folders are: ``grid``, ``plan`` and ``bench-full``."""

    data_root: DataRoot = None
    data: DataFolders = None

    def folders(self) -> dict[str, str]:
        """--data NAME=PATH pairs as a mapping."""
        folders = {}
        for pair in self.data or []:
            name, sep, path = pair.partition("=")
            if not sep or not name.strip() or not path.strip():
                raise HarnessError(
                    f"--data '{pair}': expected NAME=PATH, e.g. --data sop=/mnt/Stanford_Online_Products"
                )
            folders[name.strip()] = path.strip()
        return folders


@dataclasses.dataclass(frozen=True)
class EstimateOptions:
    """What the dry run's estimate is for: ``plan`` and ``bench-full``."""

    estimate_for: EstimateFor = None
    devices: Devices = 1


def check_sidecar(kind: str) -> str:
    """The --milvus-sidecar kind, checked before anything runs."""
    from harness.execute.containers import get_sidecar

    return get_sidecar(kind).kind


def check_local_execution(jobs: int, container: bool | str) -> None:
    """A container runs one cell at a time: --container with --jobs is refused before anything runs."""
    if container and jobs > 1:
        raise HarnessError("--container runs one cell at a time: leave out --jobs")


# ---------------------------------------------------------------- spreading a group into a command

#: the option groups a command may take as one parameter
GROUPS = (SettingsOptions, ExecutionOptions, DataOptions, EstimateOptions)


class Omit:
    """``Annotated[SettingsOptions, Omit("force")]``: the group without these options (their defaults hold)."""

    def __init__(self, *fields: str) -> None:
        self.fields = fields


def group_fields(group: type, omit: tuple[str, ...] = ()) -> list[inspect.Parameter]:
    """A group's options as keyword parameters, in declaration order: the ``Annotated`` type and the default."""
    hints = typing.get_type_hints(group, include_extras=True)
    return [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=hints[f.name])
        for f in dataclasses.fields(group)
        if f.name not in omit
    ]


def _group_of(annotation: Any) -> tuple[type, tuple[str, ...]] | None:
    if annotation in GROUPS:
        return annotation, ()
    if typing.get_origin(annotation) is Annotated:
        base, *extras = typing.get_args(annotation)
        if base in GROUPS:
            omitted = tuple(name for extra in extras if isinstance(extra, Omit) for name in extra.fields)
            return base, omitted
    return None


Command = TypeVar("Command", bound=Callable[..., Any])


def with_option_groups(command: Command) -> Command:
    """Let typer see each option-group parameter of ``command`` as the group's options, and call ``command`` with
    one instance of the group built from them."""
    signature = inspect.signature(command, eval_str=True)
    parameters: list[inspect.Parameter] = []
    groups: dict[str, tuple[type, list[str]]] = {}
    for parameter in signature.parameters.values():
        found = _group_of(parameter.annotation)
        if found is None:
            parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY))
            continue
        group, omitted = found
        fields = group_fields(group, omitted)
        parameters += fields
        groups[parameter.name] = (group, [f.name for f in fields])
    names = [p.name for p in parameters]
    clashes = sorted({n for n in names if names.count(n) > 1} | (set(names) & set(groups)))
    if clashes:
        raise TypeError(f"{command.__name__}: parameter names used twice: {', '.join(clashes)}")

    @functools.wraps(command)
    def parsed(**options: Any) -> Any:
        return command(**collect(parsed, options))

    parsed.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    parsed.__annotations__ = {p.name: p.annotation for p in parameters}
    parsed.option_groups = groups  # type: ignore[attr-defined]
    return typing.cast(Command, parsed)


def collect(command: Callable[..., Any], options: dict[str, Any]) -> dict[str, Any]:
    """A command's parsed options (click's ``ctx.params``) with each group's fields folded into its instance:
    the arguments the command's own function is called with."""
    arguments = dict(options)
    for name, (group, fields) in getattr(command, "option_groups", {}).items():
        arguments[name] = group(**{field: arguments.pop(field) for field in fields if field in arguments})
    return arguments
