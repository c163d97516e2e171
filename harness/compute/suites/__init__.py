"""The suite registry: a suite turns (model, dataset, params) into metrics. Listed without heavy imports."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness.core.errors import HarnessError
from harness.spec.params import check_param_types

if TYPE_CHECKING:
    from harness.compute.datasets.base import Dataset
    from harness.compute.extract.embed import EmbeddingCache, ExtractionSettings
    from harness.compute.models.base import EmbeddingModel
    from harness.spec.cells import CellSpec


@dataclass
class Context:
    """Everything a suite may use; suites never touch the results database.

    A suite returns its metrics; anything richer (best hyperparameters, a search's trial history) goes into
    ``details``, which lands in the run's shard and in the ``runs.details`` column.
    """

    spec: CellSpec
    model: EmbeddingModel
    dataset: Dataset
    cache: EmbeddingCache
    extraction: ExtractionSettings
    milvus_uri: str
    workdir: Path
    #: --force: sub-jobs finished before this time (the grid's start) are trained again; None: reuse them
    force_since: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    #: dataset id -> Dataset, for cells that also read another dataset (a cross-tuning source)
    resolve: Callable[[str], Dataset] = field(default_factory=lambda: _resolve_dataset)

    @property
    def strategy(self) -> str:
        return self.spec.cell.strategy

    @property
    def params(self) -> dict[str, Any]:
        return self.spec.cell.params


def _resolve_dataset(dataset_id: str) -> Dataset:
    from harness.compute.datasets import resolve_dataset

    return resolve_dataset(dataset_id)


class Suite(Protocol):
    #: parameter defaults; a cell's params are these and its strategy's (harness.spec.strategies), updated with
    #: the suite file's / CLI's values
    DEFAULTS: dict[str, Any]
    #: the strategies the suite accepts; a grid skips (and lists) the pairs it does not
    STRATEGIES: tuple[str, ...]

    def run(self, ctx: Context) -> dict[str, float]: ...


SUITES: dict[str, str] = {
    "retrieval": "harness.compute.suites.retrieval",
    "classification": "harness.compute.suites.classification",
    "cost": "harness.compute.suites.cost",
    "finetune": "harness.compute.suites.finetune",
    "compression": "harness.compute.suites.compression",
    "leakage": "harness.compute.suites.leakage",
}


def get_suite(name: str) -> Suite:
    if name not in SUITES:
        raise HarnessError(f"unknown suite '{name}' (known: {', '.join(SUITES)})")
    suite: Suite = importlib.import_module(SUITES[name])
    return suite


def accepts(name: str, strategy: str) -> bool:
    return strategy in get_suite(name).STRATEGIES


def resolve_params(name: str, strategy: str, given: dict[str, Any]) -> dict[str, Any]:
    """Defaults (the suite's and the strategy's) overlaid with ``given``; unknown parameters and strategies the
    suite does not accept are errors.

    A cell keeps only the parameters that apply to its strategy, so e.g. a ``pretrained`` cell's key does not
    change when the grid's top-tuning preset does. What a parameter refers to (a preset's contents) is hashed
    into the cell key by harness.plan.identity, not copied here.
    """
    from harness.spec.strategies import STRATEGIES, get_strategy

    suite = get_suite(name)
    known = set(suite.DEFAULTS).union(*(STRATEGIES[s].defaults for s in suite.STRATEGIES))
    unknown = sorted(set(given) - known)
    if unknown:
        raise HarnessError(
            f"unknown parameter(s) {', '.join(unknown)} for suite '{name}' (known: {', '.join(sorted(known))})"
        )
    chosen = get_strategy(strategy)
    if strategy not in suite.STRATEGIES:
        raise HarnessError(
            f"strategy '{strategy}' is not available in suite '{name}' (available: {', '.join(suite.STRATEGIES)})"
        )
    defaults = {**suite.DEFAULTS, **chosen.defaults}
    check_param_types(
        name, {**suite.DEFAULTS, **{k: v for s in suite.STRATEGIES for k, v in STRATEGIES[s].defaults.items()}}, given
    )
    params = {**defaults, **{k: v for k, v in given.items() if k in defaults}}
    check = getattr(suite, "check_params", None)
    if check:
        check(params)
    return chosen.normalise(params, lambda written: _resolve_dataset(written).id)
