"""Racing by successive halving: every candidate is scored on a small class-stratified sample, those
significantly worse than the leader are dropped, the sample grows for the survivors, and the race stops when
one is left, the budget would be overspent by the next stage, or the sample is the whole split.

Evidence at each stage: per-query values (e.g. mMP@5) of every survivor over the *same* queries, the leader
(highest mean) compared with each other survivor by the two-sided paired sign-flip test
(harness.compute.stats.paired_test) and the p-values Holm-corrected over the stage's comparisons
(harness.compute.stats.holm); a candidate whose adjusted p is at most ``alpha`` is dropped as "worse".
Successive halving bounds the cost besides: when more than ``ceil(n / eta)`` (at least ``keep``) survive the
test, the lowest-ranked beyond that are dropped as "halved", with their means and p-values kept in the trace.
Survivors still together on the whole split could not be separated: the race ends "tied" and says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from harness.compute.selection.sampling import SEED, nested_sample, stage_sizes, stratified_order
from harness.compute.stats import ALPHA, bootstrap_mean, holm, paired_test
from harness.core.errors import HarnessError

#: permutations of each stage's paired tests (as the report's significance marks use)
N_PERMUTATIONS = 1999

WINNER, TIED, BUDGET = "winner", "tied", "budget"


@dataclass(frozen=True)
class Evaluation:
    """One candidate on one sample: per-query values per metric (same query order for every candidate), and
    what producing them cost (device-seconds, images newly embedded)."""

    values: dict[str, np.ndarray]
    seconds: float
    images: int


#: (candidate, ascending item positions of the sample) -> its evaluation
Evaluator = Callable[[str, np.ndarray], Evaluation]


@dataclass(frozen=True)
class Standing:
    candidate: str
    mean: float
    p_holm: float | None  # None for the leader
    verdict: str  # "leader", "kept", "worse" (dropped by the test) or "halved" (dropped by rank)


@dataclass(frozen=True)
class Stage:
    index: int
    per_class: int
    n_queries: int
    standings: list[Standing]
    seconds: float  # device-seconds this stage spent
    images: int


@dataclass
class RaceResult:
    outcome: str  # WINNER, TIED or BUDGET
    leader: str
    survivors: list[str]  # the leader first, then those it could not be told apart from
    stages: list[Stage] = field(default_factory=list)
    means: dict[str, dict[str, float]] = field(default_factory=dict)  # at the last stage each one ran
    interval: tuple[float, float] = (math.nan, math.nan)  # leader's race metric, bootstrap 95% on the sample
    seconds: float = 0.0
    images: int = 0
    metric: str = "mmp_at_5"

    def ranking(self) -> list[str]:
        """Candidates best first: by the last stage reached, then by their mean there."""
        reached: dict[str, tuple[int, float]] = {}
        for stage in self.stages:
            for s in stage.standings:
                reached[s.candidate] = (stage.index, s.mean)
        return sorted(reached, key=lambda c: (-reached[c][0], -reached[c][1]))


@dataclass(frozen=True)
class RaceConfig:
    metric: str = "mmp_at_5"
    first_per_class: int = 5
    growth: float = 2.0
    eta: float = 2.0
    keep: int = 2
    alpha: float = ALPHA
    budget_s: float | None = None  # device-seconds; None: no limit
    max_per_class: int | None = None  # the largest sample; None: the whole split
    seed: int = SEED


def race(candidates: Sequence[str], labels: np.ndarray, evaluate: Evaluator, config: RaceConfig) -> RaceResult:
    """Race ``candidates`` on samples of the items labelled ``labels`` (see the module docstring)."""
    if len(set(candidates)) != len(candidates) or not candidates:
        raise HarnessError(f"racing needs distinct candidates, got {list(candidates)}")
    order = stratified_order(labels, config.seed)
    if min(len(m) for m in order) < 2:
        raise HarnessError("racing needs at least 2 items of every class (a query needs a relevant item)")
    sizes = stage_sizes(order, config.first_per_class, config.growth)
    if config.max_per_class is not None:
        sizes = sorted({min(s, config.max_per_class) for s in sizes})
    alive, rates = list(candidates), {c: 0.0 for c in candidates}
    result = RaceResult(outcome=TIED, leader=candidates[0], survivors=list(candidates), metric=config.metric)
    previous = 0
    for index, per_class in enumerate(sizes):
        positions = nested_sample(order, per_class)
        new_images = len(positions) - previous
        predicted = sum(rates[c] * new_images for c in alive)
        if index > 0 and config.budget_s is not None and result.seconds + predicted > config.budget_s:
            result.outcome = BUDGET if len(alive) > 1 else WINNER
            break
        evaluations = {c: evaluate(c, positions) for c in alive}
        spent = sum(e.seconds for e in evaluations.values())
        images = sum(e.images for e in evaluations.values())
        for c, e in evaluations.items():
            rates[c] = e.seconds / max(e.images, 1) if e.images else rates[c]
        previous = len(positions)
        standings, alive = _judge(evaluations, config)
        result.stages.append(Stage(index, per_class, len(positions), standings, spent, images))
        result.seconds, result.images = result.seconds + spent, result.images + images
        result.means.update({c: {m: float(v.mean()) for m, v in e.values.items()} for c, e in evaluations.items()})
        result.leader, result.survivors = alive[0], alive
        leader_values = evaluations[alive[0]].values[config.metric]
        interval = bootstrap_mean(leader_values)
        result.interval = (interval.low, interval.high)
        if len(alive) == 1:
            result.outcome = WINNER
            break
        result.outcome = TIED  # the whole split (or the largest sample) and still together
    return result


def _judge(evaluations: dict[str, Evaluation], config: RaceConfig) -> tuple[list[Standing], list[str]]:
    """Standings of one stage (best mean first) and the survivors, the leader first."""
    means = {c: float(e.values[config.metric].mean()) for c, e in evaluations.items()}
    ranked = sorted(means, key=lambda c: -means[c])  # stable: equal means keep the candidates' order
    leader = ranked[0]
    others = ranked[1:]
    leader_values = evaluations[leader].values[config.metric]
    p = [paired_test(leader_values, evaluations[c].values[config.metric], N_PERMUTATIONS) for c in others]
    adjusted = dict(zip(others, holm(p), strict=True)) if others else {}
    survivors = [leader] + [c for c in others if adjusted[c] > config.alpha]
    room = max(config.keep, math.ceil(len(evaluations) / config.eta))
    halved = set(survivors[room:])
    standings = [Standing(leader, means[leader], None, "leader")]
    for c in others:
        verdict = "worse" if adjusted[c] <= config.alpha else "halved" if c in halved else "kept"
        standings.append(Standing(c, means[c], adjusted[c], verdict))
    return standings, survivors[:room]
