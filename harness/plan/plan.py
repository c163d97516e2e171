"""The plan of a grid: every cell with its key and status, the sub-jobs and which cells share them, and the
(suite, strategy) pairs skipped because the suite does not accept the strategy. Loads no model and builds
no manifest: keys come from fingerprints (harness.plan.identity), statuses from the shard store.

    done     a finished shard with this key exists
    failed   the last attempt with this key failed
    stale    no shard with this key, but one for the same cell with another key (changed weights, data,
             presets or harness version): it will be recomputed
    pending  never run
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError
from harness.core.keys import content_key
from harness.plan.identity import EXECUTION_ONLY, Identities, plan_cell
from harness.spec.cells import Cell, CellSpec, SubJob
from harness.storage.shards import ShardStore
from harness.storage.subjobs import SubJobFiles
from harness.storage.workdir import Workdir

STATUSES = ("done", "failed", "stale", "pending")


@dataclass(frozen=True)
class Skipped:
    suite: str
    strategy: str
    reason: str


@dataclass(frozen=True)
class Planned:
    spec: CellSpec
    status: str


@dataclass
class Plan:
    cells: list[Planned]
    skipped: list[Skipped] = field(default_factory=list)
    job_status: dict[str, str] = field(default_factory=dict)  # sub-job key -> done / pending

    def jobs(self) -> dict[str, tuple[SubJob, list[Planned]]]:
        """Each sub-job with the cells that consume it, in plan order."""
        found: dict[str, tuple[SubJob, list[Planned]]] = {}
        for planned in self.cells:
            for job in planned.spec.subjobs:
                found.setdefault(job.key, (job, []))[1].append(planned)
        return found

    def shard(self, index: int, count: int) -> Plan:
        """The ``index``-th (1-based) of ``count`` deterministic, balanced slices, for schedulers without a
        shared queue (a SLURM job array, a Kubernetes Indexed Job). Cells that share a sub-job stay in one
        slice, so each sub-job trains once, before its consumers; groups go to the least-loaded slice, largest
        first, ties broken by key, so every node computes the same partition from the same plan."""
        if not 1 <= index <= count:
            raise HarnessError(f"--shard {index}/{count}: expected I/N with 1 <= I <= N")
        groups: dict[str, list[Planned]] = {}
        for planned in self.cells:
            anchor = planned.spec.subjobs[0].key if planned.spec.subjobs else planned.spec.key
            groups.setdefault(anchor, []).append(planned)
        loads = [0] * count
        mine: set[str] = set()
        for _, members in sorted(groups.items(), key=lambda g: (-len(g[1]), g[0])):
            slot = min(range(count), key=lambda i: (loads[i], i))
            loads[slot] += len(members)
            if slot == index - 1:
                mine.update(p.spec.key for p in members)
        return Plan([p for p in self.cells if p.spec.key in mine], self.skipped, self.job_status)

    def cheap_first(self) -> Plan:
        """The same cells, cheapest stage first (stable within a stage): pre-trained retrieval and cost (a first
        report within the hour), then what needs a top-tune search, then what needs a fine-tune."""
        return Plan(sorted(self.cells, key=_stage), self.skipped, self.job_status)

    def stages(self) -> list[Plan]:
        """The cheap-first stages as plans of their own, to run one after the other (an executor groups the
        cells it is given by model, which would otherwise run a model's fine-tunes before the next model)."""
        found: dict[int, list[Planned]] = defaultdict(list)
        for planned in self.cells:
            found[_stage(planned)].append(planned)
        return [Plan(found[s], self.skipped, self.job_status) for s in sorted(found)]

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for planned in self.cells:
            counts[planned.status] += 1
        return counts


def _stage(planned: Planned) -> int:
    kinds = {job.kind for job in planned.spec.subjobs}
    return 2 if "finetune" in kinds else 1 if "toptune" in kinds else 0


def signature(cell: Cell) -> str:
    """The cell without its identity: equal for two runs of the same cell under different keys."""
    fields = asdict(cell)
    fields["params"] = {k: v for k, v in cell.params.items() if k not in EXECUTION_ONLY}
    return content_key(fields)


def make_plan(
    cells: list[Cell],
    device: str,
    workdir: Path,
    skipped: list[Skipped] | None = None,
    ids: Identities | None = None,
    extraction: dict[str, Any] | None = None,
) -> Plan:
    """``ids``: the fingerprints to key cells with (default: the real ones; a dry run passes provisional ones);
    ``extraction``: the numeric extraction settings that are not the defaults (``Extraction.numerics``)."""
    ids = ids or Identities(device, dict(extraction or {}))
    store = ShardStore(Workdir(workdir).shards)
    specs = [plan_cell(cell, ids) for cell in cells]
    statuses = {spec.key: store.status(spec.key) for spec in specs}
    others: dict[str, set[str]] = defaultdict(set)
    if any(status is None for status in statuses.values()):
        for shard in store.all():
            others[signature(shard.cell)].add(shard.status)
    planned = []
    for spec in specs:
        status = statuses[spec.key]
        if status is None:
            planned.append(Planned(spec, "stale" if "ok" in others.get(signature(spec.cell), ()) else "pending"))
        else:
            planned.append(Planned(spec, "done" if status == "ok" else "failed"))
    plan = Plan(planned, skipped or [])
    for key, (job, _) in plan.jobs().items():
        plan.job_status[key] = "done" if SubJobFiles.of(workdir, job.kind, key).done() else "pending"
    return plan
