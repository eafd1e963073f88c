"""Statistics of the scaling study's comparisons; every function names its method. Imports numpy and scipy only.

Conventions: accuracies and their differences are in percentage points; a difference is ``a - b`` (in the report:
the compound row minus its comparator). A quantity that is undefined (fewer than 2 seeds, no spread at all) is
returned as ``None``, never as NaN, so that the report can say "no conclusion" instead of printing ``nan``.

- :func:`welch_interval`: difference of two means over seeds, Welch's t interval and two-sided p.
- :func:`holm`: Holm's step-down adjustment of p-values for the comparisons made.
- :func:`binomial_interval`: the exact (Clopper-Pearson) interval of one run's accuracy on a finite test set.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np
from scipy import stats

__all__ = ['Difference', 'welch_interval', 'holm', 'binomial_interval', 'BinomialInterval']


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
    df: Optional[float] = None  # Welch-Satterthwaite degrees of freedom


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
