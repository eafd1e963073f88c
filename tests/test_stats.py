"""effscale_timm.stats against scipy (and hand-computed numbers where scipy has no function), on fixed numbers."""
import math

import pytest
from scipy import stats

from effscale_timm.stats import binomial_interval, holm, welch_interval

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


def test_holm_against_hand_computed_textbook_values():
    # m = 4, sorted p: 0.005, 0.01, 0.03, 0.04 -> 4·0.005 = 0.02, 3·0.01 = 0.03, 2·0.03 = 0.06, max(0.06, 1·0.04)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02], abs=1e-15)
    assert holm([0.5, 0.4]) == pytest.approx([0.8, 0.8])  # 2·0.4 = 0.8, then max(0.8, 0.5)
    assert holm([0.3, 0.6, 0.02]) == pytest.approx([0.6, 0.6, 0.06])
    assert holm([0.04]) == [0.04] and holm([]) == []
    assert holm([0.9, 0.8]) == [1.0, 1.0]  # capped at 1
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        holm([0.1, float('nan')])


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
