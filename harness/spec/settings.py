"""How a run runs, in one typed, frozen value: where it writes, how forward passes run (:class:`Extraction`), which
executor dispatches the cells (:class:`Execution`) and whether finished work is done again (``force_since``).

None of it is part of a cell's key (harness.plan.identity): the same cell run with other settings is the same
cell. It imports no torch and no storage: the layers above build on it, and it travels as JSON in every line of
``ecombench plan --json`` (:meth:`Settings.as_dict`), which ``ecombench execute`` reads back in a pool worker, a
container or a Ray task. Its keys are a file format: they never change.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from harness.core.errors import HarnessError
from harness.core.precision import PRECISIONS

#: the default workdir and results database, relative to the folder a command runs in
DEFAULT_WORKDIR = Path(".ecombench")
DEFAULT_DB = Path("results.duckdb")


def numeric_settings(precision: str = "fp32", channels_last: bool = False) -> dict[str, Any]:
    """The extraction settings that change the numbers, only where they are not the defaults: what a cell key
    and an embedding cache key take in, so every key made before these settings existed stays as it was."""
    if precision not in PRECISIONS:
        raise HarnessError(f"precision '{precision}': expected one of {', '.join(PRECISIONS)}")
    return {**({"precision": precision} if precision != "fp32" else {}),
            **({"channels_last": True} if channels_last else {})}  # fmt: skip


@dataclass(frozen=True)
class Extraction:
    """How the forward passes run. ``precision`` and ``channels_last`` change the numbers, so they are part
    of the embedding cache key (and of a cell's key, harness.plan.identity); batch size, workers and ``image_cache``
    (decode and resize once into harness.compute.extract.image_cache, normalise on the device: the same numbers)
    change only the speed."""

    batch_size: int = 32
    workers: int = 2
    device: str = "cpu"
    precision: str = "fp32"
    channels_last: bool = False
    image_cache: bool = False

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise HarnessError(f"precision '{self.precision}': expected one of {', '.join(PRECISIONS)}")

    @property
    def on_cuda(self) -> bool:
        return self.device.startswith("cuda")

    @property
    def numerics(self) -> dict[str, Any]:
        """The settings that change the numbers, where not the defaults (see ``numeric_settings``)."""
        return numeric_settings(self.precision, self.channels_last)


@dataclass(frozen=True)
class Execution:
    """Which executor runs the cells (harness.execute.executors): ``executor`` by name, or, left out, the one
    the older options mean: ``ray`` (a Ray cluster at ``address``, None: a local one), ``container`` (True: each
    model's family image; a name: that image; with a per-cell ``timeout_s`` and a Milvus sidecar of kind
    ``milvus_sidecar``), ``jobs`` > 1 (a pool of worker processes), else serial (this process)."""

    jobs: int = 1
    container: str | bool = False
    timeout_s: float = 3600.0
    ray: bool = False
    address: str | None = None
    milvus_sidecar: str = "server"  # with container: the Milvus sidecar's kind (harness.execute.containers.SIDECARS)
    executor: str | None = None

    @property
    def name(self) -> str:
        """The executor's name in the registry (harness.execute.executors.EXECUTORS)."""
        if self.executor is not None:
            return self.executor
        if self.ray:
            return "ray"
        if self.container:
            return "container"
        return "pool" if self.jobs > 1 else "serial"

    @property
    def family(self) -> str | None:
        """The one image every container cell runs in (None: each model's family image)."""
        return self.container if isinstance(self.container, str) and self.container else None


@dataclass(frozen=True)
class Settings:
    """The run settings.

    ``force_since``: recompute every cell and sub-job that finished before this time (seconds since the epoch);
    None reuses them. It is a time, not a flag, so that every process of a grid (a pool worker, a container, a Ray
    task) agrees on what "finished before this run" means, and a cell that another process of the same run has
    just finished is reused, not computed twice. ``execution`` says how the driver dispatches cells; it is the
    driver's alone and does not travel in :meth:`as_dict`.
    """

    workdir: Path = DEFAULT_WORKDIR
    db: Path = DEFAULT_DB
    milvus_uri: str | None = None  # None: a Milvus Lite file of the cell's own inside workdir
    extraction: Extraction = field(default_factory=Extraction)
    force_since: float | None = None
    seed: int = 0
    ingest: bool = True  # False in a container: the host ingests its shards (it alone opens the database)
    shared_cache: Path | None = None  # a read-only embedding cache consulted after the workdir's (containers)
    execution: Execution = field(default_factory=Execution)

    def __post_init__(self) -> None:
        force: object = self.force_since
        if force is not None and (isinstance(force, bool) or not isinstance(force, int | float)):
            raise HarnessError(f"settings 'force': expected None or a time in seconds, not {force!r}")

    @property
    def force(self) -> bool:
        return self.force_since is not None

    def as_dict(self) -> dict[str, Any]:
        """The JSON of a ``plan --json`` line's ``settings``; ``force`` is false or the time the force began."""
        return {
            "workdir": str(self.workdir), "db": str(self.db), "milvus_uri": self.milvus_uri,
            "batch_size": self.extraction.batch_size, "workers": self.extraction.workers,
            "device": self.extraction.device, "precision": self.extraction.precision,
            "channels_last": self.extraction.channels_last, "image_cache": self.extraction.image_cache,
            "force": self.force_since if self.force_since is not None else False, "seed": self.seed,
            "ingest": self.ingest,
            "shared_cache": str(self.shared_cache) if self.shared_cache else None,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        """Read :meth:`as_dict`'s JSON (and the lines written before precision, channels_last and image_cache
        existed: they take the defaults)."""
        extraction = Extraction(int(d["batch_size"]), int(d["workers"]), str(d["device"]),
                                str(d.get("precision", "fp32")), bool(d.get("channels_last", False)),
                                bool(d.get("image_cache", False)))  # fmt: skip
        force = d["force"]
        if not isinstance(force, bool | int | float):
            raise HarnessError(f"settings 'force': expected false, true or a time in seconds, not {force!r}")
        if isinstance(force, bool):  # a line written before the time was held here: true means "from now"
            force = time.time() if force else None
        shared = Path(d["shared_cache"]) if d.get("shared_cache") else None
        return cls(Path(d["workdir"]), Path(d["db"]), d["milvus_uri"], extraction, force, int(d["seed"]),
                   bool(d["ingest"]), shared)  # fmt: skip
