"""The report's ladder section (docs/ladder.md): per dataset and backbone, retrieval quality against training
device-hours, one point per rung of the adaptation ladder (pretrained, toptuned, lastk, lora, lpft, finetuned,
wiseft), the Pareto frontier marked; for a rung tuned on another dataset (its ``source``, or crosstuned), the loss
or gain against the same rung tuned on the evaluated dataset; and the adaptive ``ladder`` policy
(harness.plan.ladder) replayed over the measured rungs, compared with each static strategy (quality lost,
hours saved). Read from the ``results`` view (bound parameters only); rendered by the ``ladder.*.j2`` partials.

A (dataset, backbone) gets a ladder only when one of the intermediate rungs (lastk, lora, lpft, wiseft) ran on
it: a grid of the paper's four strategies keeps its report as it was.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.plan.ladder import DEFAULT_THRESHOLD, Climb, Rung, climb
from harness.report.analysis import AXES, DEVICE_HOURS, Axis, Point, Scatter, pareto_frontier
from harness.report.data import Filters
from harness.spec.strategies import LADDER, LADDER_RUNGS
from harness.storage.store import connect, dataset_match

QUALITY = "mmp_at_5"
#: the training's device-hours of a rung: its fine-tune's or its top-tune search's (a pre-trained rung: none)
HOURS = ("finetune_device_hours", "toptune_device_hours")
#: the validation figure the policy climbs on: the fine-tune's held-out accuracy, or the head's
VALIDATION = ("finetune_val_accuracy", "head_val_accuracy")
SHOWN = (QUALITY, *HOURS, *VALIDATION, "finetune_trainable_params", "finetune_stored_bytes", "finetune_peak_memory_mb")
STRATEGIES = ("pretrained", "toptuned", "finetuned", "crosstuned", *LADDER_RUNGS)
#: the parameters that tell two points of one strategy apart in a label
LABELLED = ("tuning", "k", "rank", "lora_alpha", "lora_targets", "probe_epochs", "alpha")

_FILTER = f"(?::VARCHAR IS NULL OR model = ?) AND (?::VARCHAR IS NULL OR {dataset_match()})"
NEWEST = f"""
    SELECT model, dataset, strategy, params, random_init, metric, value FROM results
    WHERE suite = 'retrieval' AND list_contains(?, strategy) AND list_contains(?, metric) AND {_FILTER}
    QUALIFY row_number() OVER (
        PARTITION BY model, dataset, strategy, params::VARCHAR, metric
        ORDER BY finished_at DESC) = 1
    ORDER BY dataset, model, strategy
"""


@dataclass
class Step:
    """One measured rung: a strategy with its parameters on one dataset and backbone."""

    strategy: str
    params: dict[str, Any]
    random_init: bool
    values: dict[str, float] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return str(self.params.get("source") or "")

    @property
    def label(self) -> str:
        shown = [f"{k}={self.params[k]}" for k in LABELLED if self.params.get(k) not in (None, "")]
        source = f" ← {self.source}" if self.source else ""
        return f"{self.strategy}{'[' + ','.join(shown) + ']' if shown else ''}{source}"

    @property
    def hours(self) -> float:
        return sum(self.values.get(name, 0.0) for name in HOURS)

    @property
    def validation(self) -> float | None:
        return next((self.values[name] for name in VALIDATION if name in self.values), None)

    @property
    def own(self) -> str:
        """The label of the same rung tuned on the evaluated dataset (crosstuned's is its tuning's strategy)."""
        if self.strategy == "crosstuned":
            return str(self.params.get("tuning"))
        return Step(self.strategy, {k: v for k, v in self.params.items() if k != "source"}, self.random_init).label


@dataclass
class Comparison:
    strategy: str
    quality_lost: float  # the static strategy's quality minus the policy's choice's (> 0: the policy lost some)
    hours_saved: float  # the static strategy's training hours minus those the policy spent climbing


class _HoursScatter(Scatter):
    @property
    def axis(self) -> Axis:
        return Axis("training device-hours", "training device-hours of the rung", AXES[DEVICE_HOURS].fmt)


@dataclass
class Ladder:
    dataset: str
    model: str
    steps: list[Step]  # by training hours, then quality
    threshold: float = DEFAULT_THRESHOLD

    @property
    def points(self) -> list[Point]:
        return [Point(s.label, s.hours, s.values[QUALITY], s.random_init)
                for s in self.steps if QUALITY in s.values and not s.source and s.strategy != "crosstuned"]  # fmt: skip

    @property
    def on_frontier(self) -> set[str]:
        return {p.label for p in pareto_frontier(self.points)}

    def scatter(self) -> Scatter:
        return _HoursScatter(f"{self.dataset} · {self.model}", "all", DEVICE_HOURS, self.points)

    @property
    def transfers(self) -> list[tuple[Step, float]]:
        """Each rung tuned elsewhere, with its quality minus the same rung's tuned on this dataset."""
        own = {s.label: s for s in self.steps if not s.source and s.strategy != "crosstuned"}
        return [
            (s, s.values[QUALITY] - own[s.own].values[QUALITY])
            for s in self.steps
            if (s.source or s.strategy == "crosstuned") and s.own in own
            and QUALITY in s.values and QUALITY in own[s.own].values
        ]  # fmt: skip

    def rungs(self) -> list[Step]:
        """The policy's rungs that ran, in LADDER order; of several variants of a rung, the best on validation."""
        chosen = []
        for strategy in LADDER:
            variants = [s for s in self.steps if s.strategy == strategy and not s.source and QUALITY in s.values]
            if variants:
                chosen.append(max(variants, key=lambda s: (s.validation or 0.0, -s.hours, s.label)))
        return chosen

    def policy(self) -> tuple[Step, Climb, list[Comparison]] | None:
        rungs = self.rungs()
        if len(rungs) < 2:
            return None
        decision = climb([Rung(s.strategy, s.validation, s.hours) for s in rungs], self.threshold)
        pick = rungs[decision.chosen]
        compared = [Comparison(s.label, s.values[QUALITY] - pick.values[QUALITY], s.hours - decision.spent)
                    for s in rungs]  # fmt: skip
        return pick, decision, compared


def _params(raw: Any) -> dict[str, Any]:
    return json.loads(raw) if isinstance(raw, str) else dict(raw or {})


def load(db: Path, filters: Filters | None = None, threshold: float = DEFAULT_THRESHOLD) -> list[Ladder]:
    """The ladders of ``db`` (filtered by model and dataset), one per (dataset, backbone) with a ladder rung."""
    filters = filters or Filters()
    con = connect(db, read_only=True)
    try:
        rows = con.execute(
            NEWEST,
            [list(STRATEGIES), list(SHOWN), filters.model, filters.model, *filters.dataset_params()],
        ).fetchall()
    finally:
        con.close()
    steps: dict[tuple[str, str], dict[str, Step]] = {}
    for model, dataset, strategy, raw, random_init, metric, value in rows:
        params = _params(raw)
        key = json.dumps({"strategy": strategy, **params}, sort_keys=True)
        step = steps.setdefault((dataset, model), {}).setdefault(key, Step(strategy, params, bool(random_init)))
        step.values[metric] = float(value)
    ladders = []
    for (dataset, model), found in sorted(steps.items()):
        if any(s.strategy in LADDER_RUNGS for s in found.values()):
            ordered = sorted(found.values(), key=lambda s: (s.hours, -s.values.get(QUALITY, 0.0), s.label))
            ladders.append(Ladder(dataset, model, ordered, threshold))
    return ladders
