"""Helpers shared by test modules (imported as ``support``; tests never import one another): run the real CLI in a
subprocess, and build shards for store/report tests."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

from harness.core.keys import content_key
from harness.spec.cells import Cell
from harness.storage.shards import Shard

REPO = Path(__file__).resolve().parent.parent.parent


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``ecombench ARGS`` exactly as a user runs it, in its own process."""
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def cell_run_id(cell: Cell) -> str:
    """A stand-in run_id for shards built by hand: distinct per cell, 32 hex digits like a real key."""
    return content_key(dataclasses.asdict(cell))


def make_shard(
    model: str, dataset: str, metrics: dict[str, float], status: str = "ok", random_init: bool = True, **kw: object
) -> Shard:
    cell = Cell(model, dataset, "pretrained", "retrieval", {"backend": "exact", "split": "test"})
    return Shard(
        run_id=cell_run_id(cell),
        cell=cell,
        status=status,
        started_at="2026-11-26T10:00:00+00:00",
        finished_at=str(kw.pop("finished_at", "2026-11-26T10:01:00+00:00")),
        metrics=metrics,
        random_init=random_init,
        error=None if status == "ok" else "boom",
        provenance={"git_sha": "abc", "torch_version": "2.x", "cpu": "test cpu"},
        **kw,  # type: ignore[arg-type]
    )


def mmp_at_5(stdout: str) -> float:
    match = re.search(r"mMP@5\s*│\s*([0-9.]+)", stdout)
    assert match, stdout
    return float(match[1])
