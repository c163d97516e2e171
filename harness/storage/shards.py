"""The shard store: one JSON file per cell with its metrics, provenance and status, written atomically.

Workers (a process of the pool, a container, a Ray task, a node of a job array) write shards; only the ingest
step (harness.storage.store) writes the DuckDB file. This module owns everything about shard files: where they live
(``<folder>/<run_id>.json``), their format version, how they are validated when read back (a shard may come
from another machine or a container: its run_id becomes a file name and a primary key), and the rule that an
error never replaces a finished result (a failed re-run is kept beside it, as ``<run_id>.error.json``).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError
from harness.core.io import atomic_write
from harness.spec.cells import Cell

log = logging.getLogger(__name__)

#: 2: run_id is the cheap cell key of harness.plan.identity (1: the key included the tensor and manifest digests)
SHARD_FORMAT = 2
RUN_ID = re.compile(r"[0-9a-f]{32}")
STATUSES = ("ok", "error")
FAILED_SUFFIX = ".error.json"


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
    format: int = SHARD_FORMAT

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True, default=str).encode()

    @classmethod
    def parse(cls, data: Any, where: str) -> Shard:
        """Validate a decoded shard (from any worker: trust nothing) and migrate older formats."""
        if not isinstance(data, dict):
            raise HarnessError(f"{where}: not a run shard")
        version = data.get("format", 1)  # format 1 had no version field; its fields are those of format 2
        if not isinstance(version, int) or version > SHARD_FORMAT:
            raise HarnessError(f"{where}: shard format {version!r} is newer than this harness's ({SHARD_FORMAT})")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise HarnessError(f"{where}: unknown shard field(s) {', '.join(unknown)}")
        try:
            cell = Cell(**data["cell"])
            shard = cls(**{**data, "cell": cell, "format": version})
        except (KeyError, TypeError) as exc:
            raise HarnessError(f"{where}: malformed shard: {exc}") from exc
        problems = [
            "run_id is not 32 hex digits" * (not (isinstance(shard.run_id, str) and RUN_ID.fullmatch(shard.run_id))),
            f"status {shard.status!r}" * (shard.status not in STATUSES),
            "cell ids are not text" * (not all(isinstance(getattr(cell, f), str) for f in ("model", "dataset",
                                                                                           "strategy", "suite"))),
            "params is not a table" * (not isinstance(cell.params, dict)),
            "a metric is not a finite number" * (not isinstance(shard.metrics, dict) or not all(
                isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                for k, v in shard.metrics.items())),
        ]  # fmt: skip
        problems = [p for p in problems if p]
        if problems:
            raise HarnessError(f"{where}: invalid shard: {'; '.join(problems)}")
        return shard


class ShardStore:
    """A folder of shards, keyed by run_id."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, run_id: str) -> Path:
        if not RUN_ID.fullmatch(run_id):
            raise HarnessError(f"invalid run_id {run_id!r}: expected 32 hex digits")
        return self.folder / f"{run_id}.json"

    def failure_path(self, run_id: str) -> Path:
        return self.path(run_id).with_suffix(FAILED_SUFFIX)

    def write(self, shard: Shard) -> Path:
        """Write atomically. An error shard for a cell that has finished is kept beside the result."""
        path = self.path(shard.run_id)
        if shard.status == "error" and self.status(shard.run_id) == "ok":
            path = self.failure_path(shard.run_id)
            log.warning("%s failed again; its finished result is kept (failure in %s)", shard.cell.label(), path)
        atomic_write(path, shard.to_bytes())
        return path

    def get(self, run_id: str) -> Shard | None:
        """The shard of ``run_id``; None when absent, or unreadable (a torn or empty file: recomputed)."""
        path = self.path(run_id)
        try:
            return read_shard(path)
        except FileNotFoundError:
            return None
        except HarnessError as exc:
            log.warning("%s; treating the cell as not run", exc)
            return None

    def status(self, run_id: str) -> str | None:
        shard = self.get(run_id)
        return shard.status if shard else None

    def all(self) -> Iterator[Shard]:
        """Every readable result shard, in run_id order (failures kept beside a result are not included)."""
        for path in sorted(self.folder.glob("*.json")):
            if path.name.endswith(FAILED_SUFFIX):
                continue
            try:
                shard = read_shard(path)
            except (HarnessError, FileNotFoundError) as exc:
                log.warning("skipping %s: %s", path, exc)
                continue
            if shard.run_id != path.stem:
                log.warning("skipping %s: it holds run %s, not the run its name says", path, shard.run_id)
                continue
            yield shard


def read_shard(path: Path) -> Shard:
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise HarnessError(f"shard '{path}' is unreadable: {exc}") from exc
    return Shard.parse(data, f"shard '{path}'")
