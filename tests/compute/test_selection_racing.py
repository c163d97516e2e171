"""Racing on per-query values with known differences: a clear winner, a tie that is said to be one, a budget
that runs out, the trace's evidence, and the ranking scores against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from harness.compute.selection import racing, sampling, scoring
from harness.compute.selection.racing import Evaluation, RaceConfig, race
from harness.compute.stats import holm, paired_test
from harness.core.errors import HarnessError

LABELS = np.repeat(np.arange(10), 40)  # 10 classes x 40 items


def fixed_quality(quality: dict[str, float], cost_per_image: float = 1.0):
    """An evaluator whose candidate c hits each query with probability quality[c] (a fixed draw per item, shared
    noise so that paired tests see the same queries), and whose cost is its newly seen images."""
    rng = np.random.default_rng(1)
    draws = rng.random(len(LABELS))
    seen: dict[str, set[int]] = {c: set() for c in quality}
    calls: list[tuple[str, int]] = []

    def evaluate(candidate: str, positions: np.ndarray) -> Evaluation:
        new = set(positions.tolist()) - seen[candidate]
        seen[candidate] |= new
        calls.append((candidate, len(positions)))
        values = (draws[positions] < quality[candidate]).astype(np.float64)
        return Evaluation({"mmp_at_5": values}, cost_per_image * len(new), len(new))

    return evaluate, calls


def test_samples_are_nested_stratified_and_grow_to_the_whole_split():
    order = sampling.stratified_order(LABELS)
    sizes = sampling.stage_sizes(order, 5, 2.0)
    assert sizes == [5, 10, 20, 40]
    small, large = sampling.nested_sample(order, 5), sampling.nested_sample(order, 10)
    assert set(small) <= set(large)
    assert np.bincount(LABELS[small]).tolist() == [5] * 10
    with pytest.raises(HarnessError, match="at least 2 items per class"):
        sampling.nested_sample(order, 1)


def test_a_clearly_worse_candidate_is_dropped_with_its_evidence_and_the_best_wins():
    evaluate, calls = fixed_quality({"good": 0.9, "bad": 0.2, "mid": 0.5})
    result = race(["bad", "mid", "good"], LABELS, evaluate, RaceConfig(first_per_class=5))
    assert (result.outcome, result.leader, result.survivors) == (racing.WINNER, "good", ["good"])
    first = result.stages[0]
    assert first.n_queries == 50 and [s.candidate for s in first.standings] == ["good", "mid", "bad"]
    # the trace's adjusted p-values are the paired test + Holm on the very same per-query values
    positions = sampling.nested_sample(sampling.stratified_order(LABELS), 5)
    v = {c: evaluate(c, positions).values["mmp_at_5"] for c in ("good", "mid", "bad")}
    expected = holm([paired_test(v["good"], v[c], racing.N_PERMUTATIONS) for c in ("mid", "bad")])
    assert [s.p_holm for s in first.standings[1:]] == pytest.approx(expected)
    assert first.standings[2].verdict == "worse"
    assert result.ranking()[0] == "good"
    assert calls[0][1] == 50


def test_identical_candidates_end_tied_on_the_whole_split():
    evaluate, _ = fixed_quality({"a": 0.6, "b": 0.6})
    result = race(["a", "b"], LABELS, evaluate, RaceConfig(first_per_class=5))
    assert result.outcome == racing.TIED
    assert result.survivors == ["a", "b"]
    assert result.stages[-1].per_class == 40  # it grew to every item before saying so
    assert all(s.p_holm == 1.0 for st in result.stages for s in st.standings[1:])
    assert result.images == 2 * len(LABELS)  # each image embedded once per candidate, never twice


def test_a_budget_that_runs_out_stops_before_the_stage_it_cannot_pay_for():
    evaluate, calls = fixed_quality({"a": 0.6, "b": 0.6, "c": 0.6})
    # stage 0 costs 3 x 50 = 150; stage 1 would add 3 x 50 = 150 more: a budget of 200 stops there
    result = race(["a", "b", "c"], LABELS, evaluate, RaceConfig(first_per_class=5, budget_s=200, keep=3))
    assert result.outcome == racing.BUDGET
    assert len(result.stages) == 1 and result.seconds == 150
    assert len(calls) == 3


def test_halving_drops_by_rank_beyond_half_and_says_so():
    evaluate, _ = fixed_quality({"a": 0.62, "b": 0.6, "c": 0.6, "d": 0.58})
    result = race(["a", "b", "c", "d"], LABELS, evaluate, RaceConfig(first_per_class=5, eta=2, keep=2))
    verdicts = [s.verdict for s in result.stages[0].standings]
    assert verdicts.count("halved") + verdicts.count("worse") == 2 and len(result.stages[1].standings) == 2


def test_ranking_scores_against_hand_computed_values():
    truth = {"a": 0.9, "b": 0.8, "c": 0.5, "d": 0.4}
    perfect = scoring.score_ranking("m", {"a": 4, "b": 3, "c": 2, "d": 1}, truth, 0.1)
    assert (perfect.tau, perfect.regret, perfect.choice) == (1.0, 0.0, "a")
    assert perfect.weighted_tau == pytest.approx(1.0)
    swapped = scoring.score_ranking("m", {"a": 3, "b": 4, "c": 2, "d": 1}, truth, 0.1)
    assert swapped.tau == pytest.approx(4 / 6)  # 5 concordant, 1 discordant pair of 6
    assert swapped.regret == pytest.approx(0.1) and swapped.choice == "b"
    assert swapped.weighted_tau == pytest.approx(stats.weightedtau([3, 4, 2, 1], [0.9, 0.8, 0.5, 0.4]).statistic)
    assert scoring.ranks_as_scores(["b", "a", "c"]) == {"b": 3.0, "a": 2.0, "c": 1.0}
