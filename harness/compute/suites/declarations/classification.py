"""The classification suite's declaration; its run() is harness.compute.suites.classification."""

from __future__ import annotations

from typing import Any

from harness.spec.strategies import LADDER_RUNGS, TOPTUNE
from harness.spec.suites import Suite

DEFAULTS: dict[str, Any] = {**TOPTUNE, "split": "test"}
#: ``pretrained`` here is a top-tuned head on the frozen pre-trained embeddings (harness.spec.strategies)
STRATEGIES = ("pretrained", "finetuned", *LADDER_RUNGS)

SUITE = Suite(
    name="classification",
    description="a top-tuned MLP head on frozen embeddings, scored once on the test split (accuracy, macro F1)",
    run_module="harness.compute.suites.classification",
    defaults=DEFAULTS,
    strategies=STRATEGIES,
    # its metrics need a classifier, whatever the strategy: a head on the evaluated dataset's training split
    trains=("toptune",),
)
