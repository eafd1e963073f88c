"""The design-space study's analysis: is the interior (networks that mix the axes) better than the near-single-axis
corners, and which share of log-compute helps? Imports numpy and scipy only (and the study's thresholds).

Error is ``100 - test top-1`` (points), one run per sample; nothing here chooses a network, so the test split is read.

- **Groups.** A sample is a *corner* when its largest share of log-compute is at least
  :data:`~effscale_timm.search.design_space.CORNER_SHARE` (one axis carries two thirds of it or more: the network is
  mostly a single-axis one); the rest is the *interior*. The sampler allocates a third of the samples to the corners,
  their probability under Dirichlet(1, 1, 1) (:mod:`effscale_timm.search.design_space`).
- **EDF comparison** (Radosavovic et al. 2020 compare design spaces by their error EDFs): the primary statistic is the
  difference of mean errors, interior minus corners, with a 95% percentile bootstrap interval (each group resampled
  with replacement, :data:`BOOTSTRAP_RESAMPLES` times); beside it the difference of medians and P(an interior sample
  has lower error than a corner sample), the common-language effect size (0.5: no difference), bootstrapped alike.
- **Share regression**: Scheffé's quadratic mixture model (Cornell, *Experiments with Mixtures*): ``err = sum_i b_i
  s_i + sum_{i<j} b_ij s_i s_j``, no intercept because the shares sum to 1. ``b_i`` is the predicted error of the
  pure axis-i network at this compute (an extrapolation when no sample lies near that corner); ``b_ij < 0`` says
  mixing axes i and j lowers the error. Ordinary least squares, t intervals at ``n - 6`` degrees of freedom; the
  contrasts "balanced network (a third each) minus each pure axis" with their t intervals say whether mixing beats
  each single axis at this compute.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from scipy import stats

from ..config.checks import MIN_DESIGN_SAMPLES
from ..scaling import SCALING_AXES
from .design_space import is_corner

MIN_GROUP = 3  # samples per group below which the EDF comparison concludes nothing
BOOTSTRAP_RESAMPLES = 4000
CONFIDENCE = 0.95
TERMS = SCALING_AXES + tuple(f'{a}×{b}' for i, a in enumerate(SCALING_AXES) for b in SCALING_AXES[i + 1:])
REGRESSION_RULE = ('Scheffé quadratic mixture model, error = Σ b_i·s_i + Σ b_ij·s_i·s_j (no intercept: the shares '
                   'sum to 1), ordinary least squares, t intervals at n − 6 degrees of freedom')


def groups(shares: Sequence[Sequence[float]]) -> List[str]:
    """'corner' or 'interior' per sample, by its largest share (:func:`.design_space.is_corner`)."""
    return ['corner' if is_corner(s) else 'interior' for s in shares]


def _stats(interior: np.ndarray, corner: np.ndarray) -> np.ndarray:
    """(Δ mean, Δ median, P(interior < corner) with ties halved) of two error samples; vectorised over rows."""
    less = (interior[..., :, None] < corner[..., None, :]).mean(axis=(-2, -1))
    ties = (interior[..., :, None] == corner[..., None, :]).mean(axis=(-2, -1))
    return np.stack([interior.mean(-1) - corner.mean(-1), np.median(interior, -1) - np.median(corner, -1),
                     less + ties / 2], axis=-1)


def edf_comparison(errors: Sequence[float], labels: Sequence[str], seed: int = 0) -> Dict[str, Any]:
    """Interior against corners: group sizes, the three statistics with their 95% percentile bootstrap intervals,
    and ``why`` (non-empty when a group has fewer than MIN_GROUP samples: no comparison)."""
    errors = np.asarray(errors, dtype=float)
    interior = errors[[g == 'interior' for g in labels]]
    corner = errors[[g == 'corner' for g in labels]]
    out: Dict[str, Any] = dict(n_interior=int(interior.size), n_corner=int(corner.size), why='')
    if min(interior.size, corner.size) < MIN_GROUP:
        out['why'] = (f'{interior.size} interior and {corner.size} corner samples: fewer than {MIN_GROUP} in a group, '
                      f'no comparison')
        return out
    rng = np.random.default_rng(seed)
    boot = _stats(rng.choice(interior, (BOOTSTRAP_RESAMPLES, interior.size)),
                  rng.choice(corner, (BOOTSTRAP_RESAMPLES, corner.size)))
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(boot, [tail, 100 - tail], axis=0)
    point = _stats(interior, corner)
    for i, name in enumerate(('delta_mean', 'delta_median', 'p_interior_better')):
        out[name] = dict(estimate=float(point[i]), low=float(low[i]), high=float(high[i]))
    out['method'] = f'percentile bootstrap, {BOOTSTRAP_RESAMPLES:,} resamples of each group'
    return out


def design_matrix(shares: Sequence[Sequence[float]]) -> np.ndarray:
    """The mixture model's columns (:data:`TERMS`): the three shares, then their pairwise products."""
    s = np.asarray(shares, dtype=float)
    return np.column_stack([s[:, 0], s[:, 1], s[:, 2], s[:, 0] * s[:, 1], s[:, 0] * s[:, 2], s[:, 1] * s[:, 2]])


def share_regression(shares: Sequence[Sequence[float]], errors: Sequence[float]) -> Dict[str, Any]:
    """The mixture regression (module docstring): coefficients with t intervals, the balanced-minus-pure contrasts,
    and ``why`` when it cannot be fitted (fewer than MIN_DESIGN_SAMPLES runs, or the shares do not identify it)."""
    y = np.asarray(errors, dtype=float)
    if y.size < MIN_DESIGN_SAMPLES:
        return dict(why=f'{y.size} usable runs: the regression needs {MIN_DESIGN_SAMPLES} (6 terms + 3 residual '
                        f'degrees of freedom)', n=int(y.size))
    x = design_matrix(shares)
    scale = np.sqrt((x ** 2).sum(axis=0))
    if np.linalg.cond(x / scale) > 1e8:
        return dict(why='the samples\' shares do not identify the six terms (a singular design)', n=int(y.size))
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    df = int(y.size - x.shape[1])
    s2 = float(((y - x @ beta) ** 2).sum()) / df
    cov = np.linalg.inv(x.T @ x) * s2
    q = float(stats.t.ppf(0.5 + CONFIDENCE / 2, df))
    coefficients = {t: _t_row(beta[i], math.sqrt(cov[i, i]), q, df) for i, t in enumerate(TERMS)}
    centre = design_matrix([[1 / 3] * 3])[0]
    contrasts = {}
    for i, axis in enumerate(SCALING_AXES):
        g = centre - np.eye(len(TERMS))[i]
        contrasts[axis] = _t_row(float(g @ beta), math.sqrt(float(g @ cov @ g)), q, df)
    return dict(why='', n=int(y.size), df=df, s=math.sqrt(s2), coefficients=coefficients,
                balanced_minus_pure=contrasts, rule=REGRESSION_RULE)


def _t_row(estimate: float, se: float, q: float, df: int) -> Dict[str, float]:
    t = estimate / se if se > 0 else math.inf
    return dict(estimate=float(estimate), se=float(se), low=float(estimate - q * se), high=float(estimate + q * se),
                p=float(2 * stats.t.sf(abs(t), df)))


def answer(edf: Dict[str, Any]) -> Optional[str]:
    """The EDF comparison's answer in words (None when there is no comparison)."""
    if edf['why']:
        return None
    d = edf['delta_mean']
    interval = f'{d["estimate"]:+.2f} points [{d["low"]:+.2f}, {d["high"]:+.2f}]'
    if d['high'] < 0:
        return (f'the interior (networks that mix the axes) has lower error than the near-single-axis corners: '
                f'{interval}')
    if d['low'] > 0:
        return f'the near-single-axis corners have lower error than the interior: {interval}'
    return f'no difference detected between the interior and the near-single-axis corners: {interval}'
