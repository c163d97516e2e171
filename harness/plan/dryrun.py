"""The dry run of a suite file, as ``ecombench plan`` and ``bench-full --dry-run`` print it (harness.report.dryrun
renders it): each model's
weights, each dataset's folder, layout and preparation, each cell's status and estimated device time, and
the totals (device-hours, price, wall time on N devices, disk). Loads no model and reads no image."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.plan.estimate import Estimate, estimate_plan
from harness.plan.grid import Grid
from harness.plan.plan import Plan, make_plan
from harness.plan.readiness import DatasetCheck, ModelCheck, PreviewIdentities, check_datasets, check_models
from harness.spec.strategies import get_strategy


@dataclass
class DryRun:
    grid: Grid
    plan: Plan
    models: list[ModelCheck]
    datasets: list[DatasetCheck]
    estimate: Estimate

    def blocked(self, planned_cell: object) -> bool:
        cell = planned_cell.spec.cell  # type: ignore[attr-defined]
        trained_on = get_strategy(cell.strategy).trained_on(cell.dataset, cell.params)
        missing = {d.id for d in self.datasets if not d.ready} | {m.id for m in self.models if not m.present}
        return bool({cell.model, cell.dataset, trained_on} & missing)


def dry_run(
    grid: Grid, device: str, workdir: Path, db: Path, estimate_for: str, extraction: dict[str, Any] | None = None
) -> DryRun:
    """Everything the dry run shows; cells of a missing dataset are planned with provisional keys (``extraction``:
    the numeric extraction settings that are not the defaults, as in make_plan)."""
    models = check_models([c.model for c in grid.cells])
    datasets = check_datasets(sorted({c.dataset for c in grid.cells}, key=[c.dataset for c in grid.cells].index),
                              workdir)  # fmt: skip
    ids = PreviewIdentities(device, dict(extraction or {}))
    plan = make_plan(grid.cells, device, workdir, grid.skipped, ids).cheap_first()
    return DryRun(grid, plan, models, datasets, estimate_plan(plan, estimate_for, workdir, db))
