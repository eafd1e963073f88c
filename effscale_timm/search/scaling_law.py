"""A scaling law of error (or validation cross-entropy) against compute: the fit, its t intervals, the check of its
prediction at a held-out compute, and the compute a curve needs to reach a target. Imports numpy and scipy only.

Models (``C``: multiply-adds of one image; ``y``: error in points, or cross-entropy in nats; every run one point):

- **power law with a floor** (Hestness et al. 2017, Kaplan et al. 2020, Hoffmann et al. 2022): ``y = a * C**-b + c``,
  fitted by :func:`fit_power_law`;
- **log-linear baseline**: ``y = p + q * ln C``, ordinary least squares (:func:`fit_log_linear`).

:func:`fit` takes the power law with at least :data:`MIN_POWER_LAW_POINTS` distinct compute values and one residual
degree of freedom when it converges and is identified (finite, positive-definite covariance); otherwise the
log-linear line, and ``reason`` says why.

How the power law is fitted (the choices the simulation in ``tests/search/test_scaling_law.py`` settled):

- In log space, as Hoffmann et al.: the parameters are ``theta = (ln A, b, ln c)`` with ``y = A (C / C_ref)**-b +
  c``, so ``a = A * C_ref**b`` and ``c`` are positive by construction; the residual of a run is ``ln y - ln f``.
- Each log residual is weighted by the fitted value ``f`` (two passes, the first weighted by the median ``y`` at its
  compute), which makes it,
  to first order, ``y - f`` in the units of ``y``. The seed noise of an error is about constant in points: unweighted
  log residuals take the noise at the smallest, highest-error model for the noise everywhere and understate it at the
  largest model by the ratio of the errors (simulated: the held-out check said "inside" 92% of the time at a nominal
  95%; weighted: 95%).
- A robust loss, ``scipy.optimize.least_squares(loss='huber')`` with scale ``HUBER_K`` times a seed standard
  deviation: in the first pass the median over computes with two or more runs of their runs' SD (else the
  root-mean-square residual of a plain least-squares pass), in the second ``MAD_TO_SD`` times the first pass's median
  absolute residual (which one far run does not inflate): ordinary seed noise keeps its full weight, a run more than
  3 SD away counts linearly.
- Intervals: ``s**2 = sum(r**2) / (N - 3)`` with ``N - 3`` degrees of freedom, ``cov(theta) = s**2 (J^T J)^-1``
  (Gauss-Newton), t quantiles; a prediction's standard error by the delta method. Simulated at this project's fit
  sizes, the exponent's 95% interval covers the true exponent and the held-out check says "inside" at 95%, within
  Monte-Carlo error.

:func:`held_out_check` scores a measured compute that was not fitted by its standardised residual
``t = (mean - predicted) / sqrt(se_fit**2 + s**2 / n)`` against the t quantile at the fit's degrees of freedom;
:func:`compute_to_reach` inverts a curve at a target with a delta-method interval on ``ln C``.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Dict, Iterable, Mapping, Optional, Sequence, Tuple

import numpy as np
from scipy import optimize, stats

__all__ = ['Fit', 'fit_power_law', 'fit_log_linear', 'fit', 'held_out_check', 'compute_to_reach', 'compute_ratio',
           'MIN_POWER_LAW_POINTS', 'FIT_RULE', 'HUBER_K']

MIN_POWER_LAW_POINTS = 4  # distinct C for the 3-parameter power law (and one residual degree of freedom); fewer: line
HUBER_K = 3.0  # Huber's scale in seed SDs: normal seed noise keeps full weight (|r| > 3 SD: 0.3% of runs)
MAD_TO_SD = 1.4826  # the median absolute residual times this estimates a normal standard deviation
MAX_EXPONENT = 5.0  # a fitted b above this is a step between two computes, not a power law (published b: 0.05-0.5)
FIT_RULE = (f'power law y = a·C^−b + c, fitted in log space (robust Huber loss, each log residual weighted by the '
            f'fitted value), with ≥ {MIN_POWER_LAW_POINTS} distinct compute values when it converges, falls with '
            f'compute and is identified; else the log-linear line y = p + q·ln C; t intervals (delta method) at '
            f'runs − parameters degrees of freedom')


@dataclass(frozen=True)
class Fit:
    """A fitted curve. ``params``: a, b, c (power law) or p, q (log-linear) in the units of C and y given.
    ``theta`` and ``cov`` are the parameters the fit works in ((ln A, b, ln c) or (p0, q), both against
    ``x = ln(C / c_ref)``) and their covariance; ``s`` is the residual standard deviation (units of y) with ``df``
    degrees of freedom."""
    kind: str  # 'power_law' or 'log_linear'
    params: Dict[str, float]
    theta: Tuple[float, ...]
    cov: Tuple[Tuple[float, ...], ...]
    c_ref: float
    s: float
    df: int
    n_points: int
    n_distinct: int
    reason: str = ''

    def _x(self, macs) -> np.ndarray:
        return np.log(np.asarray(macs, dtype=float) / self.c_ref)

    def predict(self, macs) -> np.ndarray:
        """The fitted y at compute ``macs`` (a number or an array)."""
        x = self._x(macs)
        if self.kind == 'power_law':
            return np.exp(self.theta[0] - self.theta[1] * x) + math.exp(self.theta[2])
        return self.theta[0] + self.theta[1] * x

    def gradient(self, macs) -> np.ndarray:
        """d predict / d theta at ``macs``: shape (..., number of parameters)."""
        x = self._x(macs)
        if self.kind == 'power_law':
            head = np.exp(self.theta[0] - self.theta[1] * x)
            return np.stack([head, -x * head, np.full_like(x, math.exp(self.theta[2]))], axis=-1)
        return np.stack([np.ones_like(x), x], axis=-1)

    def se(self, macs) -> np.ndarray:
        """Standard error of the fitted value at ``macs`` (delta method)."""
        g = self.gradient(macs)
        return np.sqrt(np.einsum('...i,ij,...j->...', g, np.asarray(self.cov), g))

    def quantile(self, confidence: float = 0.95) -> float:
        return float(stats.t.ppf(0.5 + confidence / 2, self.df))

    def interval(self, name: str, confidence: float = 0.95) -> Tuple[float, float]:
        """The t interval of one parameter: b and q directly, a and c on the log scale, p through (p0, q)."""
        cov, q = np.asarray(self.cov), self.quantile(confidence)
        log_cref = math.log(self.c_ref)
        if self.kind == 'power_law':
            combos = {'b': ([0, 1, 0], lambda t: t[1], False), 'c': ([0, 0, 1], lambda t: t[2], True),
                      'a': ([1, log_cref, 0], lambda t: t[0] + t[1] * log_cref, True)}
        else:
            combos = {'q': ([0, 1], lambda t: t[1], False), 'p': ([1, -log_cref], lambda t: t[0] - t[1] * log_cref,
                                                                  False)}
        if name not in combos:
            raise ValueError(f'a {self.kind} fit has parameters {sorted(combos)}, not {name!r}')
        g, centre, log_scale = combos[name]
        half = q * math.sqrt(float(np.asarray(g) @ cov @ np.asarray(g)))
        low, high = centre(self.theta) - half, centre(self.theta) + half
        return (_exp(low), _exp(high)) if log_scale else (low, high)


def _exp(value: float) -> float:
    """exp, infinite instead of an overflow (an interval that is not bounded above on the log scale)."""
    return math.exp(value) if value < 700 else math.inf


def _points(points: Mapping[float, Iterable[float]]) -> Tuple[np.ndarray, np.ndarray]:
    """(C, y) as float arrays, one entry per finite run; raises ValueError for C <= 0 or fewer than 2 distinct C."""
    c, y = [], []
    for macs, values in points.items():
        for v in values:
            if v is not None and math.isfinite(float(v)):
                c.append(float(macs))
                y.append(float(v))
    c, y = np.asarray(c), np.asarray(y)
    if c.size == 0 or not np.all(np.isfinite(c)) or np.any(c <= 0):
        raise ValueError(f'a scaling law needs runs at finite compute > 0, got {sorted(points)}')
    if np.unique(c).size < 2:
        raise ValueError(f'a scaling law needs at least 2 distinct compute values, got {np.unique(c).size} '
                         f'(C = {np.unique(c).tolist()}); train a larger or smaller variant')
    return c, y


def _robust_seed_sd(c: np.ndarray, y: np.ndarray) -> Optional[float]:
    """The median over computes with 2 or more runs of their runs' standard deviation (one far run moves one
    compute's SD, not the median); None without replicates or spread."""
    sds = [float(np.std(y[c == macs], ddof=1)) for macs in np.unique(c) if np.sum(c == macs) > 1]
    sd = float(np.median(sds)) if sds else 0.0
    return sd if sd > 0 else None


def _group_medians(c: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each run's compute's median value (the first pass's weights: robust to one far run)."""
    return np.array([float(np.median(y[c == macs])) for macs in c])


def fit_log_linear(points: Mapping[float, Iterable[float]]) -> Fit:
    """Ordinary least squares of ``y = p + q ln C`` over every run, t intervals at ``runs - 2`` degrees of freedom
    (``s`` and ``df`` are NaN and 0 with only two runs)."""
    c, y = _points(points)
    c_ref = float(c.min())
    x = np.log(c / c_ref)
    design = np.stack([np.ones_like(x), x], axis=1)
    theta, *_ = np.linalg.lstsq(design, y, rcond=None)
    df = int(y.size - 2)
    s = math.sqrt(float(((y - design @ theta) ** 2).sum()) / df) if df > 0 else float('nan')
    cov = np.linalg.inv(design.T @ design) * s ** 2
    params = {'p': float(theta[0] - theta[1] * math.log(c_ref)), 'q': float(theta[1])}
    return Fit('log_linear', params, tuple(map(float, theta)), tuple(map(tuple, cov.tolist())), c_ref, s, df,
               int(y.size), int(np.unique(c).size), 'log-linear')


def _starts(x: np.ndarray, y: np.ndarray) -> Iterable[np.ndarray]:
    """Starting points (ln A, b, ln c): a floor at a tenth, half and nine tenths of the smallest y, the head's
    log-log slope against compute from a straight line through ln(y - floor)."""
    for share in (0.1, 0.5, 0.9):
        floor = share * float(y.min())
        slope, level = np.polyfit(x, np.log(np.maximum(y - floor, 1e-9 * float(y.max()))), 1)
        yield np.array([level, float(np.clip(-slope, 0.01, 3.0)), math.log(floor)])


def _solve(x, y, weights, scale, starts) -> optimize.OptimizeResult:
    """The best of least_squares from every start: weighted log residuals, Huber loss of scale ``scale``."""
    def residuals(theta):
        return weights * (np.log(y) - np.log(np.exp(theta[0] - theta[1] * x) + np.exp(theta[2])))

    def jacobian(theta):
        head, floor = np.exp(theta[0] - theta[1] * x), np.exp(theta[2])
        f = head + floor
        return -(weights / f)[:, None] * np.stack([head, -x * head, np.full_like(x, floor)], axis=1)
    best = None
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        for start in starts:
            r = optimize.least_squares(residuals, start, jac=jacobian, loss='huber', f_scale=scale, method='trf',
                                       max_nfev=2000)
            if r.status > 0 and np.all(np.isfinite(r.x)) and (best is None or r.cost < best.cost):
                best = r
    if best is None:
        raise RuntimeError('least_squares did not converge from any start')
    return best


def fit_power_law(points: Mapping[float, Iterable[float]]) -> Fit:
    """``y = a C**-b + c`` in log space with the Huber loss, log residuals weighted by the fitted value (the module
    docstring); t intervals at ``runs - 3`` degrees of freedom.

    Raises:
        ValueError: bad points, ``y <= 0`` somewhere, or no residual degree of freedom.
        RuntimeError: no convergence, a curve that does not fall with compute (b <= 0) or falls as a step
            (b > MAX_EXPONENT), or parameters that are not
            identified (the curvature matrix is singular: e.g. flat points, where the head vanishes and with it the
            exponent).
    """
    c, y = _points(points)
    if np.any(y <= 0):
        raise ValueError(f'the power law needs y > 0 everywhere (it is fitted in log space), got min {y.min():g}')
    if y.size < 4:
        raise ValueError(f'the power law needs at least 4 runs (3 parameters and a residual), got {y.size}')
    c_ref = float(c.min())
    x = np.log(c / c_ref)
    starts = list(_starts(x, y))
    weights = _group_medians(c, y)
    scale = _robust_seed_sd(c, y) or math.sqrt(2 * _solve(x, y, weights, 1e6 * float(y.max()), starts).cost
                                               / (y.size - 3))
    for _ in range(2):  # the second pass: weights from the first's fitted values, scale from its residuals' MAD
        result = _solve(x, y, weights, HUBER_K * max(scale, 1e-12 * float(y.max())), starts)
        starts = [result.x]
        weights = np.exp(result.x[0] - result.x[1] * x) + math.exp(result.x[2])
        scale = MAD_TO_SD * float(np.median(np.abs(result.fun)))
    return _power_fit(result, c, y, c_ref)


def _power_fit(result, c: np.ndarray, y: np.ndarray, c_ref: float) -> Fit:
    df = int(y.size - 3)
    s = math.sqrt(float((result.fun ** 2).sum()) / df)
    jtj = result.jac.T @ result.jac
    scale = np.sqrt(np.diag(jtj))
    if not np.all(scale > 0) or np.linalg.cond(jtj / np.outer(scale, scale)) > 1e10:
        raise RuntimeError('the power law is not identified here (singular curvature: the floor or the exponent is '
                           'not pinned down by these points)')
    cov = np.linalg.inv(jtj) * s ** 2
    if not np.all(np.isfinite(cov)) or np.any(np.diag(cov) <= 0):
        raise RuntimeError('the power law is not identified here (singular curvature: the floor or the exponent is '
                           'not pinned down by these points)')
    ln_a, b, ln_c = (float(v) for v in result.x)
    if b <= 0:
        raise RuntimeError(f'the fitted curve does not fall with compute (b = {b:.3g})')
    log_a = ln_a + b * math.log(c_ref)
    if not -700 < log_a < 700 or b > MAX_EXPONENT:
        raise RuntimeError(f'the fitted exponent b = {b:.3g} is not a scaling law (a step, not a power law)')
    params = {'a': math.exp(log_a), 'b': b, 'c': math.exp(ln_c)}
    return Fit('power_law', params, (ln_a, b, ln_c), tuple(map(tuple, cov.tolist())), c_ref, s, df, int(y.size),
               int(np.unique(c).size), 'power law')


def fit(points: Mapping[float, Iterable[float]], kind: Optional[str] = None) -> Fit:
    """The scaling law of ``points`` (C -> the values of its runs), by :data:`FIT_RULE`; ``kind`` ('power_law' or
    'log_linear') forces one. The returned :class:`Fit` says which model was fitted and why in ``reason``."""
    if kind not in (None, 'power_law', 'log_linear'):
        raise ValueError(f"kind must be None, 'power_law' or 'log_linear', got {kind!r}")
    c, y = _points(points)
    distinct = int(np.unique(c).size)
    if kind == 'log_linear' or (kind is None and distinct < MIN_POWER_LAW_POINTS):
        reason = 'forced' if kind else f'{distinct} distinct C < {MIN_POWER_LAW_POINTS}: log-linear'
        return _with_reason(fit_log_linear(points), reason)
    try:
        out = fit_power_law(points)
    except (RuntimeError, ValueError, OverflowError) as exc:
        if kind == 'power_law':
            raise
        return _with_reason(fit_log_linear(points), f'power law failed ({exc}): log-linear')
    return _with_reason(out, 'forced' if kind else f'{distinct} distinct C >= {MIN_POWER_LAW_POINTS}: power law')


def _with_reason(f: Fit, reason: str) -> Fit:
    return replace(f, reason=reason)


def held_out_check(fitted: Fit, macs: float, values: Sequence[float], confidence: float = 0.95) -> Dict[str, object]:
    """A compute that was not fitted, scored by its standardised residual.

    ``t = (mean of values - predicted) / sqrt(se_fit**2 + s**2 / n)`` (the curve's delta-method standard error and the
    fit's residual noise for a mean of ``n`` runs); "inside" when ``|t|`` is at most the t quantile at the fit's
    degrees of freedom. ``low``, ``high``: the matching prediction interval for the mean.
    """
    values = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not values:
        raise ValueError(f'held-out compute {macs:g} has no finite value')
    if fitted.df < 1 or not math.isfinite(fitted.s):
        raise ValueError(f'the {fitted.kind} fit has no residual degree of freedom: no held-out check')
    predicted, se_fit = float(fitted.predict(macs)), float(fitted.se(macs))
    measured, n = float(np.mean(values)), len(values)
    se = math.sqrt(se_fit ** 2 + fitted.s ** 2 / n)
    q = fitted.quantile(confidence)
    t = (measured - predicted) / se
    return dict(macs=float(macs), measured=measured, n=n, predicted=predicted, se_fit=se_fit, se=se, t=t,
                df=fitted.df, quantile=q, low=predicted - q * se, high=predicted + q * se, inside=abs(t) <= q,
                kind=fitted.kind)


def _log_compute(fitted: Fit, target: float) -> Tuple[Optional[float], Optional[np.ndarray], str]:
    """(ln C at which the curve equals target, its gradient in theta, why None)."""
    if fitted.kind == 'power_law':
        ln_a, b, ln_c = fitted.theta
        gap = target - math.exp(ln_c)
        if gap <= 0:
            return None, None, f'its floor c = {math.exp(ln_c):.3g} is at or above the target'
        if b <= 0:
            return None, None, 'it does not fall with compute (b <= 0)'
        x = (ln_a - math.log(gap)) / b
        grad = np.array([1 / b, -x / b, math.exp(ln_c) / gap / b])
    else:
        p0, q = fitted.theta
        if q >= 0:
            return None, None, 'it does not fall with compute (q >= 0)'
        x = (target - p0) / q
        grad = np.array([-1 / q, -x / q])
    return x + math.log(fitted.c_ref), grad, ''


def compute_to_reach(fitted: Fit, target: float, confidence: float = 0.95) -> Dict[str, object]:
    """The compute at which the fitted curve reaches ``target`` (in the units of y), with a t interval from the
    delta method on ``ln C``; ``macs`` None and ``why`` when the curve never reaches it."""
    log_c, grad, why = _log_compute(fitted, float(target))
    if log_c is None:
        return dict(target=float(target), macs=None, low=None, high=None, log_se=None, df=fitted.df, why=why)
    log_se = math.sqrt(float(grad @ np.asarray(fitted.cov) @ grad))
    half = fitted.quantile(confidence) * log_se
    return dict(target=float(target), macs=math.exp(log_c), low=math.exp(log_c - half), high=math.exp(log_c + half),
                log_se=log_se, df=fitted.df, why='')


def compute_ratio(one: Mapping[str, object], other: Mapping[str, object],
                  confidence: float = 0.95) -> Optional[Dict[str, float]]:
    """``one['macs'] / other['macs']`` (two :func:`compute_to_reach` results of separately fitted curves) with a t
    interval on the log ratio: variances added (the fits share B0's runs, which correlate them positively, so the
    interval is conservative), the smaller of the two degrees of freedom. None when either never reaches."""
    if one['macs'] is None or other['macs'] is None:
        return None
    log_ratio = math.log(one['macs'] / other['macs'])
    half = float(stats.t.ppf(0.5 + confidence / 2, min(one['df'], other['df']))) * math.hypot(one['log_se'],
                                                                                                other['log_se'])
    return dict(ratio=math.exp(log_ratio), low=math.exp(log_ratio - half), high=math.exp(log_ratio + half))
