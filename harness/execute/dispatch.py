"""What every executor shares: the protocol, the callback that receives each finished cell, and the order cells
are handed out in.

Cells are handed out in groups of one model, so each worker loads each of its models once, and the cells
that share a sub-job (a fine-tune, a top-tune search) run one after the other in one worker.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Protocol

from harness.spec.cells import CellSpec
from harness.storage.shards import Shard

#: called with each cell's shard as it finishes, and whether it had finished earlier (and so was not recomputed)
Done = Callable[[Shard, bool], None]


class Executor(Protocol):
    def run(self, specs: list[CellSpec], done: Done) -> None:
        """Run every spec; call ``done(shard, was_cached)`` for each as it finishes."""
        ...


def by_model(specs: list[CellSpec]) -> list[list[CellSpec]]:
    ordered = sorted(specs, key=lambda s: s.cell.model)  # stable: plan order within a model
    return [list(group) for _, group in itertools.groupby(ordered, key=lambda s: s.cell.model)]
