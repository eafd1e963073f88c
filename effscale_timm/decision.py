"""The study's decision rule: one pre-specified primary test per compound model, its words, and its power.

The question is whether compound scaling beats scaling one axis *at the same compute*. A compound model is compared
with every single-axis model whose measured compute is within the tolerance of its own (its *matched* axes), and only
with those; each comparison is a contrast ``compound − axis`` of mean test top-1 over seeds (in points).

Method:

- **Noise.** The seed-to-seed variance is pooled over every arm of the study (each variant with a usable run):
  ``s² = Σ_arms Σ_seeds (x − mean_arm)² / (runs − arms)``, with ``runs − arms`` degrees of freedom. It assumes the
  arms share one seed variance; it counts the variation between training runs on this test set (the per-image
  churn between seeds included) and treats the test set as fixed: the question answered is about these test images.
- **Better** (intersection–union test, Berger 1982): compound is better only when it beats *every* matched axis,
  each by a one-sided t test (pooled s, pooled df) at level ``α_side``; no multiplicity correction is needed for an
  intersection–union test.
- **Worse**: a matched axis beats compound: the one-sided p-values in that direction are Holm-adjusted over the
  matched axes, and any adjusted p below ``α_side`` is a "worse".
- ``α_side = SIGNIFICANCE / 2 / rows``: the two directions share the family-wise level ``SIGNIFICANCE`` (5%), and
  ``rows`` compound models with a verdict split it (Bonferroni); rows without a matched axis are not in the family.
- **Equivalent within ±m** (TOST, Schuirmann 1987, at level ``SIGNIFICANCE`` per axis, intersection–union over the
  axes): every contrast's ``1 − 2·SIGNIFICANCE`` (90%) interval lies inside ``(−m, m)``; ``m`` is the config's
  ``equivalence_margin``.
- Otherwise **inconclusive**, with the minimum detectable effect: the true advantage over every matched axis at which
  this very rule says "better" with probability ``POWER`` (80%), found by simulating the rule (:func:`mde`), taking
  the pooled standard deviation as the true one.

``benchmarks/calibration.py`` runs thousands of simulated studies through the report's comparisons (and so through
this rule) and measures the false "better/worse" rate and the power at the reported MDE.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import List, Optional, Sequence

import numpy as np
from scipy import stats

from .stats import holm

SIGNIFICANCE = 0.05  # family-wise level of the "better"/"worse" words; TOST's level per axis
POWER = 0.8  # the power at which the minimum detectable effect is reported
EQUIVALENCE_MARGIN = 0.5  # points: the config's equivalence_margin when it gives none (the schema's default)
MDE_DRAWS = 20_000  # simulated studies per evaluation of the rule's power
WORDS = ('better', 'worse', 'equivalent', 'inconclusive')


@dataclass(frozen=True)
class Pooled:
    """The seed standard deviation pooled over the study's arms."""
    sd: float  # points
    df: int  # runs - arms
    n_runs: int
    n_arms: int


def pooled_sd(groups: Sequence[Sequence[float]]) -> Optional[Pooled]:
    """The pooled within-arm standard deviation of ``groups`` (one list of seed values per arm; arms with one value
    add a run and an arm, so no degree of freedom); None when there is no degree of freedom or no spread."""
    groups = [np.asarray(g, dtype=float) for g in groups if len(g)]
    n_runs, n_arms = sum(g.size for g in groups), len(groups)
    df = n_runs - n_arms
    if df < 1:
        return None
    ss = float(sum(((g - g.mean()) ** 2).sum() for g in groups))
    if ss <= 0:
        return None
    return Pooled(sd=math.sqrt(ss / df), df=df, n_runs=n_runs, n_arms=n_arms)


@dataclass(frozen=True)
class Contrast:
    """Compound minus one matched comparator: its estimate (points) and its variance in units of the seed variance.
    ``shared_factor`` is the part of ``var_factor`` that comes from the compound's own runs, which every contrast of
    one compound model shares (1/n for a plain difference of means)."""
    comparator: str
    estimate: float
    var_factor: float
    shared_factor: float

    @classmethod
    def of_means(cls, comparator: str, compound: Sequence[float], other: Sequence[float]) -> 'Contrast':
        """The plain difference of two arms' means over their seeds."""
        return cls(comparator, float(np.mean(compound) - np.mean(other)), 1 / len(compound) + 1 / len(other),
                   1 / len(compound))


@dataclass(frozen=True)
class AxisTest:
    """One contrast tested with the pooled noise."""
    contrast: Contrast
    se: float
    t: float
    p_better: float  # one-sided, H0: compound <= comparator
    p_worse: float  # one-sided, H0: compound >= comparator
    p_worse_holm: float  # p_worse Holm-adjusted over the row's matched axes
    low: float  # 95% interval of the contrast (pooled t)
    high: float
    tost_low: float  # 1 - 2 * SIGNIFICANCE (90%) interval, for equivalence
    tost_high: float


@dataclass(frozen=True)
class Decision:
    """The words for one compound model and how they follow."""
    word: str  # one of WORDS
    text: str  # 'better', 'worse', 'equivalent within ±m', 'inconclusive (MDE x)'
    tests: List[AxisTest]
    pooled: Pooled
    alpha_side: float
    margin: float
    mde: Optional[float] = field(default=None)


def _test(c: Contrast, pooled: Pooled) -> AxisTest:
    se = pooled.sd * math.sqrt(c.var_factor)
    t = c.estimate / se
    q95, q90 = stats.t.ppf(1 - SIGNIFICANCE / 2, pooled.df), stats.t.ppf(1 - SIGNIFICANCE, pooled.df)
    return AxisTest(c, se, t, float(stats.t.sf(t, pooled.df)), float(stats.t.cdf(t, pooled.df)), 1.0,
                    c.estimate - q95 * se, c.estimate + q95 * se, c.estimate - q90 * se, c.estimate + q90 * se)


def decide(contrasts: Sequence[Contrast], pooled: Pooled, margin: float, rows: int = 1,
           with_mde: bool = True) -> Decision:
    """The words for one compound model from its contrasts with every matched axis (the module docstring's rule).

    Args:
        contrasts: compound minus each matched comparator (at least one).
        pooled: the study's pooled seed noise (:func:`pooled_sd`).
        margin: the equivalence margin, points (>= 0; 0 never says "equivalent").
        rows: how many compound models of the study get a verdict (they split the family-wise level).
        with_mde: simulate the rule's minimum detectable effect for an "inconclusive" (the calibration turns it off
            for speed).
    """
    if not contrasts:
        raise ValueError('decide: a compound model needs at least one matched axis')
    alpha_side = SIGNIFICANCE / 2 / rows
    tests = [_test(c, pooled) for c in contrasts]
    adjusted = holm([t.p_worse for t in tests])
    tests = [replace(t, p_worse_holm=p) for t, p in zip(tests, adjusted)]
    if all(t.p_better < alpha_side for t in tests):
        return Decision('better', 'better', tests, pooled, alpha_side, margin)
    if any(t.p_worse_holm < alpha_side for t in tests):
        return Decision('worse', 'worse', tests, pooled, alpha_side, margin)
    if margin > 0 and all(-margin < t.tost_low and t.tost_high < margin for t in tests):
        return Decision('equivalent', f'equivalent within ±{margin:g}', tests, pooled, alpha_side, margin)
    effect = mde(contrasts, pooled, alpha_side) if with_mde else None
    text = f'inconclusive (MDE {effect:.2f})' if effect is not None else 'inconclusive'
    return Decision('inconclusive', text, tests, pooled, alpha_side, margin, effect)


def power_better(effect: float, contrasts: Sequence[Contrast], pooled: Pooled, alpha_side: float,
                 draws: int = MDE_DRAWS, seed: int = 0) -> float:
    """The probability that the rule says "better" when compound is ``effect`` points better than every matched
    axis and the seed standard deviation is ``pooled.sd``: the rule applied to ``draws`` simulated studies (the
    contrasts' shared compound noise and the pooled variance's chi-square spread included)."""
    rng = np.random.default_rng(seed)
    shared = np.array([c.shared_factor for c in contrasts])
    own = np.array([c.var_factor for c in contrasts]) - shared
    z_shared = rng.standard_normal((draws, 1))
    z_own = rng.standard_normal((draws, len(contrasts)))
    s = pooled.sd * np.sqrt(rng.chisquare(pooled.df, (draws, 1)) / pooled.df)
    noise = pooled.sd * (np.sqrt(shared) * z_shared + np.sqrt(own) * z_own)
    t = (effect + noise) / (s * np.sqrt(shared + own))
    crit = stats.t.ppf(1 - alpha_side, pooled.df)
    return float(np.mean(np.all(t > crit, axis=1)))


def mde(contrasts: Sequence[Contrast], pooled: Pooled, alpha_side: float, power: float = POWER,
        draws: int = MDE_DRAWS, seed: int = 0) -> Optional[float]:
    """The smallest advantage over every matched axis at which the rule says "better" with probability ``power``,
    by bisection on :func:`power_better` (common random numbers, so the power is monotone in the effect); points."""
    if pooled.df < 1 or pooled.sd <= 0:
        return None
    se = pooled.sd * math.sqrt(max(c.var_factor for c in contrasts))
    low, high = 0.0, 4 * se * (stats.t.ppf(1 - alpha_side, pooled.df) + 1)
    while power_better(high, contrasts, pooled, alpha_side, draws, seed) < power:
        high *= 2
    for _ in range(40):
        mid = (low + high) / 2
        low, high = (mid, high) if power_better(mid, contrasts, pooled, alpha_side, draws, seed) < power else (low, mid)
        if high - low < 1e-4 * high:
            break
    return high
