"""The search's choice: one round of successive halving, and the candidate with the best mean validation top-1
over seeds (test accuracy is never read)."""
from __future__ import annotations

import math
import statistics
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from ..files.run_record import RunRecord
from .grid import parse_candidate_name

__all__ = ['CHOICE_RULE', 'successive_halving', 'choose']

CHOICE_RULE = ('the highest mean final validation top-1 over seeds (ties: more seeds, then the name); failed runs '
               'excluded; test accuracy is never read')


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
                   std=statistics.stdev(values) if len(values) > 1 else None)
    coefficients = parse_candidate_name(name)
    if coefficients:
        summary.update(zip(('alpha', 'beta', 'gamma'), coefficients))
    return summary


def choose(candidates_results: Mapping[str, Sequence]) -> Dict[str, Any]:
    """The candidate with the best mean validation top-1 over seeds, and the runner-up.

    ``candidates_results``: name -> the runs of its seeds, each a validation top-1 or a
    :class:`~effscale_timm.files.run_record.RunRecord` (its ``final_val_top1``; runs that are not usable are left
    out). Rule: :data:`CHOICE_RULE`. The std is
    the sample standard deviation over seeds (None for one seed).

    Returns:
        ``{'name', 'mean', 'std', 'n', 'alpha', 'beta', 'gamma' (when the name is a :func:`candidate_name`),
        'runner_up': the same for the second or None, 'candidates': every summary best first, 'rule'}``.

    Raises:
        ValueError: no candidate with at least one finished run.
    """
    summaries = [_summary(n, runs) for n, runs in candidates_results.items()]
    ranked = sorted((s for s in summaries if s['n']), key=lambda s: (-s['mean'], -s['n'], s['name']))
    if not ranked:
        raise ValueError(f'choose: no candidate has a finished run with a validation top-1 '
                         f'(candidates: {sorted(candidates_results)})')
    ranked += [s for s in summaries if not s['n']]
    runner_up = ranked[1] if len(ranked) > 1 and ranked[1]['n'] else None
    return dict(ranked[0], runner_up=runner_up, candidates=ranked, rule=CHOICE_RULE)
