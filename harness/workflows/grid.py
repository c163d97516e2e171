"""Plan a grid's cells and run them: the one path ``run``, ``grid``, ``finetune`` and ``bench-full`` take."""

from __future__ import annotations

from collections.abc import Callable

from harness.core.errors import HarnessError
from harness.execute.runner import Outcome
from harness.plan.grid import Grid
from harness.plan.plan import Plan
from harness.spec.settings import Settings


def plan_grid(grid: Grid, settings: Settings) -> Plan:
    """Every cell of the grid with its key and status under these settings."""
    from harness.plan.plan import make_plan

    extraction = settings.extraction
    return make_plan(grid.cells, extraction.device, settings.workdir, grid.skipped, extraction=extraction.numerics)


def run_cells(
    plan: Plan | list[Plan],
    settings: Settings,
    announce: Callable[[int, int, Plan], None] | None = None,
) -> list[Outcome]:
    """Run a plan, or its stages one after the other as one run (``announce(number, count, stage)`` before each);
    a database held by another process costs no computed cell (they stay in their shards)."""
    from harness.execute.runner import run_stages
    from harness.storage.store import DatabaseLocked
    from harness.storage.workdir import Workdir

    try:
        return run_stages(plan if isinstance(plan, list) else [plan], settings, announce)
    except DatabaseLocked as exc:
        raise HarnessError(
            f"{exc}\nEvery computed cell is kept in {Workdir(settings.workdir).shards}: run "
            f"`ecombench ingest --db {settings.db} --workdir {settings.workdir}` once the database is free "
            "(or run the same command again: it recomputes nothing)"
        ) from exc


def estimate_device(device: str, estimate_for: str | None) -> str:
    """The device an estimate is for: the one asked for, else the kind of GPU --device names, else the CPU."""
    if estimate_for:
        return estimate_for
    from harness.plan.identity import device_kind, hardware

    return hardware(device) if device_kind(device) == "cuda" else "cpu"
