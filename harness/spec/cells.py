"""What runs: a cell of a grid, and the self-contained spec any executor hands to ``ecombench execute``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.core.errors import HarnessError

#: bump when the spec's fields change
SPEC_FORMAT = 1


@dataclass(frozen=True)
class Cell:
    """One point of a grid: what to run. Ids are canonical strings; params are the suite's and strategy's
    defaults overlaid with what the user gave."""

    model: str
    dataset: str
    strategy: str
    suite: str
    params: dict[str, Any] = field(default_factory=dict)

    def label(self) -> str:
        return f"{self.suite}/{self.strategy} {self.model} on {self.dataset}"


@dataclass(frozen=True)
class SubJob:
    """Work that cells consume and share: a fine-tune (``finetune``) or a top-tune search (``toptune``).

    It lives in ``<workdir>/<kind>/<key>/``, is trained once (under a file lock) and reused by every cell
    that names it."""

    kind: str
    key: str
    label: str


@dataclass(frozen=True)
class CellSpec:
    """A planned cell: the cell, its key (the run_id), the execution context that is part of the key, and the
    sub-jobs it consumes. ``ecombench execute`` runs one from this alone."""

    cell: Cell
    key: str
    context: dict[str, Any]
    subjobs: tuple[SubJob, ...] = ()

    def subjob(self, kind: str) -> SubJob:
        for job in self.subjobs:
            if job.kind == kind:
                return job
        raise HarnessError(f"cell {self.cell.label()} was planned without a {kind} job")

    @property
    def device(self) -> str:
        return str(self.context["device"])

    def to_json(self) -> str:
        return json.dumps({"format": SPEC_FORMAT, **asdict(self)}, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str) -> CellSpec:
        try:
            data = json.loads(text)
            if data.get("format") != SPEC_FORMAT:
                raise ValueError(f"format {data.get('format')!r}, expected {SPEC_FORMAT}")
            return cls(
                Cell(**data["cell"]),
                str(data["key"]),
                dict(data["context"]),
                tuple(SubJob(**job) for job in data["subjobs"]),
            )
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise HarnessError(f"not a cell spec of `ecombench plan --json`: {exc}") from exc
