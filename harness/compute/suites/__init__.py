"""The suite registry: a suite turns (model, dataset, params) into metrics. Listed without heavy imports.

Each suite is a light declaration (harness.spec.suites.Suite, in harness.compute.suites.declarations) beside its
heavy ``run(ctx)`` module, which is imported only to run a cell (:func:`load_run`)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.core.errors import HarnessError
from harness.spec.params import check_param_types
from harness.spec.suites import Suite

if TYPE_CHECKING:
    from harness.compute.datasets.base import Dataset
    from harness.compute.extract.cache import EmbeddingCache
    from harness.compute.models.base import EmbeddingModel
    from harness.spec.cells import CellSpec
    from harness.spec.settings import Extraction


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
    extraction: Extraction
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


def _declared() -> dict[str, Suite]:
    from harness.compute.suites.declarations import (
        classification,
        compression,
        cost,
        finetune,
        leakage,
        retrieval,
        text_retrieval,
        zeroshot,
    )
    from harness.compute.suites.declarations import signals as transferability

    modules = (
        retrieval,
        classification,
        cost,
        finetune,
        compression,
        leakage,
        text_retrieval,
        zeroshot,
        transferability,
    )
    return {module.SUITE.name: module.SUITE for module in modules}


#: every suite by name, as declared beside its run() (harness.compute.suites.declarations); no torch imported
SUITES: dict[str, Suite] = _declared()


def get_suite(name: str) -> Suite:
    if name not in SUITES:
        raise HarnessError(f"unknown suite '{name}' (known: {', '.join(SUITES)})")
    return SUITES[name]


def load_run(name: str) -> Callable[[Context], dict[str, float]]:
    """The suite's ``run(ctx) -> metrics``, its module imported now (the heavy part: torch, Milvus, Keras)."""
    run: Callable[[Context], dict[str, float]] = importlib.import_module(get_suite(name).run_module).run
    return run


def accepts(name: str, strategy: str) -> bool:
    return get_suite(name).accepts(strategy)


def resolve_params(name: str, strategy: str, given: dict[str, Any]) -> dict[str, Any]:
    """Defaults (the suite's and the strategy's) overlaid with ``given``; unknown parameters and strategies the
    suite does not accept are errors.

    A cell keeps only the parameters that apply to its strategy, so e.g. a ``pretrained`` cell's key does not
    change when the grid's top-tuning preset does. What a parameter refers to (a preset's contents) is hashed
    into the cell key by harness.plan.identity, not copied here.
    """
    from harness.spec.strategies import STRATEGIES, get_strategy

    suite = get_suite(name)
    known = set(suite.defaults).union(suite.optional, *(STRATEGIES[s].defaults for s in suite.strategies))
    unknown = sorted(set(given) - known)
    if unknown:
        raise HarnessError(
            f"unknown parameter(s) {', '.join(unknown)} for suite '{name}' (known: {', '.join(sorted(known))})"
        )
    chosen = get_strategy(strategy)
    if not suite.accepts(strategy):
        raise HarnessError(
            f"strategy '{strategy}' is not available in suite '{name}' (available: {', '.join(suite.strategies)})"
        )
    defaults = {**suite.defaults, **chosen.defaults}
    check_param_types(
        name,
        {
            **suite.defaults,
            **suite.optional,
            **{k: v for s in suite.strategies for k, v in STRATEGIES[s].defaults.items()},
        },
        given,
    )
    params = {**defaults, **{k: v for k, v in given.items() if k in defaults}}
    # an optional parameter at its default is left out: the cell (and its key) is the one it was before it existed
    params.update(
        {k: type(suite.optional[k])(v) for k, v in given.items() if k in suite.optional and v != suite.optional[k]}
    )  # 0 and 0.0: one cell, one key
    if suite.check_params is not None:
        suite.check_params(params)
    return chosen.normalise(params, lambda written: _resolve_dataset(written).id)
