"""The report's deployment section: per dataset, quality against bytes per stored vector (and query latency)
across models and compressions (the compression suite), its Pareto frontier, "the best model under N bytes per
item", and the train/test leakage the leakage suite found. Read from the ``results`` view (bound parameters
only); rendered by the ``deployment.*.j2`` partials.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.report.analysis import Axis, Point, Scatter, pareto_frontier
from harness.report.data import Filters
from harness.storage.store import connect, dataset_match

#: byte budgets the decision summary answers for ("the best model under 256 bytes per item")
BUDGETS = (64, 256, 1024)
SHOWN = ("mmp_at_5", "recall_at_1", "map_at_r", "bytes_per_vector", "index_bytes", "query_ms", "delta_mmp_at_5",
         "overlap_at_10")  # fmt: skip
LEAK_SHOWN = ("mmp_at_5", "clean_mmp_at_5", "recall_at_1", "clean_recall_at_1", "n_identical_pairs",
              "n_near_duplicate_pairs", "n_leaked_queries", "n_clean_queries", "leak_threshold")  # fmt: skip
#: pairs listed per dataset in the report (every pair listed by the run is in its details)
LIST_PAIRS = 10

_FILTER = f"(?::VARCHAR IS NULL OR model = ?) AND (?::VARCHAR IS NULL OR {dataset_match()})"
NEWEST = f"""
    SELECT run_id, model, dataset, strategy, params, random_init, metric, value FROM results
    WHERE suite = ? AND list_contains(?, metric) AND {_FILTER}
    QUALIFY row_number() OVER (
        PARTITION BY model, dataset, strategy, params::VARCHAR, metric
        ORDER BY finished_at DESC) = 1
    ORDER BY dataset, model, strategy, run_id
"""
DETAILS = "SELECT details FROM runs WHERE run_id = ?"
BYTES = Axis("bytes per vector", "bytes per stored vector", lambda v: f"{v:,.0f} B")
LATENCY = Axis("query latency", "query latency (ms per query)", lambda v: f"{v:.3f} ms")


@dataclass
class Choice:
    """One deployment point: a model, its strategy, how its vectors are stored and the forward precision."""

    model: str
    strategy: str
    compression: str
    forward_precision: str
    random_init: bool
    values: dict[str, float] = field(default_factory=dict)
    backend: str = "exact"  # where the float codes were searched (Milvus: its index type is part of the choice)

    @property
    def label(self) -> str:
        precision = f", {self.forward_precision} forward" if self.forward_precision != "fp32" else ""
        strategy = f" · {self.strategy}" if self.strategy != "pretrained" else ""
        backend = f", {self.backend}" if self.backend != "exact" else ""
        return f"{self.model}{strategy} · {self.compression}{precision}{backend}"


class _AxisScatter(Scatter):
    """A Scatter on an axis of its own (harness.report.figures.scatter_chart draws it)."""

    def __init__(self, dataset: str, points: list[Point], axis: Axis) -> None:
        super().__init__(dataset, "all", "bytes_per_vector", points)
        self._axis = axis

    @property
    def axis(self) -> Axis:
        return self._axis


@dataclass
class Frontier:
    dataset: str
    choices: list[Choice]  # by bytes per vector, then quality

    def _points(self, metric: str) -> list[Point]:
        return [Point(c.label, c.values[metric], c.values["mmp_at_5"], c.random_init) for c in self.choices
                if metric in c.values and "mmp_at_5" in c.values]  # fmt: skip

    @property
    def on_frontier(self) -> set[str]:
        return {p.label for p in pareto_frontier(self._points("bytes_per_vector"))}

    def scatter(self, latency: bool = False) -> Scatter:
        metric, axis = ("query_ms", LATENCY) if latency else ("bytes_per_vector", BYTES)
        return _AxisScatter(self.dataset, self._points(metric), axis)

    def best_under(self, budget: int) -> str:
        """The decision-summary line for one byte budget ("under" = at most ``budget`` bytes per vector)."""
        fits = [
            c for c in self.choices if c.values.get("bytes_per_vector", budget + 1) <= budget and "mmp_at_5" in c.values
        ]
        if not fits:
            return f"On {self.dataset}, no measured choice stores a vector in {budget} bytes or fewer."
        best = max(fits, key=lambda c: (c.values["mmp_at_5"], -c.values["bytes_per_vector"], c.label))
        forward = f" ({best.forward_precision} forward)" if best.forward_precision != "fp32" else ""
        text = (f"On {self.dataset}, the best model under {budget} bytes per item is {best.model} stored as"
                f" {best.compression}{forward}: mMP@5 {best.values['mmp_at_5']:.4f} at"
                f" {best.values['bytes_per_vector']:,.0f} B per vector")  # fmt: skip
        if "delta_mmp_at_5" in best.values:
            text += f" ({best.values['delta_mmp_at_5']:+.4f} against its fp32 exact result)"
        text += f", of {len(fits)} choice(s) that fit."
        if best.random_init:
            text += " It is a RANDOM-INIT backbone: this checks the harness, not the model."
        return text


@dataclass
class Leak:
    dataset: str
    model: str
    strategy: str
    random_init: bool
    values: dict[str, float]
    pairs: list[dict[str, Any]]  # the first LIST_PAIRS listed by the run, highest cosine first
    listed: int  # pairs the run listed
    total: int  # pairs the run found


@dataclass
class Deployment:
    frontiers: list[Frontier]
    leaks: list[Leak]
    budgets: tuple[int, ...] = BUDGETS

    def __bool__(self) -> bool:
        return bool(self.frontiers or self.leaks)


def _order(c: Choice) -> tuple[float, float, str]:
    return c.values.get("bytes_per_vector", 0.0), -c.values.get("mmp_at_5", 0.0), c.label


def _params(raw: Any) -> dict[str, Any]:
    return json.loads(raw) if isinstance(raw, str) else dict(raw or {})


def load(db: Path, filters: Filters | None = None) -> Deployment:
    """The compression and leakage results of ``db`` (filtered by model and dataset)."""
    filters = filters or Filters()
    where = [filters.model, filters.model, *filters.dataset_params()]
    con = connect(db, read_only=True)
    try:
        choices: dict[tuple[str, ...], Choice] = {}
        for _, model, dataset, strategy, params, random_init, metric, value in con.execute(
            NEWEST, ["compression", list(SHOWN), *where]
        ).fetchall():
            p = _params(params)
            compression, precision = str(p.get("compression")), str(p.get("forward_precision"))
            key = (dataset, model, strategy, json.dumps(p, sort_keys=True))
            new = Choice(model, strategy, compression, precision, bool(random_init), backend=str(p.get("backend")))
            choice = choices.setdefault(key, new)
            choice.values[metric] = float(value)
        leaks: dict[tuple[str, str, str], Leak] = {}
        for run_id, model, dataset, strategy, _, random_init, metric, value in con.execute(
            NEWEST, ["leakage", list(LEAK_SHOWN), *where]
        ).fetchall():
            if (dataset, model, strategy) not in leaks:
                [raw] = con.execute(DETAILS, [run_id]).fetchone() or [None]
                found = (json.loads(raw) if raw else {}).get("leakage", {})
                pairs = found.get("pairs", [])
                leak = Leak(dataset, model, strategy, bool(random_init), {}, pairs[:LIST_PAIRS], len(pairs),
                            int(found.get("total", len(pairs))))  # fmt: skip
                leaks[(dataset, model, strategy)] = leak
            leaks[(dataset, model, strategy)].values[metric] = float(value)
    finally:
        con.close()
    by_dataset: dict[str, list[Choice]] = {}
    for (dataset, *_), choice in choices.items():
        by_dataset.setdefault(dataset, []).append(choice)
    frontiers = [Frontier(d, sorted(cs, key=_order)) for d, cs in sorted(by_dataset.items())]
    return Deployment(frontiers, [leaks[k] for k in sorted(leaks)])
