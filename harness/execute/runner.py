"""Run a plan: hand the cells that are not done to an executor, ingest every shard, report the outcomes.

The driver (this process) is the one writer of the results database (DuckDB allows one writing process). It ingests
each cell as it finishes when the database is free, and once more in a ``finally``, so an interrupted grid still
records the cells it finished; cells that finished earlier but never reached the database (a run killed before its
ingest, a database locked by a reader) are ingested too. A database held by another process never stops a grid: the
cells keep computing into their shards, and only the last ingest waits for it.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

from harness.core.errors import HarnessError
from harness.execute.executors import make_executor
from harness.execute.worker import shard_store
from harness.plan.plan import Plan
from harness.spec.cells import Cell
from harness.spec.settings import Settings
from harness.storage.shards import Shard
from harness.storage.store import LOCK_WAIT_S, DatabaseLocked, ingest_missing

log = logging.getLogger(__name__)

#: seconds a run's last ingest waits for a database another process holds (default: the store's LOCK_WAIT_S)
LOCK_WAIT_ENV = "ECOMBENCH_DB_LOCK_WAIT_S"


def lock_wait_s() -> float:
    text = os.environ.get(LOCK_WAIT_ENV)
    if text is None:
        return LOCK_WAIT_S
    try:
        wait = float(text)
    except ValueError:
        wait = -1.0
    if not wait >= 0:
        raise HarnessError(f"{LOCK_WAIT_ENV}={text!r}: expected a number of seconds, 0 or more")
    return wait


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


def run_plan(plan: Plan, settings: Settings) -> list[Outcome]:
    """Run every cell of the plan that is not done (all of them with a force time), then ingest.

    ``settings.execution`` says which executor runs them. Every cell's shard goes to the
    database as soon as the database is free: between cells without waiting, and once more at the end, waiting
    for it (harness.storage.store.LOCK_WAIT_S). While another process holds it, cells keep computing into their
    shards; if it is still held at the end, every cell has run and :class:`DatabaseLocked` says so."""
    return run_stages([plan], settings)


def run_stages(
    stages: list[Plan], settings: Settings, announce: Callable[[int, int, Plan], None] | None = None
) -> list[Outcome]:
    """Run plans one after the other (``Plan.stages``: the cheap cells first) as one run: a database held by
    another process waits only at the very end, after the last stage, so it never stops the later stages.
    ``announce(number, count, stage)`` is called before each stage."""
    ingest = Ingest(settings) if settings.ingest else None
    outcomes: list[Outcome] = []
    try:
        for number, stage in enumerate(stages, start=1):
            if announce is not None:
                announce(number, len(stages), stage)
            outcomes += _run(stage, settings, ingest)
    finally:  # an interrupted grid still records the cells it finished
        if ingest is not None:
            ingest.attempt(wait_s=None)  # the last chance: wait for the database, then say how to ingest later
    return outcomes


def _run(plan: Plan, settings: Settings, ingest: Ingest | None) -> list[Outcome]:
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    from harness.core.progress import progress_bar

    store = shard_store(settings)
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
                if ingest is not None:
                    ingest.add(shard, was_cached)
                    ingest.attempt(wait_s=0.0)  # a locked database costs no wait: the next cells go on computing

            if todo:
                make_executor(settings).run(todo, finished)
    finally:  # the cells cached from the start too (a run killed before its ingest); the caller waits at the end
        if ingest is not None:
            for run_id, shard in shards.items():
                ingest.add(shard, run_id in cached)
            ingest.attempt(wait_s=0.0)
    return [Outcome.of(shards[p.spec.key], p.spec.key in cached) for p in plan.cells if p.spec.key in shards]


class Ingest:
    """The shards of a run that are not in the database yet, and the attempts to put them there.

    A shard computed in this run replaces its row; one that finished earlier goes in only if the database lacks
    it (a run killed before its ingest, a database that was locked). An attempt that finds the database locked
    keeps every shard pending for the next one."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pending: dict[str, Shard] = {}
        self.replace: set[str] = set()
        self.ingested: set[str] = set()

    def add(self, shard: Shard, was_cached: bool) -> None:
        if shard.run_id in self.ingested:
            return
        self.pending[shard.run_id] = shard
        if not was_cached:
            self.replace.add(shard.run_id)

    def attempt(self, wait_s: float | None) -> None:
        """Ingest what is pending; ``wait_s``: how long to wait for a locked database (None: the store's wait,
        and then :class:`DatabaseLocked` if it is still locked; 0: not at all, and keep the shards pending)."""
        if not self.pending:
            return
        try:
            ingest_missing(
                self.settings.db, list(self.pending.values()), self.replace, self.settings.workdir,
                wait_s=lock_wait_s() if wait_s is None else wait_s,
            )  # fmt: skip
        except DatabaseLocked:
            if wait_s is not None:
                log.debug("results database %s is locked; %d cells wait for the next ingest", self.settings.db,
                          len(self.pending))  # fmt: skip
                return
            raise
        self.ingested |= set(self.pending)
        self.pending.clear()
        self.replace.clear()
