"""The suite registry: a suite turns (model, dataset, params) into metrics. Listed without heavy imports."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness.errors import HarnessError
from harness.suites.param_types import check_param_types

if TYPE_CHECKING:
    from harness.datasets.base import Dataset
    from harness.embed import EmbeddingCache, ExtractionSettings
    from harness.models.base import EmbeddingModel


@dataclass
class Context:
    """Everything a suite may use; suites never touch the results database.

    A suite returns its metrics; anything richer (best hyperparameters, a search's trial history) goes into
    ``details``, which lands in the run's shard and in the ``runs.details`` column.
    """

    model: EmbeddingModel
    dataset: Dataset
    strategy: str
    params: dict[str, Any]
    cache: EmbeddingCache
    extraction: ExtractionSettings
    milvus_uri: str
    workdir: Path
    force: bool = False
    details: dict[str, Any] = field(default_factory=dict)
    #: dataset id -> Dataset, for cells that also read another dataset (a cross-tuning source)
    resolve: Callable[[str], Dataset] = field(default_factory=lambda: _resolve_dataset)


def _resolve_dataset(dataset_id: str) -> Dataset:
    from harness.datasets import resolve_dataset

    return resolve_dataset(dataset_id)


class Suite(Protocol):
    #: parameter defaults; a cell's params are these updated with the suite file's / CLI's values
    DEFAULTS: dict[str, Any]
    #: extra defaults that only cells of one strategy carry (e.g. the top-tuning preset of ``toptuned``)
    STRATEGY_DEFAULTS: dict[str, dict[str, Any]]
    STRATEGIES: tuple[str, ...]

    def run(self, ctx: Context) -> dict[str, float]: ...


SUITES: dict[str, str] = {
    "retrieval": "harness.suites.retrieval",
    "classification": "harness.suites.classification",
    "cost": "harness.suites.cost",
    "finetune": "harness.suites.finetune",
}


def get_suite(name: str) -> Suite:
    if name not in SUITES:
        raise HarnessError(f"unknown suite '{name}' (known: {', '.join(SUITES)})")
    suite: Suite = importlib.import_module(SUITES[name])
    return suite


def resolve_params(name: str, strategy: str, given: dict[str, Any]) -> dict[str, Any]:
    """Defaults overlaid with ``given``; unknown parameters and unsupported strategies are errors.

    A cell keeps only the parameters that apply to its strategy, so e.g. a ``pretrained`` cell's key does not
    change when the grid's top-tuning preset does.
    """
    suite = get_suite(name)
    by_strategy = getattr(suite, "STRATEGY_DEFAULTS", {})
    known = set(suite.DEFAULTS).union(*by_strategy.values())
    unknown = sorted(set(given) - known)
    if unknown:
        raise HarnessError(
            f"unknown parameter(s) {', '.join(unknown)} for suite '{name}' (known: {', '.join(sorted(known))})"
        )
    if strategy not in suite.STRATEGIES:
        raise HarnessError(
            f"strategy '{strategy}' is not available in suite '{name}' (available: {', '.join(suite.STRATEGIES)})"
        )
    defaults = {**suite.DEFAULTS, **by_strategy.get(strategy, {})}
    check_param_types(name, {**suite.DEFAULTS, **{k: v for d in by_strategy.values() for k, v in d.items()}}, given)
    params = {**defaults, **{k: v for k, v in given.items() if k in defaults}}
    # A suite may spell out what a parameter refers to (e.g. a preset's contents), so that the cell key
    # changes when that data changes, and a bad reference fails before anything runs.
    expand = getattr(suite, "expand_params", None)
    return expand(params) if expand else params
