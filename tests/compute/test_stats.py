"""Bootstrap intervals, the paired sign-flip test and Holm's correction, against hand-checked cases."""

import numpy as np
import pytest

from harness.compute.stats import bootstrap_mean, bootstrap_means, holm, paired_test, rejects


def test_bernoulli_interval_matches_the_normal_approximation() -> None:
    # 3000 hits out of 10000: the normal interval is p +- 1.96 sqrt(p (1 - p) / n) = 0.3 +- 0.00898
    values = np.zeros(10_000)
    values[:3000] = 1.0
    interval = bootstrap_mean(values, n_resamples=2000, seed=1)
    half = 1.959964 * np.sqrt(0.3 * 0.7 / 10_000)
    assert interval.value == 0.3
    assert interval.low == pytest.approx(0.3 - half, abs=0.0012)
    assert interval.high == pytest.approx(0.3 + half, abs=0.0012)
    assert (interval.n_resamples, interval.seed) == (2000, 1)


def test_bootstrap_is_reproducible_bit_for_bit_and_depends_on_the_seed() -> None:
    values = np.random.default_rng(5).random(777)
    first, again = bootstrap_mean(values, seed=3), bootstrap_mean(values, seed=3)
    assert first == again  # exact equality of every float
    assert bootstrap_mean(values, seed=4) != first
    assert first.low < first.value < first.high


def test_constant_values_have_a_zero_width_interval() -> None:
    interval = bootstrap_mean(np.full(50, 0.25))
    assert (interval.low, interval.value, interval.high) == (0.25, 0.25, 0.25)


def test_blocked_draws_equal_one_block() -> None:
    # more resamples than one block holds for 5000 queries: the blocks must continue one random stream
    values = np.random.default_rng(0).random(5000)
    means = bootstrap_means(values, n_resamples=1000, seed=2)
    rng = np.random.default_rng(2)
    expected = np.concatenate(
        [values[rng.integers(0, 5000, size=(n, 5000))].mean(axis=1) for n in (838, 162)]
    )  # _CHUNK // 5000 = 838 rows per block
    assert np.array_equal(means, expected)


def test_identical_models_are_never_significantly_different() -> None:
    values = np.random.default_rng(1).integers(0, 2, 300).astype(float)
    assert paired_test(values, values.copy()) == 1.0


def test_a_model_that_wins_on_every_query_is_significant() -> None:
    rng = np.random.default_rng(2)
    b = rng.random(40) * 0.5
    p = paired_test(b + 0.1, b, n_resamples=9999)
    assert p == pytest.approx(1 / 10_000, abs=2e-4) and p < 0.05


def test_noise_is_not_significant_and_the_test_is_symmetric() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.random(200), rng.random(200)
    p = paired_test(a, b, seed=7)
    assert p == paired_test(b, a, seed=7) and p > 0.05
    with pytest.raises(ValueError, match="same queries"):
        paired_test(a, b[:10])


def test_holm_hand_computed() -> None:
    # sorted 0.01, 0.02, 0.04 -> 3 * 0.01 = 0.03, max(0.03, 2 * 0.02) = 0.04, max(0.04, 1 * 0.04) = 0.04
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([]) == []


def test_holm_rejects_at_exactly_alpha() -> None:
    # Holm (1979) and statsmodels' multipletests(method="holm") reject when the adjusted p is <= alpha. On the
    # permutation grid k / 2000 of the report's 1,999-permutation test, two comparisons with p = 50 / 2000 and
    # 100 / 2000: adjusted 2 * 0.025 = 0.05 (exactly alpha: rejected), then max(0.05, 0.05) = 0.05 (rejected).
    adjusted = holm([50 / 2000, 100 / 2000])
    assert adjusted == [0.05, 0.05]
    assert [rejects(p, 0.05) for p in adjusted] == [True, True]
    # one grid step above alpha is not rejected
    above = holm([51 / 2000, 100 / 2000])
    assert above == pytest.approx([0.051, 0.051]) and not rejects(above[0], 0.05)
    # statsmodels' own decision rule, written out for this case: sorted p_(i) is rejected while
    # p_(i) <= alpha / (m - i); 0.025 <= 0.05 / 2 and 0.05 <= 0.05 / 1: both rejected, as above
    assert 50 / 2000 <= 0.05 / 2 and 100 / 2000 <= 0.05 / 1


def test_holm_agrees_with_statsmodels_when_installed() -> None:
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    p = [50 / 2000, 100 / 2000, 3 / 2000, 0.2, 25 / 2000]
    reject, corrected, _, _ = multitest.multipletests(p, alpha=0.05, method="holm")
    assert holm(p) == pytest.approx(list(corrected))
    assert [rejects(a) for a in holm(p)] == list(reject)
