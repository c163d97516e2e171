"""Run shards: one JSON file per cell with its metrics, provenance and status, written atomically.

Workers write shards; only the ingest step (harness.store) writes the DuckDB file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import harness
from harness.embed import atomic_write


@dataclass(frozen=True)
class Cell:
    """One point of a grid: what to run. Ids are canonical strings."""

    model: str
    dataset: str
    strategy: str
    suite: str
    params: dict[str, Any] = field(default_factory=dict)

    def key(self, weights_digest: str, manifest_digest: str) -> str:
        """The cell key of DESIGN.md §4: equal keys mean the same numbers; it is the run_id."""
        fields = {
            **asdict(self),
            "weights_digest": weights_digest,
            "manifest_digest": manifest_digest,
            "harness_version": harness.__version__,
        }
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]

    def label(self) -> str:
        return f"{self.suite}/{self.strategy} {self.model} on {self.dataset}"


@dataclass
class Shard:
    run_id: str
    cell: Cell
    status: str  # "ok" or "error"
    started_at: str
    finished_at: str
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    random_init: bool = False
    weights_digest: str | None = None
    manifest_digest: str | None = None
    preprocessing: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    provenance: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # suite-specific records, e.g. a search's trials

    def write(self, folder: Path) -> Path:
        path = folder / f"{self.run_id}.json"
        atomic_write(path, json.dumps(asdict(self), indent=2, sort_keys=True, default=str).encode())
        return path

    @classmethod
    def read(cls, path: Path) -> Shard:
        data = json.loads(path.read_text())
        return cls(**{**data, "cell": Cell(**data["cell"])})


def finished_ok(folder: Path, run_id: str) -> bool:
    path = folder / f"{run_id}.json"
    return path.exists() and Shard.read(path).status == "ok"
