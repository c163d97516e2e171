"""How well a shortcut's ranking predicted a finished grid's.

- Kendall tau-b between a method's scores and the grid's metric over the same candidates
  (``scipy.stats.kendalltau``); 1 is the grid's order, -1 its reverse.
- Weighted tau (``scipy.stats.weightedtau``, Vigna 2015, hyperbolic weights): swaps near the top of the
  ranking cost more than swaps at the bottom, which is what a user choosing one backbone cares about.
- Top-1 regret: the grid's best value minus the grid's value of the method's first choice (0 when the method
  picks the best; in the metric's own unit, e.g. mMP@5).
- Fraction of device time: what the method spent over what the full grid spent (or is estimated to).

A method that ranks only some candidates (racing drops some early) is scored on its full ranking order:
``scores`` are then ranks turned into descending numbers, so the dropped ones count as ranked below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Score:
    method: str
    tau: float
    weighted_tau: float
    regret: float
    choice: str
    fraction: float  # of the grid's device time; NaN where not known


def score_ranking(method: str, scores: dict[str, float], truth: dict[str, float], fraction: float) -> Score:
    """Score ``scores`` (candidate -> higher is better) against ``truth`` (candidate -> the grid's metric)."""
    common = [c for c in truth if c in scores]
    predicted = np.array([scores[c] for c in common], dtype=np.float64)
    actual = np.array([truth[c] for c in common], dtype=np.float64)
    if len(common) < 2 or np.ptp(predicted) == 0 or np.ptp(actual) == 0:
        tau = weighted = math.nan  # undefined for constant rankings
    else:
        tau = float(stats.kendalltau(predicted, actual).statistic)
        weighted = float(stats.weightedtau(predicted, actual).statistic)
    choice = common[int(np.argmax(predicted))] if common else ""  # first candidate wins an exact tie
    regret = float(actual.max() - truth[choice]) if common else math.nan
    return Score(method, tau, weighted, regret, choice, fraction)


def ranks_as_scores(ranking: list[str]) -> dict[str, float]:
    """A best-first ranking as descending scores (n, n - 1, ..., 1)."""
    return {c: float(len(ranking) - i) for i, c in enumerate(ranking)}
