"""A scaling law of error against compute, its uncertainty over seeds, and a check of its prediction on held-out
compute. Imports numpy and scipy only.

Models (``C``: multiply-adds of one image; ``err``: error rate, any unit, e.g. 1 - top-1 or percent):

- power law with an irreducible error (Hestness et al. 2017, Kaplan et al. 2020): ``err = a * C**(-b) + c``,
  fitted by :func:`fit_power_law`;
- log-linear (``err = p + q * ln C``, natural log), fitted by :func:`fit_log_linear`, for too few points to fit a
  three-parameter curve.

:func:`fit` chooses: the power law when there are at least 4 distinct C (one more than its 3 parameters, so the
fit is not an interpolation) and it converges; otherwise the log-linear line (2 or 3 distinct C, or the power law's
fit failed, with the reason recorded). One distinct C is an error.

:func:`bootstrap_fit` gives percentile intervals over seeds; :func:`predict_held_out` fits without the largest
compute and says whether the measurement lands inside the predicted interval.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from typing import Dict, Iterable, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from scipy import optimize, stats

__all__ = ['Fit', 'BootstrapFit', 'fit_power_law', 'fit_log_linear', 'fit', 'bootstrap_fit', 'predict_held_out',
           'MIN_POWER_LAW_POINTS', 'FIT_RULE']

MIN_POWER_LAW_POINTS = 4  # distinct C for the 3-parameter power law; fewer: log-linear
FIT_RULE = (f'power law err = a*C^-b + c with >= {MIN_POWER_LAW_POINTS} distinct compute values (log-linear '
            f'err = p + q*ln C if it does not converge); log-linear with 2-3; one is an error')


@dataclass(frozen=True)
class Fit:
    """A fitted curve. ``params``: a, b, c (power law) or p, q (log-linear) in the units of C and err given;
    ``c_ref`` is the smallest C, by which C was divided while fitting."""
    kind: str  # 'power_law' or 'log_linear'
    params: Dict[str, float]
    c_ref: float
    n_points: int
    n_distinct: int
    rmse: float
    reason: str = ''  # why this kind (the rule, or the power law's failure)

    def predict(self, macs) -> np.ndarray:
        """The fitted err at compute ``macs`` (a number or an array)."""
        return _curve(self.kind, self.params, self.c_ref, np.asarray(macs, dtype=float))


def _curve(kind: str, params: Mapping[str, object], c_ref: float, macs):
    """The curve at ``macs``, evaluated relative to ``c_ref``; parameters may be arrays (one curve each)."""
    log_x = np.log(macs / c_ref)
    if kind == 'power_law':
        return params['a'] * c_ref ** -np.asarray(params['b']) * np.exp(-np.asarray(params['b']) * log_x) \
            + params['c']
    return params['p'] + params['q'] * (log_x + math.log(c_ref))


def _points(macs, err) -> Tuple[np.ndarray, np.ndarray]:
    """(C, err) as float arrays; raises ValueError for mismatched, non-finite or non-positive C, or one distinct C."""
    c, e = np.asarray(macs, dtype=float).ravel(), np.asarray(err, dtype=float).ravel()
    if c.shape != e.shape or c.size == 0:
        raise ValueError(f'macs and err must be non-empty and of one length, got {c.size} and {e.size}')
    if not (np.all(np.isfinite(c)) and np.all(np.isfinite(e))) or np.any(c <= 0):
        raise ValueError('macs must be finite and > 0 and err finite')
    if np.unique(c).size < 2:
        raise ValueError(f'a scaling law needs at least 2 distinct compute values, got {np.unique(c).size} '
                         f'(C = {np.unique(c).tolist()}); train a larger or smaller variant')
    return c, e


def _rmse(fitted: Fit, c, e) -> float:
    return float(np.sqrt(np.mean((fitted.predict(c) - e) ** 2)))


def fit_log_linear(macs, err) -> Fit:
    """Least squares of ``err = p + q * ln C`` (``np.polyfit`` on ln(C / C_min), then shifted back to ln C)."""
    c, e = _points(macs, err)
    c_ref = float(c.min())
    q, p_ref = np.polyfit(np.log(c / c_ref), e, 1)
    params = {'p': float(p_ref - q * math.log(c_ref)), 'q': float(q)}
    out = Fit('log_linear', params, c_ref, c.size, int(np.unique(c).size), 0.0, 'log-linear')
    return replace(out, rmse=_rmse(out, c, e))


def _start(x, e, c_max) -> Tuple[float, float, float]:
    """A starting point: c half the smallest err, b from the log-log slope of err - c between the ends."""
    c0 = 0.5 * min(float(e.min()), c_max)
    small, large = e[x == x.min()].mean() - c0, e[x == x.max()].mean() - c0
    b0 = float(np.clip(math.log(max(small, 1e-12) / max(large, 1e-12)) / math.log(x.max()), 0.05, 2.0))
    return max(float(small), 1e-6), b0, c0


def fit_power_law(macs, err, p0: Optional[Sequence[float]] = None) -> Fit:
    """Least squares of ``err = a * C**(-b) + c`` with ``scipy.optimize.curve_fit`` (trust-region reflective).

    For conditioning C is divided by its smallest value ``C_min`` and the curve is evaluated in log space:
    ``err = A * exp(-b * ln(C / C_min)) + c``, with ``a = A * C_min**b``. Bounds: ``A > 0``, ``b > 0`` (at most
    5), ``0 <= c < min(err)``. ``p0``: a start (A, b, c) in these units, e.g. a previous fit's.

    Raises:
        ValueError: bad points, or ``min(err) <= 0`` (no room for c).
        RuntimeError: curve_fit does not converge.
    """
    c, e = _points(macs, err)
    c_ref, e_min = float(c.min()), float(e.min())
    if e_min <= 0:
        raise ValueError(f'the power law needs err > 0 everywhere (c lies in [0, min(err))), got min {e_min:g}')
    log_x, c_max = np.log(c / c_ref), e_min * (1 - 1e-9)

    def curve(lx, A, b, c_):
        return A * np.exp(-b * lx) + c_
    start = np.clip(p0 if p0 is not None else _start(c / c_ref, e, c_max), [1e-12, 1e-9, 0], [np.inf, 5, c_max])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # OptimizeWarning: covariance not estimable with exactly 3 points
        popt, _ = optimize.curve_fit(curve, log_x, e, p0=start, bounds=([1e-12, 1e-9, 0.0], [np.inf, 5.0, c_max]),
                                     method='trf', maxfev=20000)
    A, b, c_ = (float(v) for v in popt)
    out = Fit('power_law', {'a': A * c_ref ** b, 'b': b, 'c': c_}, c_ref, c.size, int(np.unique(c).size), 0.0,
              'power law')
    return replace(out, rmse=_rmse(out, c, e))


def fit(macs, err, kind: Optional[str] = None) -> Fit:
    """The scaling law of these points, by :data:`FIT_RULE`; ``kind`` ('power_law' or 'log_linear') forces one.

    The returned :class:`Fit` records which model was fitted and why in ``reason``.
    """
    c, e = _points(macs, err)
    distinct = int(np.unique(c).size)
    if kind not in (None, 'power_law', 'log_linear'):
        raise ValueError(f"kind must be None, 'power_law' or 'log_linear', got {kind!r}")
    if kind == 'log_linear' or (kind is None and distinct < MIN_POWER_LAW_POINTS):
        reason = 'forced' if kind else f'{distinct} distinct C < {MIN_POWER_LAW_POINTS}: log-linear'
        return replace(fit_log_linear(c, e), reason=reason)
    try:
        out = fit_power_law(c, e)
    except (RuntimeError, ValueError) as exc:
        if kind == 'power_law':
            raise
        return replace(fit_log_linear(c, e), reason=f'power law failed ({exc}): log-linear')
    reason = 'forced' if kind else f'{distinct} distinct C >= {MIN_POWER_LAW_POINTS}: power law'
    return replace(out, reason=reason)


@dataclass(frozen=True)
class BootstrapFit:
    """The fit to every point, percentile intervals of its parameters over seed resamples, and predictions."""
    fit: Fit
    intervals: Dict[str, Tuple[float, float]]
    confidence: float
    n_resamples: int
    n_failed: int  # resamples whose fit did not converge (left out)
    seeds: Dict[float, int]  # seeds per C
    method: str
    samples: Dict[str, np.ndarray] = field(repr=False, default_factory=dict)  # parameters of each resample

    def predict(self, macs: float) -> Tuple[float, float, float]:
        """(fitted err, low, high) at one compute ``macs``: the point fit and the percentile interval of the
        resampled curves there."""
        curves = _curve(self.fit.kind, self.samples, self.fit.c_ref, float(macs))
        tail = 100 * (1 - self.confidence) / 2
        low, high = np.percentile(curves, [tail, 100 - tail])
        return float(self.fit.predict(macs)), float(low), float(high)


def _by_compute(points_by_seed: Mapping[float, Iterable[float]]) -> Dict[float, np.ndarray]:
    """{C: finite per-seed errors}, C sorted; raises ValueError for a C without any finite error."""
    out = {}
    for c, errs in sorted(points_by_seed.items(), key=lambda kv: float(kv[0])):
        e = np.asarray(list(errs), dtype=float)
        e = e[np.isfinite(e)]
        if e.size == 0:
            raise ValueError(f'compute {c!r} has no finite error')
        out[float(c)] = e
    return out


def _flatten(groups: Dict[float, np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    return (np.concatenate([np.full(e.size, c) for c, e in groups.items()]),
            np.concatenate(list(groups.values())))


def _refit(kind: str, c, e, start) -> Optional[Dict[str, float]]:
    """One resample's parameters (None when the power law does not converge)."""
    try:
        if kind == 'power_law':
            return fit_power_law(c, e, p0=start).params
        return fit_log_linear(c, e).params
    except (RuntimeError, ValueError):
        return None


def bootstrap_fit(points_by_seed: Mapping[float, Iterable[float]], n_resamples: int = 1000, seed: int = 0,
                  confidence: float = 0.95) -> BootstrapFit:
    """Fit a scaling law (:func:`fit`) and its uncertainty over seeds by a stratified nonparametric bootstrap.

    ``points_by_seed``: C -> the error of each seed trained at that compute. Each resample draws, for every C
    independently, as many errors as it has seeds, with replacement (``numpy.random.default_rng(seed)``), and
    refits the same kind of curve as the fit to all points (started from its parameters). Intervals are the
    ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` percentiles of the refitted parameters (percentile
    method); :meth:`BootstrapFit.predict` gives the same percentiles of the refitted curves at any C.

    The interval covers seed-to-seed variation only (not a wrong model form), and with few seeds per C it is
    narrow (a resample of n seeds has about (n - 1)/n of their variance). A C with one seed is held fixed.

    Raises:
        ValueError: fewer than 2 distinct C, or no C with 2 or more seeds (nothing to resample).
    """
    groups = _by_compute(points_by_seed)
    if max(e.size for e in groups.values()) < 2:
        raise ValueError('bootstrap over seeds needs at least 2 seeds at some compute; every C has one')
    base = fit(*_flatten(groups))
    start = None
    if base.kind == 'power_law':
        start = (base.params['a'] * base.c_ref ** -base.params['b'], base.params['b'], base.params['c'])
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(int(n_resamples)):
        resample = {c: e[rng.integers(0, e.size, e.size)] for c, e in groups.items()}
        rows.append(_refit(base.kind, *_flatten(resample), start))
    ok = [r for r in rows if r is not None]
    if not ok:
        raise ValueError(f'every one of {n_resamples} bootstrap refits failed')
    samples = {k: np.array([r[k] for r in ok]) for k in base.params}
    tail = 100 * (1 - confidence) / 2
    intervals = {k: tuple(float(v) for v in np.percentile(s, [tail, 100 - tail])) for k, s in samples.items()}
    return BootstrapFit(base, intervals, confidence, len(ok), len(rows) - len(ok),
                        {c: int(e.size) for c, e in groups.items()},
                        f'stratified bootstrap over seeds, {len(ok)} refits, percentile intervals', samples)


def _held_out_row(bfit: BootstrapFit, c: float, errs: np.ndarray, confidence: float) -> Dict[str, object]:
    """Measured mean vs predicted at one held-out C; ``inside``: the mean lies in the curve's interval;
    ``inside_with_seed_noise``: in that interval widened by the mean's own normal interval (root sum of squares)."""
    predicted, low, high = bfit.predict(c)
    measured = float(errs.mean())
    se = float(errs.std(ddof=1) / math.sqrt(errs.size)) if errs.size > 1 else None
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    half = (math.hypot(high - predicted, z * se), math.hypot(predicted - low, z * se)) if se is not None else None
    return dict(macs=c, measured=measured, n_seeds=int(errs.size), measured_se=se, predicted=predicted, low=low,
                high=high, inside=low <= measured <= high,
                inside_with_seed_noise=(predicted - half[1] <= measured <= predicted + half[0]) if half else None)


def predict_held_out(points: Mapping[float, Iterable[float]], hold_out_macs: Union[int, Iterable[float]] = 1,
                     n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95) -> Dict[str, object]:
    """Fit on all but the largest compute, predict the held-out compute with an interval, compare to measured.

    ``points``: C -> per-seed errors, as for :func:`bootstrap_fit`. ``hold_out_macs``: how many of the largest C
    to hold out (an int), or those C themselves (each must be larger than every C kept for the fit: the check is
    an extrapolation). The fit and its interval are :func:`bootstrap_fit` on the kept points.

    Returns:
        ``{'fit': the kept points' Fit, 'intervals', 'method', 'held_out': [{macs, measured (mean over seeds),
        n_seeds, measured_se, predicted, low, high, inside, inside_with_seed_noise}], 'all_inside'}``.
    """
    groups = _by_compute(points)
    ordered = list(groups)
    if isinstance(hold_out_macs, int) and not isinstance(hold_out_macs, bool):
        if not 1 <= hold_out_macs <= len(ordered) - 2:
            raise ValueError(f'hold out between 1 and {len(ordered) - 2} of the {len(ordered)} compute values '
                             f'(at least 2 must stay for the fit), got {hold_out_macs}')
        held = ordered[-hold_out_macs:]
    else:
        held = sorted(float(c) for c in hold_out_macs)
        if not held or any(c not in groups for c in held):
            raise ValueError(f'hold_out_macs {held} must be compute values of points ({ordered})')
    kept = {c: e for c, e in groups.items() if c not in held}
    if max(kept) >= min(held):
        raise ValueError(f'held-out compute {held} must all be larger than the fitted compute {sorted(kept)}')
    bfit = bootstrap_fit(kept, n_resamples=n_resamples, seed=seed, confidence=confidence)
    rows = [_held_out_row(bfit, c, groups[c], confidence) for c in held]
    return dict(fit=bfit.fit, intervals=bfit.intervals, method=bfit.method, held_out=rows,
                all_inside=all(r['inside'] for r in rows))
