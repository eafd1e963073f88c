"""effscale_timm.stats against scipy (and hand-computed numbers where scipy has no function), on fixed numbers."""
import math

import numpy as np
import pytest
from scipy import stats

from effscale_timm.stats import (binomial_interval, holm, minimum_detectable_effect, paired_bootstrap, welch_interval,
                                 welch_power)

COMPOUND = [86.0, 87.0, 88.0]  # mean 87, s² = 1
SINGLE = [83.0, 85.0]  # mean 84, s² = 2


def test_welch_interval_is_scipys_and_the_textbook_formula():
    res = welch_interval(COMPOUND, SINGLE)
    ref = stats.ttest_ind(COMPOUND, SINGLE, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert res.delta == 3.0 and (res.n_a, res.n_b) == (3, 2)
    assert (res.low, res.high, res.p, res.df) == pytest.approx((ci.low, ci.high, ref.pvalue, ref.df), rel=1e-12)
    # by hand: se² = 1/3 + 2/2 = 4/3; df = (4/3)² / ((1/3)²/2 + 1²/1) = 32/19; CI = 3 ± t(0.975, 32/19) · se
    se, df = math.sqrt(4 / 3), 32 / 19
    assert res.df == pytest.approx(df, rel=1e-12)
    half = stats.t.ppf(0.975, df) * se
    assert (res.low, res.high) == pytest.approx((3 - half, 3 + half), rel=1e-12)
    assert res.p == pytest.approx(2 * stats.t.sf(3 / se, df), rel=1e-12)
    assert res.low < 0 < res.high  # with 3 vs 2 seeds, a 3-point gap is not shown
    wide = welch_interval(COMPOUND, SINGLE, confidence=0.99)
    assert wide.low < res.low and wide.high > res.high


def test_welch_interval_is_undefined_below_two_seeds_or_without_spread():
    assert welch_interval([87.0], SINGLE) is None and welch_interval(COMPOUND, [84.0]) is None
    assert welch_interval([87.0, 87.0], [84.0, 84.0]) is None  # t = Δ / 0
    one_sided = welch_interval([87.0, 87.0], SINGLE)  # one side without spread: still defined
    assert one_sided is not None and math.isfinite(one_sided.p)


def _correct(rng, n_seeds, n_images, accuracy):
    return rng.random((n_seeds, n_images)) < accuracy


def test_paired_bootstrap_with_one_seed_each_is_scipys_paired_percentile_bootstrap():
    rng = np.random.default_rng(1)
    a, b = _correct(rng, 1, 500, 0.9), _correct(rng, 1, 500, 0.85)
    ours = paired_bootstrap(a, b, n_resamples=2000, seed=7)
    ref = stats.bootstrap((a[0].astype(float), b[0].astype(float)),
                          lambda x, y, axis=-1: 100 * (x.mean(axis=axis) - y.mean(axis=axis)),
                          paired=True, method='percentile', n_resamples=2000, rng=7)
    assert ours.delta == pytest.approx(100 * (a.mean() - b.mean()), abs=1e-12)
    assert (ours.low, ours.high) == pytest.approx((ref.confidence_interval.low, ref.confidence_interval.high),
                                                  abs=1e-9)
    dist = ref.bootstrap_distribution  # p: 2 min(#{≤ 0} + 1, #{≥ 0} + 1) / (R + 1)
    tail = min(np.count_nonzero(dist <= 0), np.count_nonzero(dist >= 0)) + 1
    assert ours.p == pytest.approx(min(1.0, 2 * tail / 2001), abs=1e-12)
    assert (ours.n_images, ours.n_resamples, ours.n_a, ours.n_b) == (500, 2000, 1, 1)


def test_paired_bootstrap_over_seeds_and_images():
    """Several seeds: reproducible, the point estimate is the grand mean difference, chunking changes nothing."""
    rng = np.random.default_rng(2)
    a = np.concatenate([_correct(rng, 1, 400, acc) for acc in (0.80, 0.84, 0.88)])
    b = _correct(rng, 2, 400, 0.83)
    res = paired_bootstrap(a, b, n_resamples=1000, seed=0)
    assert res == paired_bootstrap(a, b, n_resamples=1000, seed=0)
    assert paired_bootstrap(a, b, n_resamples=1000, seed=0, chunk=7) == res
    assert res.delta == pytest.approx(100 * (a.mean() - b.mean()))
    assert res.low < res.delta < res.high and 0 < res.p <= 1 and (res.n_a, res.n_b) == (3, 2)
    with pytest.raises(ValueError, match='same >0 images'):
        paired_bootstrap(a, b[:, :10], 10, 0)


def test_paired_bootstrap_resamples_seeds_by_hand():
    """Seeds that are all right or all wrong on every image leave only the seed draws: a's three seeds score
    100, 0, 100%, b's one seed 100%, so Δ* = 100 k / 3 - 100 with k ~ Binomial(3, 2/3): P(Δ* = -100) = 1/27,
    P(Δ* = 0) = 8/27. Percentile interval [-100, 0]; p = 2 (#{Δ* >= 0} + 1) / (R + 1) ≈ 2 · 8/27 = 0.59."""
    a = np.array([[True] * 50, [False] * 50, [True] * 50])
    b = np.ones((1, 50), bool)
    res = paired_bootstrap(a, b, n_resamples=4000, seed=3)
    assert res.delta == pytest.approx(-100 / 3)
    assert (res.low, res.high) == (-100.0, 0.0)
    assert res.p == pytest.approx(2 * 8 / 27, abs=0.04)


def test_holm_against_hand_computed_textbook_values():
    # m = 4, sorted p: 0.005, 0.01, 0.03, 0.04 -> 4·0.005 = 0.02, 3·0.01 = 0.03, 2·0.03 = 0.06, max(0.06, 1·0.04)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02], abs=1e-15)
    assert holm([0.5, 0.4]) == pytest.approx([0.8, 0.8])  # 2·0.4 = 0.8, then max(0.8, 0.5)
    assert holm([0.3, 0.6, 0.02]) == pytest.approx([0.6, 0.6, 0.06])
    assert holm([0.04]) == [0.04] and holm([]) == []
    assert holm([0.9, 0.8]) == [1.0, 1.0]  # capped at 1
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        holm([0.1, float('nan')])


def test_minimum_detectable_effect_has_the_stated_power():
    mde = minimum_detectable_effect(1.0, math.sqrt(2), 3, 2)
    se, df = math.sqrt(4 / 3), 32 / 19
    crit = stats.t.ppf(0.975, df)
    power = stats.nct.sf(crit, df, mde / se) + stats.nct.sf(crit, df, -mde / se)  # by scipy, independently
    assert power == pytest.approx(0.8, abs=1e-8) and welch_power(mde, se, df) == pytest.approx(0.8, abs=1e-8)
    assert mde > 3.0  # the observed 3-point gap is below what 3 vs 2 seeds can detect
    # large n: the normal approximation (z_0.975 + z_0.8) · se
    se_big = math.sqrt(2 / 1000)
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert minimum_detectable_effect(1.0, 1.0, 1000, 1000) == pytest.approx(z * se_big, rel=2e-3)
    assert minimum_detectable_effect(1.0, 1.0, 3, 3, power=0.9) > minimum_detectable_effect(1.0, 1.0, 3, 3)


def test_minimum_detectable_effect_is_none_where_undefined():
    assert minimum_detectable_effect(1.0, 1.0, 1, 3) is None
    assert minimum_detectable_effect(None, 1.0, 3, 3) is None
    assert minimum_detectable_effect(0.0, 0.0, 3, 3) is None


def test_binomial_interval_is_scipys_clopper_pearson():
    ci = binomial_interval(9400, 10000)
    ref = stats.binomtest(9400, 10000).proportion_ci(0.95, method='exact')
    assert ci.top1 == 94.0 and ci.n == 10000
    assert (ci.low, ci.high) == pytest.approx((100 * ref.low, 100 * ref.high), rel=1e-12)
    # by hand: the beta quantiles of Clopper and Pearson; the standard error sqrt(0.94 · 0.06 / 10000) = 0.24 points
    assert ci.low == pytest.approx(100 * stats.beta.ppf(0.025, 9400, 601), rel=1e-9)
    assert ci.high == pytest.approx(100 * stats.beta.ppf(0.975, 9401, 600), rel=1e-9)
    assert ci.se == pytest.approx(100 * math.sqrt(0.94 * 0.06 / 1e4)) and round(ci.se, 2) == 0.24
    assert binomial_interval(0, 0) is None
    assert binomial_interval(10, 10).high == 100.0
