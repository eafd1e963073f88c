"""effscale_timm.decision: the pooled variance and the one-sided tests by hand, the words on constructed studies, the
minimum detectable effect checked by an independent simulation of the rule."""
import math

import numpy as np
import pytest
from scipy import stats

from effscale_timm.decision import (SIGNIFICANCE, Contrast, Pooled, decide, mde, pooled_sd, power_better)


def test_pooled_sd_by_hand():
    p = pooled_sd([[1.0, 2.0, 3.0], [5.0, 7.0], [10.0]])  # SS 2 + 2 + 0 over 6 runs of 3 arms
    assert (p.df, p.n_runs, p.n_arms) == (3, 6, 3) and p.sd == pytest.approx(math.sqrt(4 / 3), rel=1e-12)
    assert pooled_sd([[1.0], [2.0]]) is None  # no degree of freedom
    assert pooled_sd([[1.0, 1.0], [2.0, 2.0]]) is None  # no spread


def _contrasts(deltas, n=3):
    return [Contrast(f'axis{i}', d, 2 / n, 1 / n) for i, d in enumerate(deltas)]


def test_one_sided_tests_and_intervals_are_the_t_distributions():
    pooled = Pooled(sd=0.5, df=12, n_runs=18, n_arms=6)
    d = decide(_contrasts([0.9]), pooled, margin=0.1, with_mde=False)
    t, = d.tests
    se = 0.5 * math.sqrt(2 / 3)
    assert t.se == pytest.approx(se) and t.t == pytest.approx(0.9 / se)
    assert t.p_better == pytest.approx(stats.t.sf(0.9 / se, 12)) and t.p_worse == pytest.approx(stats.t.cdf(0.9 / se, 12))
    q = stats.t.ppf(0.975, 12) * se
    assert (t.low, t.high) == pytest.approx((0.9 - q, 0.9 + q))
    q90 = stats.t.ppf(0.95, 12) * se
    assert (t.tost_low, t.tost_high) == pytest.approx((0.9 - q90, 0.9 + q90))


def test_better_needs_every_matched_axis():
    pooled = Pooled(sd=0.2, df=20, n_runs=30, n_arms=10)
    assert decide(_contrasts([1.0, 1.0, 1.0]), pooled, 0.5).word == 'better'
    one_short = decide(_contrasts([1.0, 1.0, 0.1]), pooled, 0.5)
    assert one_short.word != 'better' and one_short.tests[0].p_better < one_short.alpha_side


def test_worse_when_one_axis_wins_after_holm():
    pooled = Pooled(sd=0.2, df=20, n_runs=30, n_arms=10)
    d = decide(_contrasts([1.0, 1.0, -1.0]), pooled, 0.5)
    assert d.word == 'worse' and d.tests[2].p_worse_holm == pytest.approx(3 * d.tests[2].p_worse)


def test_equivalent_only_inside_the_margin_and_a_zero_margin_never_says_it():
    pooled = Pooled(sd=0.1, df=40, n_runs=50, n_arms=10)
    assert decide(_contrasts([0.02, -0.03]), pooled, 0.5).text == 'equivalent within ±0.5'
    assert decide(_contrasts([0.02, -0.03]), pooled, 0.0).word == 'inconclusive'
    wide = Pooled(sd=2.0, df=40, n_runs=50, n_arms=10)
    d = decide(_contrasts([0.02, -0.03]), wide, 0.5)
    assert d.word == 'inconclusive' and d.text == f'inconclusive (MDE {d.mde:.2f})' and d.mde > 0.5


def test_rows_split_the_family_wise_level():
    pooled = Pooled(sd=0.2, df=20, n_runs=30, n_arms=10)
    assert decide(_contrasts([1.0]), pooled, 0.5, rows=2).alpha_side == SIGNIFICANCE / 4


def test_the_mde_has_the_stated_power_in_an_independent_simulation():
    """Studies simulated from scratch (arm means and a pooled variance from the seeds themselves) with compound
    better by the MDE against 3 matched axes: the rule says "better" 80% of the time."""
    rng = np.random.default_rng(5)
    sd, n, arms = 0.3, 3, 8
    truth = Pooled(sd=sd, df=n * arms - arms, n_runs=n * arms, n_arms=arms)
    effect = mde(_contrasts([0, 0, 0], n), truth, SIGNIFICANCE / 2)
    hits = 0
    trials = 1500
    for _ in range(trials):
        seeds = rng.normal(0.0, sd, (arms, n))
        seeds[0] += effect
        pooled = pooled_sd(list(seeds))
        contrasts = [Contrast.of_means(f'a{i}', seeds[0], seeds[i]) for i in (1, 2, 3)]
        hits += decide(contrasts, pooled, 0.0, with_mde=False).word == 'better'
    mc = 3 * math.sqrt(0.8 * 0.2 / trials)  # three Monte-Carlo standard errors
    assert abs(hits / trials - 0.8) < mc
    assert power_better(effect, _contrasts([0, 0, 0], n), truth, SIGNIFICANCE / 2) == pytest.approx(0.8, abs=0.01)


def test_decide_needs_a_matched_axis():
    with pytest.raises(ValueError, match='at least one matched axis'):
        decide([], Pooled(1.0, 3, 6, 3), 0.5)
