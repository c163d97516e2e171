"""Run a plan: hand the cells that are not done to an executor, ingest every shard, report the outcomes.

The driver (this process) is the one writer of the results database (DuckDB allows one writing process). It ingests in a
``finally``, so an interrupted grid still records the cells it finished; cells that finished earlier but never
reached the database (a run killed before its ingest, a database locked by a reader) are ingested too.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass

from harness.execute.executors import ContainerExecutor, Executor, PoolExecutor, SerialExecutor
from harness.execute.worker import RunSettings
from harness.plan.plan import Plan
from harness.spec.cells import Cell
from harness.storage.shards import Shard
from harness.storage.store import ingest_missing

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    cell: Cell
    run_id: str
    status: str  # "ok", "cached" (finished earlier, not recomputed) or "error"
    metrics: dict[str, float]
    error: str | None = None

    @classmethod
    def of(cls, shard: Shard, cached: bool) -> Outcome:
        status = "cached" if cached and shard.status == "ok" else shard.status
        return cls(shard.cell, shard.run_id, status, shard.metrics, shard.error)


@dataclass(frozen=True)
class Execution:
    """Which executor runs the cells: ``jobs`` worker processes, or containers (``container``: True for each
    model's family image, or one image's name) with a per-cell ``timeout_s``, or tasks on a Ray cluster
    (``ray``; ``address``: the cluster's, None for a local one)."""

    jobs: int = 1
    container: str | bool = False
    timeout_s: float = 3600.0
    ray: bool = False
    address: str | None = None
    milvus_sidecar: str = "server"  # with container: the Milvus sidecar's kind (harness.execute.containers.SIDECARS)

    def executor(self, settings: RunSettings, force_since: float | None) -> Executor:
        if self.ray:
            from harness.execute.ray_cluster import RayExecutor  # Ray is an optional extra

            return RayExecutor(settings, force_since, self.address)
        if self.container:
            family = self.container if isinstance(self.container, str) else None
            return ContainerExecutor(settings, self.timeout_s, family, self.milvus_sidecar)
        if self.jobs > 1:
            return PoolExecutor(settings, force_since, self.jobs)
        return SerialExecutor(settings, force_since)


def run_plan(plan: Plan, settings: RunSettings, execution: Execution | None = None) -> list[Outcome]:
    """Run every cell of the plan that is not done (all of them with --force), then ingest."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    from harness.core.progress import progress_bar

    force_since = time.time() if settings.force else None
    store = settings.shards
    shards: dict[str, Shard] = {}
    cached: set[str] = set()
    todo = []
    for planned in plan.cells:
        done = store.get(planned.spec.key) if planned.status == "done" and not settings.force else None
        if done is not None:
            shards[done.run_id] = done
            cached.add(done.run_id)
        else:
            todo.append(planned.spec)
    interactive = sys.stderr.isatty()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    try:
        with progress_bar(*columns, transient=True, disable=not interactive or not todo) as progress:
            task = progress.add_task("cells", total=len(plan.cells), completed=len(cached))

            def finished(shard: Shard, was_cached: bool) -> None:
                shards[shard.run_id] = shard
                if was_cached:
                    cached.add(shard.run_id)
                progress.advance(task)
                if not interactive and len(plan.cells) > 1:  # CI logs, nox, | tee: a line per cell, not a bar
                    status = "cached" if was_cached and shard.status == "ok" else shard.status
                    line = f"[{len(shards)}/{len(plan.cells)}] {status} {shard.cell.label()}"
                    print(line, file=sys.stderr, flush=True)

            if todo:
                (execution or Execution()).executor(settings, force_since).run(todo, finished)
    finally:  # an interrupted grid still records the cells it finished
        if settings.ingest and shards:
            ingest_missing(settings.db, list(shards.values()), {k for k in shards if k not in cached}, settings.workdir)
    return [Outcome.of(shards[p.spec.key], p.spec.key in cached) for p in plan.cells if p.spec.key in shards]
