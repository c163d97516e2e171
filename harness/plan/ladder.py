"""The adaptive ``ladder`` policy: climb the adaptation ladder (harness.spec.strategies.LADDER: pre-trained ->
top-tune -> last-k -> LoRA -> full fine-tuning) while the next rung looks worth its device time, and stop
otherwise.

The rule, stated once: the next rung's validation gain is estimated from the rung below, as the gain the last
climb brought (validation figure of the current rung minus that of the one before it); the climb goes on while
``estimated gain / device-hours of the next rung >= threshold`` (validation points per device-hour). With fewer
than two validation figures below there is nothing to extrapolate from, and the policy climbs (the first rungs
are the cheap ones; the pre-trained rung has no validation figure). Rungs not run are left out of the ladder.

It is a pure decision over per-rung figures: the device-hours may be the dry run's estimates (``break_even``:
before anything runs, the gain each rung must bring for the policy to climb on) or the measured ones (the
report replays it over a finished grid and compares its choice with every static strategy's: quality lost,
hours saved).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.spec.strategies import LADDER

if TYPE_CHECKING:
    from harness.plan.estimate import Estimate
    from harness.plan.plan import Plan

#: validation points (accuracy as a fraction) per device-hour below which the next rung is not climbed
DEFAULT_THRESHOLD = 0.05


@dataclass(frozen=True)
class Rung:
    strategy: str
    validation: float | None  # the rung's validation figure (held-out accuracy of its training), None: unknown
    hours: float  # device-hours of its training (estimated or measured)


@dataclass(frozen=True)
class Climb:
    """Where the policy stopped: ``chosen`` indexes the rungs; ``spent`` are the hours of every rung climbed
    (each must be trained to measure its gain); ``why`` says, per rung considered, what was decided."""

    chosen: int
    spent: float
    why: tuple[str, ...]


def climb(rungs: list[Rung], threshold: float = DEFAULT_THRESHOLD) -> Climb:
    if not rungs:
        raise ValueError("the ladder needs one rung at least")
    why: list[str] = []
    current, spent = 0, rungs[0].hours
    while current + 1 < len(rungs):
        nxt = rungs[current + 1]
        known = [r.validation for r in rungs[: current + 1] if r.validation is not None]
        if len(known) < 2:
            why.append(f"{nxt.strategy}: climbed (no gain below to extrapolate from)")
        else:
            gain = known[-1] - known[-2]
            rate = gain / nxt.hours if nxt.hours > 0 else float("inf") if gain > 0 else 0.0
            if rate < threshold:
                why.append(f"{nxt.strategy}: stopped (estimated {gain:+.4f} in {nxt.hours:.3g} h: {rate:.3g}/h, "
                           f"below {threshold:g}/h)")  # fmt: skip
                break
            why.append(f"{nxt.strategy}: climbed (estimated {gain:+.4f} in {nxt.hours:.3g} h: {rate:.3g}/h)")
        current += 1
        spent += nxt.hours
    return Climb(current, spent, tuple(why))


def break_even(plan: Plan, estimate: Estimate, threshold: float = DEFAULT_THRESHOLD) -> list[str]:
    """What the dry run can say before anything runs: per (model, dataset) of the plan's retrieval cells with
    two rungs of the ladder or more, the rungs the policy always climbs (nothing to extrapolate from yet) and,
    for each rung above, the validation gain the rung below must bring for the policy to climb on
    (``threshold x`` the rung's estimated device-hours)."""
    hours: dict[tuple[str, str], dict[str, float]] = {}
    for planned in plan.cells:
        cell = planned.spec.cell
        if cell.suite == "retrieval" and cell.strategy in LADDER and not cell.params.get("source"):
            rungs = hours.setdefault((cell.model, cell.dataset), {})
            rungs[cell.strategy] = max(rungs.get(cell.strategy, 0.0), estimate.seconds[planned.spec.key] / 3600)
    lines = []
    for (model, dataset), found in hours.items():
        order = [s for s in LADDER if s in found]
        if len(order) < 2:
            continue
        # the climbs with fewer than two validation figures below: up to the second rung that has one (every
        # rung but the pre-trained one)
        free = order[: min(3 if order[0] == "pretrained" else 2, len(order))]
        parts = [f"climbs {' -> '.join(free)} ({sum(found[s] for s in free):.3g} h)"]
        for i in range(len(free), len(order)):
            rung, below, base = order[i], order[i - 1], order[i - 2]
            parts.append(f"then to {rung} ({found[rung]:.3g} h) if {below} gains >= {threshold * found[rung]:.3g} "
                         f"over {base}")  # fmt: skip
        lines.append(f"ladder policy on {model} / {dataset}: " + "; ".join(parts))
    return lines
