"""The leakage suite's declaration; its run() is harness.compute.suites.leakage."""

from __future__ import annotations

from typing import Any

from harness.core.errors import HarnessError
from harness.spec.suites import Suite

DEFAULTS: dict[str, Any] = {"threshold": 0.95, "backend": "exact", "split": "test", "list_pairs": 200}
STRATEGIES = ("pretrained", "toptuned", "finetuned")


def check_params(params: dict[str, Any]) -> None:
    from harness.compute.retrieval.backends import BACKENDS  # here, when a cell is planned: listing suites stays light

    threshold = params["threshold"]
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not -1 <= threshold <= 1:
        raise HarnessError(f"leakage suite: threshold={threshold!r} must be a cosine between -1 and 1")
    if params["backend"] not in BACKENDS:
        raise HarnessError(f"leakage suite: backend={params['backend']!r}: expected one of {', '.join(BACKENDS)}")
    if params["split"] == "train":
        raise HarnessError("leakage suite: split='train' compares the training split with itself; use test")
    if isinstance(params["list_pairs"], bool) or not isinstance(params["list_pairs"], int) or params["list_pairs"] < 0:
        raise HarnessError(f"leakage suite: list_pairs={params['list_pairs']!r} must be an integer >= 0")


SUITE = Suite(
    name="leakage",
    description="near-duplicate train/test pairs and the retrieval metrics without the queries they leak",
    run_module="harness.compute.suites.leakage",
    defaults=DEFAULTS,
    strategies=STRATEGIES,
    own_precision=True,  # fixed at fp32
    check_params=check_params,
    backend_param="backend",  # Milvus Lite only: it has no milvus parameter
)
