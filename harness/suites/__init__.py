"""The suite registry: a suite turns (model, dataset, params) into metrics. Listed without heavy imports."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.datasets.base import Dataset
    from harness.embed import EmbeddingCache, ExtractionSettings
    from harness.models.base import EmbeddingModel


@dataclass
class Context:
    """Everything a suite may use; suites never touch the results database."""

    model: EmbeddingModel
    dataset: Dataset
    params: dict[str, Any]
    cache: EmbeddingCache
    extraction: ExtractionSettings
    milvus_uri: str
    workdir: Path
    notes: list[str] = field(default_factory=list)


class Suite(Protocol):
    #: parameter defaults; a cell's params are these updated with the suite file's / CLI's values
    DEFAULTS: dict[str, Any]
    STRATEGIES: tuple[str, ...]

    def run(self, ctx: Context) -> dict[str, float]: ...


SUITES: dict[str, str] = {
    "retrieval": "harness.suites.retrieval",
}


def get_suite(name: str) -> Suite:
    if name not in SUITES:
        raise HarnessError(f"unknown suite '{name}' (known: {', '.join(SUITES)})")
    suite: Suite = importlib.import_module(SUITES[name])
    return suite


def resolve_params(name: str, strategy: str, given: dict[str, Any]) -> dict[str, Any]:
    """Defaults overlaid with ``given``; unknown parameters and unsupported strategies are errors."""
    suite = get_suite(name)
    unknown = sorted(set(given) - set(suite.DEFAULTS))
    if unknown:
        raise HarnessError(
            f"unknown parameter(s) {', '.join(unknown)} for suite '{name}' (known: {', '.join(suite.DEFAULTS)})"
        )
    if strategy not in suite.STRATEGIES:
        raise HarnessError(
            f"strategy '{strategy}' is not available in suite '{name}' (available: {', '.join(suite.STRATEGIES)})"
        )
    return {**suite.DEFAULTS, **given}
