"""Statistics of the scaling study's comparisons; every function names its method. Imports numpy and scipy only.

Conventions: accuracies and their differences are in percentage points; a difference is ``a - b`` (in the report:
the compound row minus its comparator). A quantity that is undefined (fewer than 2 seeds, no spread at all) is
returned as ``None``, never as NaN, so that the report can say "no conclusion" instead of printing ``nan``.

- :func:`welch_interval`: difference of two means over seeds, Welch's t interval and two-sided p.
- :func:`paired_bootstrap`: the same difference with a bootstrap that resamples test images (paired: the same
  images for both variants) and, independently per variant, seeds.
- :func:`holm`: Holm's step-down adjustment of p-values for the comparisons made.
- :func:`minimum_detectable_effect`: the difference Welch's test would detect with the given power at these n.
- :func:`binomial_interval`: the exact (Clopper-Pearson) interval of one run's accuracy on a finite test set.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np
from scipy import optimize, stats

__all__ = ['Difference', 'welch_interval', 'paired_bootstrap', 'holm', 'minimum_detectable_effect',
           'binomial_interval', 'BinomialInterval', 'welch_power']


@dataclass(frozen=True)
class Difference:
    """An estimated difference ``a - b`` with its confidence interval and two-sided p-value."""
    delta: float  # point estimate, percentage points when the inputs are percent / correct-or-not
    low: float
    high: float
    p: float
    confidence: float
    method: str
    n_a: int  # seeds of a
    n_b: int  # seeds of b
    df: Optional[float] = None  # Welch-Satterthwaite degrees of freedom (Welch only)
    n_images: Optional[int] = None  # test images (bootstrap only)
    n_resamples: Optional[int] = None  # bootstrap only


@dataclass(frozen=True)
class BinomialInterval:
    """One run's accuracy on ``n`` test images, in percent, with its exact interval and standard error."""
    top1: float
    low: float
    high: float
    se: float  # sqrt(p (1 - p) / n), percentage points
    n: int
    confidence: float


def _finite(*values) -> bool:
    return all(np.isfinite(v) for v in values)


def welch_interval(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Optional[Difference]:
    """Welch's unequal-variance t test of mean(a) - mean(b), e.g. test top-1 over seeds of two variants.

    Method: ``scipy.stats.ttest_ind(a, b, equal_var=False)``. The standard error is sqrt(s_a²/n_a + s_b²/n_b)
    (sample variances, ddof=1), the degrees of freedom are Welch-Satterthwaite's
    (s_a²/n_a + s_b²/n_b)² / ((s_a²/n_a)²/(n_a-1) + (s_b²/n_b)²/(n_b-1)); the interval is
    delta ± t_{(1+confidence)/2, df} · se (the result's ``confidence_interval``), the p-value two-sided.
    Seeds are the unit of replication: the test set is treated as fixed. One side without spread is allowed (its
    variance term is 0); scipy's warning about identical values is silenced for that case only.

    Returns:
        A :class:`Difference`, or None when either side has fewer than 2 values or neither has any spread (the
        t statistic is then undefined).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size < 2 or b.size < 2 or (np.ptp(a) == 0 and np.ptp(b) == 0):
        return None
    with warnings.catch_warnings():  # a side of identical values is exact, not a loss of precision
        warnings.filterwarnings('ignore', 'Precision loss occurred', RuntimeWarning)
        res = stats.ttest_ind(a, b, equal_var=False)
        ci = res.confidence_interval(confidence_level=confidence)
    if not _finite(res.pvalue, ci.low, ci.high, res.df):
        return None
    return Difference(delta=float(a.mean() - b.mean()), low=float(ci.low), high=float(ci.high),
                      p=float(res.pvalue), confidence=confidence, method='Welch t over seeds',
                      n_a=int(a.size), n_b=int(b.size), df=float(res.df))


def _counts(draws: np.ndarray, n: int) -> np.ndarray:
    """Per row of ``draws`` (indices in [0, n)), how often each index was drawn: a (rows, n) float array."""
    offsets = (np.arange(draws.shape[0])[:, None] * n + draws).ravel()
    return np.bincount(offsets, minlength=draws.shape[0] * n).reshape(draws.shape[0], n).astype(float)


def _resampled_means(correct: np.ndarray, image_counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mean accuracy of each resample: seeds drawn with replacement (counts per seed), images as counted."""
    n_seeds, n_images = correct.shape
    seed_counts = _counts(rng.integers(0, n_seeds, (image_counts.shape[0], n_seeds)), n_seeds)
    per_image = seed_counts @ correct  # (resamples, images): correct answers over the resampled seeds
    return (per_image * image_counts).sum(axis=1) / (n_seeds * n_images)


def paired_bootstrap(correct_a, correct_b, n_resamples: int = 10_000, seed: int = 0, confidence: float = 0.95,
                     chunk: int = 256) -> Difference:
    """Bootstrap of accuracy(a) - accuracy(b) over test images (paired) and seeds, in percentage points.

    Method: each resample draws n_images test images with replacement, the *same* images for a and b (paired: an
    image that is hard for one model tends to be hard for the other), and, independently for a and for b, as many
    seeds as each has, with replacement. The statistic is the difference of the mean accuracies over the drawn
    seeds and images. The interval is the percentile interval (linear quantiles, as ``scipy.stats.bootstrap``'s
    ``method='percentile'``); the two-sided p-value is the smallest level at which that interval excludes 0,
    2·min(#{Δ* ≤ 0} + 1, #{Δ* ≥ 0} + 1) / (n_resamples + 1), capped at 1. With one seed each this is exactly
    ``scipy.stats.bootstrap(..., paired=True, method='percentile', rng=seed)`` over images. Resampling both axes
    counts the test-set sampling noise and the seed-to-seed spread together (with 2-3 seeds the seed part is
    coarse, so the report also gives Welch's interval over seeds).

    Args:
        correct_a, correct_b: boolean arrays seeds x images (True where that run classified that image
            correctly), the same images in the same order on both.
        n_resamples: bootstrap resamples.
        seed: seeds the image draws (``numpy.random.default_rng(seed)``) and the seed draws
            (``default_rng([seed, 1])``), so the result is reproducible.
        chunk: resamples computed at once (memory: chunk x n_images counts).
    """
    a, b = (np.atleast_2d(np.asarray(x, dtype=float)) for x in (correct_a, correct_b))
    if a.shape[1] != b.shape[1] or a.shape[1] == 0 or 0 in (a.shape[0], b.shape[0]):
        raise ValueError(f'need seeds x images arrays over the same >0 images, got {a.shape} and {b.shape}')
    n_images = a.shape[1]
    image_rng, rng_a = np.random.default_rng(seed), np.random.default_rng([seed, 1])
    rng_b = np.random.default_rng([seed, 2])
    dist = []
    for start in range(0, n_resamples, chunk):
        counts = _counts(image_rng.integers(0, n_images, (min(chunk, n_resamples - start), n_images)), n_images)
        dist.append(_resampled_means(a, counts, rng_a) - _resampled_means(b, counts, rng_b))
    dist = 100.0 * np.concatenate(dist)
    alpha = 1.0 - confidence
    low, high = np.quantile(dist, [alpha / 2, 1 - alpha / 2])
    tail = min(np.count_nonzero(dist <= 0), np.count_nonzero(dist >= 0)) + 1
    return Difference(delta=float(100.0 * (a.mean() - b.mean())), low=float(low), high=float(high),
                      p=float(min(1.0, 2 * tail / (n_resamples + 1))), confidence=confidence,
                      method='paired bootstrap over test images and seeds (percentile)', n_a=a.shape[0],
                      n_b=b.shape[0], n_images=n_images, n_resamples=n_resamples)


def holm(pvalues: Sequence[float]) -> List[float]:
    """Holm's step-down adjusted p-values (family-wise error rate), in the order given.

    Method: sort the m p-values ascending, p_(1) <= ... <= p_(m); the adjusted value of p_(i) is
    max_{j <= i} min(1, (m - j + 1) · p_(j)). Rejecting where the adjusted value is below alpha is Holm's procedure
    at level alpha. (scipy's ``false_discovery_control`` is Benjamini-Hochberg, a different error rate.)
    """
    p = np.asarray(pvalues, dtype=float)
    if p.size == 0:
        return []
    if p.ndim != 1 or not np.all((p >= 0) & (p <= 1)):
        raise ValueError(f'p-values must be a flat sequence of numbers in [0, 1], got {list(pvalues)!r}')
    order = np.argsort(p, kind='stable')
    steps = (p.size - np.arange(p.size)) * p[order]
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(steps))
    return [float(x) for x in adjusted]


def _welch_df(var_a: float, var_b: float, n_a: int, n_b: int) -> float:
    """Welch-Satterthwaite degrees of freedom from two sample variances."""
    qa, qb = var_a / n_a, var_b / n_b
    return (qa + qb) ** 2 / (qa ** 2 / (n_a - 1) + qb ** 2 / (n_b - 1))


def welch_power(effect: float, se: float, df: float, alpha: float = 0.05) -> float:
    """Power of the two-sided Welch t test at level ``alpha`` when the true difference is ``effect``: the
    probability that a noncentral t (``scipy.stats.nct``, df, noncentrality effect/se) falls beyond ±t_{1-alpha/2}.
    The lower tail P(T < -t) is computed as P(-T > t) = ``nct.sf(t, df, -nc)``, which stays finite far out where
    ``nct.cdf`` returns NaN."""
    crit = stats.t.ppf(1 - alpha / 2, df)
    nc = effect / se
    return float(stats.nct.sf(crit, df, nc) + stats.nct.sf(crit, df, -nc))


def minimum_detectable_effect(std_a: Optional[float], std_b: Optional[float], n_a: int, n_b: int,
                              alpha: float = 0.05, power: float = 0.8) -> Optional[float]:
    """The smallest true difference a two-sided Welch t test at ``alpha`` detects with probability ``power``.

    Method: the observed seed standard deviations (ddof=1) are taken as the true ones; se = sqrt(s_a²/n_a + s_b²/n_b)
    and df is Welch-Satterthwaite's. The effect solves :func:`welch_power` (exact noncentral t, ``scipy.stats.nct``)
    = ``power`` by Brent's method (``scipy.optimize.brentq``). For large df it tends to the normal approximation
    (z_{1-alpha/2} + z_{power}) · se = 2.80 · se at the defaults. Same units as the standard deviations.

    Returns:
        The effect, or None when n < 2 on either side or both standard deviations are zero or missing.
    """
    if n_a < 2 or n_b < 2 or std_a is None or std_b is None or not _finite(std_a, std_b):
        return None
    var_a, var_b = float(std_a) ** 2, float(std_b) ** 2
    se = np.sqrt(var_a / n_a + var_b / n_b)
    if se == 0:
        return None
    df = _welch_df(var_a, var_b, n_a, n_b)
    high = (stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)) * se
    while welch_power(high, se, df, alpha) < power:
        high *= 2
    return float(optimize.brentq(lambda d: welch_power(d, se, df, alpha) - power, 0.0, high, xtol=1e-10))


def binomial_interval(k: int, n: int, confidence: float = 0.95) -> Optional[BinomialInterval]:
    """Exact (Clopper-Pearson) interval of an accuracy of ``k`` correct out of ``n`` test images, in percent.

    Method: ``scipy.stats.binomtest(k, n).proportion_ci(confidence, method='exact')``, i.e. the beta quantiles
    Beta(alpha/2; k, n-k+1) and Beta(1-alpha/2; k+1, n-k). It is the test-set sampling noise of one run (e.g. ±0.47
    points, standard error 0.24, at 94% on 10,000 images). Returns None when n is 0.
    """
    if n <= 0:
        return None
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method='exact')
    p = k / n
    return BinomialInterval(top1=100.0 * p, low=100.0 * ci.low, high=100.0 * ci.high,
                            se=100.0 * float(np.sqrt(p * (1 - p) / n)), n=int(n), confidence=confidence)
