"""What a suite is, as data: the light declaration every layer asks instead of branching on a suite's name.

A suite turns (model, dataset, strategy, params) into metrics. Its declaration says what the plan, the executors
and the containers need to know without importing the suite's heavy ``run()`` (torch, Milvus, Keras): its
parameters and their checks, the strategies it accepts, what a grid may sweep, the sub-jobs it trains itself,
whether it needs Milvus, and what its numbers measure. The declarations live beside their ``run()`` in
harness.compute.suites (the registry, ``SUITES``); nothing here imports torch or does I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

#: the search backend value that means a Milvus search (harness.compute.retrieval.backends.BACKENDS)
MILVUS_BACKEND = "milvus"
#: how a cell on Milvus searches: Milvus Lite (embedded, or --milvus-uri) or a real Milvus server (the targets
#: themselves: harness.compute.retrieval.backends.MILVUS_TARGETS)
MilvusMode = Literal["lite", "server"]

ParamCheck = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Suite:
    """Attributes:
    name: as written in suite files, ids and the database.
    description: one line for listings.
    run_module: the module whose ``run(ctx) -> metrics`` computes a cell; imported only to run one.
    defaults: the suite's parameters; a cell's params are these and its strategy's (harness.spec.strategies),
        updated with the suite file's / CLI's values.
    strategies: the strategies it accepts; a grid skips (and lists) the pairs it does not.
    sweeps: parameters a suite file may give as lists: the grid makes one cell per value.
    own_precision: the forward precision is the suite's own (a parameter, or fixed), so a cell-wide
        ``--precision`` is refused at plan time rather than silently ignored.
    trains: sub-job kinds (``finetune``, ``toptune``) its cells consume whatever their strategy: the fine-tune
        suite trains the backbone, the classification suite needs a classifier head even on frozen embeddings.
    check_params: raises a HarnessError for resolved parameters the suite cannot run.
    backend_param: the parameter naming the search backend (``milvus`` means a Milvus search), if any.
    milvus_param: the parameter choosing Milvus Lite or a real server (:data:`MilvusMode`); without one a
        Milvus search is Milvus Lite.
    measures_machine: its figures measure the machine running the model (times, throughput): the GPU or CPU
        model enters the cell key, and the plan's estimate counts the suite's own timed passes.
    extracts: its cells compute the evaluated dataset's embeddings (the plan's estimate counts that pass).
    training_gpus: the parameter saying how many GPUs its own training takes (one process per GPU), if any.
    optional: parameters a cell carries only when given a value other than the default here, so that adding
        one (the fused retrieval's ``image_weight``) leaves every earlier cell's key unchanged.
    text_fields: resolved params -> the dataset text fields its cells read (harness.compute.datasets.base.Texts);
        non-empty means the cell needs a model with a text tower too. A grid skips, and lists with the reason,
        the cells whose model has no text tower or whose dataset lacks a field.
    """

    name: str
    description: str
    run_module: str
    defaults: dict[str, Any]
    strategies: tuple[str, ...]
    sweeps: tuple[str, ...] = ()
    own_precision: bool = False
    trains: tuple[str, ...] = ()
    check_params: ParamCheck | None = None
    backend_param: str | None = None
    milvus_param: str | None = None
    measures_machine: bool = False
    extracts: bool = True
    training_gpus: str | None = None
    optional: dict[str, Any] = field(default_factory=dict)
    text_fields: Callable[[dict[str, Any]], tuple[str, ...]] | None = None

    def accepts(self, strategy: str) -> bool:
        return strategy in self.strategies

    def texts_needed(self, params: dict[str, Any]) -> tuple[str, ...]:
        """The text fields a cell with these parameters reads (empty: an image-only cell)."""
        return self.text_fields(params) if self.text_fields is not None else ()

    def milvus(self, params: dict[str, Any]) -> MilvusMode | None:
        """The Milvus a cell with these parameters searches: ``lite``, ``server``, or None (no Milvus)."""
        if self.backend_param is None or params.get(self.backend_param) != MILVUS_BACKEND:
            return None
        mode = params.get(self.milvus_param, "lite") if self.milvus_param else "lite"
        return "server" if mode == "server" else "lite"
