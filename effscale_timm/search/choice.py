"""The search's choice: one round of successive halving, and the candidate with the best mean validation top-1
over seeds (test accuracy is never read), with the probability that it is the best (a bootstrap over seeds) and the
word "tie" when the data do not separate it from the others."""
from __future__ import annotations

import math
import statistics
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from ..files.run_record import RunRecord
from .grid import parse_candidate_name

__all__ = ['CHOICE_RULE', 'CLEAR_CHOICE', 'successive_halving', 'p_best', 'choose']

CLEAR_CHOICE = 0.9  # P(best) at which a choice is clear; below it the data do not separate the candidates: a tie
P_BEST_RESAMPLES = 4000  # bootstrap resamples of each candidate's seeds (Monte-Carlo SE of P(best) <= 0.8%)
CHOICE_RULE = ('the highest mean final validation top-1 over seeds (ties: more seeds, then the name); failed runs '
               'excluded; test accuracy is never read; P(best) is the share of bootstrap resamples of each '
               f'candidate\'s seeds ({P_BEST_RESAMPLES:,}) in which it has the highest mean, and a choice with P(best) '
               f'below {CLEAR_CHOICE:g}, or with a candidate of fewer than 2 seeds, is a tie the data do not decide')


def _score(value) -> Optional[float]:
    """A finite number, or None (a failed or missing run)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def successive_halving(scores: Mapping[str, float], keep_fraction: float = 0.5) -> List[str]:
    """The names that go on to the next, longer round of successive halving, best first.

    One round of successive halving (Jamieson & Talwalkar 2016; Li et al., Hyperband, 2018): every candidate is
    trained with the same small budget, ranked by validation top-1 (``scores``: name -> val top-1), and the best
    ``max(1, ceil(keep_fraction * n))`` go on; ties are broken by name so the cut is reproducible. A score that is
    not a finite number (a failed run) never goes on.

    Raises:
        ValueError: ``keep_fraction`` outside (0, 1], or no finite score.
    """
    if not 0 < keep_fraction <= 1:
        raise ValueError(f'keep_fraction must be in (0, 1], got {keep_fraction!r}')
    finite = {n: s for n, s in ((n, _score(v)) for n, v in scores.items()) if s is not None}
    if not finite:
        raise ValueError(f'successive_halving: no candidate has a finite validation score ({dict(scores)!r})')
    keep = max(1, math.ceil(keep_fraction * len(scores)))
    return sorted(finite, key=lambda n: (-finite[n], n))[:keep]


def _val_top1(run: Union[RunRecord, float]) -> Optional[float]:
    """A run's validation top-1: the number itself, or ``final_val_top1`` of a usable record (never test)."""
    if isinstance(run, RunRecord):
        return _score(run.final_val_top1) if run.usable else None
    return _score(run)


def _summary(name: str, runs: Sequence) -> Dict[str, Any]:
    values = [v for v in (_val_top1(r) for r in runs) if v is not None]
    summary = dict(name=name, n=len(values), mean=statistics.fmean(values) if values else None,
                   std=statistics.stdev(values) if len(values) > 1 else None, values=values)
    coefficients = parse_candidate_name(name)
    if coefficients:
        summary.update(zip(('alpha', 'beta', 'gamma'), coefficients))
    return summary


def p_best(values: Mapping[str, Sequence[float]], resamples: int = P_BEST_RESAMPLES, seed: int = 0) -> Dict[str, float]:
    """P(best) of each name: the share of bootstrap resamples (each name's values drawn with replacement, as many as
    it has) in which its mean is the highest; a resample's tie splits its credit. Names without values get 0."""
    names = [n for n, v in values.items() if len(v)]
    if not names:
        return {n: 0.0 for n in values}
    rng = np.random.default_rng(seed)
    means = np.stack([rng.choice(np.asarray(values[n], dtype=float), (resamples, len(values[n]))).mean(axis=1)
                      for n in names])
    winners = np.isclose(means, means.max(axis=0), rtol=0, atol=1e-9)
    credit = (winners / winners.sum(axis=0)).mean(axis=1)
    return {n: float(credit[names.index(n)]) if n in names else 0.0 for n in values}


def _clarity(ranked: List[Dict[str, Any]]) -> str:
    """'' when the choice is clear; else why it is a tie."""
    contenders = [s for s in ranked if s['n']]
    if len(contenders) < 2:
        return ''
    if min(s['n'] for s in contenders) < 2:
        return 'a candidate has fewer than 2 seeds: no spread to tell them apart'
    if ranked[0]['p_best'] < CLEAR_CHOICE:
        near = [f'{s["name"]} ({s["p_best"]:.2f})' for s in contenders[1:] if s['p_best'] >= 0.05]
        return (f'P(best) = {ranked[0]["p_best"]:.2f} < {CLEAR_CHOICE:g}: the validation scores do not separate it '
                f'from ' + (', '.join(near) if near else 'the others'))
    return ''


def choose(candidates_results: Mapping[str, Sequence]) -> Dict[str, Any]:
    """The candidate with the best mean validation top-1 over seeds, the runner-up, every candidate's P(best) and
    whether the choice is clear.

    ``candidates_results``: name -> the runs of its seeds, each a validation top-1 or a
    :class:`~effscale_timm.files.run_record.RunRecord` (its ``final_val_top1``; runs that are not usable are left
    out). Rule: :data:`CHOICE_RULE`. The std is the sample standard deviation over seeds (None for one seed).

    Returns:
        ``{'name', 'mean', 'std', 'n', 'p_best', 'alpha', 'beta', 'gamma' (when the name is a
        :func:`candidate_name`), 'runner_up': the same for the second or None, 'candidates': every summary best
        first, 'clear': whether P(best) >= CLEAR_CHOICE with 2 or more seeds each, 'tie': '' or why the data do not
        decide, 'rule'}``.

    Raises:
        ValueError: no candidate with at least one finished run.
    """
    summaries = [_summary(n, runs) for n, runs in candidates_results.items()]
    probabilities = p_best({s['name']: s['values'] for s in summaries})
    for s in summaries:
        s['p_best'] = probabilities[s['name']]
    ranked = sorted((s for s in summaries if s['n']), key=lambda s: (-s['mean'], -s['n'], s['name']))
    if not ranked:
        raise ValueError(f'choose: no candidate has a finished run with a validation top-1 '
                         f'(candidates: {sorted(candidates_results)})')
    ranked += [s for s in summaries if not s['n']]
    runner_up = ranked[1] if len(ranked) > 1 and ranked[1]['n'] else None
    tie = _clarity(ranked)
    return dict(ranked[0], runner_up=runner_up, candidates=ranked, clear=not tie, tie=tie, rule=CHOICE_RULE)
