"""The search's numbers after its trainings: every strategy's curve (B0 at phi = 0, the fitted integer and fractional
phi, the held-out phi), its scaling laws of test error and of validation cross-entropy with the held-out check
against the log-linear baseline, the compute each strategy needs to reach one target error, and one pre-specified
curve-level test of compound against each single axis (:mod:`effscale_timm.decision`).

Accuracy is in percent; the error a law fits is ``100 - test top-1`` (points) and the cross-entropy the last epoch's
validation loss (nats). The markdown is :mod:`effscale_timm.search.report`.
"""
from __future__ import annotations

import os
import statistics
from typing import Any, Dict, List, Optional, Sequence

from ..files.search_files import read_search_file
from ..decision import Contrast, Decision, decide, pooled_sd
from ..files.run_record import RunRecord
from ..scaling import SCALING_AXES
from .family import B0, STRATEGIES, member_spec, spec_macs, strategy_member
from .scaling_law import Fit, compute_ratio, compute_to_reach, fit, fit_log_linear, held_out_check
from .steps import runs_by_variant

TARGETS = {'error': ('100 − test top-1', 'points'), 'loss': ('validation cross-entropy', 'nats')}


def load(grid: os.PathLike, chosen: os.PathLike, match: Sequence[os.PathLike], runs: Sequence[os.PathLike],
         halving: Optional[os.PathLike] = None) -> Dict[str, Any]:
    """The search's files: grid, choice, match files (their members), run records by variant, halving round."""
    members = {}
    for p in match:
        members.update(read_search_file(p, 'match')['members'])
    return dict(runs=runs_by_variant(runs), grid=read_search_file(grid, 'grid'),
                chosen=read_search_file(chosen, 'chosen'), members=members, chosen_path=chosen,
                halving=read_search_file(halving, 'halving') if halving else None)


def member_macs(data) -> Dict[str, float]:
    """MACs of every trained name: the grid's and the match files' measurements; the found family is counted."""
    grid = data['grid']
    macs = {r['name']: r['macs'] for r in grid['kept']}
    macs[B0] = grid['b0_macs']
    macs.update({n: m['macs'] for n, m in data['members'].items()})
    shape = (grid['base_resolution'], grid['num_classes'], grid['in_chans'])
    for name in data['runs']:
        if name not in macs:
            macs[name] = spec_macs(member_spec(name, chosen=data['chosen_path']), *shape)
    return macs


def _usable(runs: Sequence[RunRecord], key: str) -> List[float]:
    return [float(getattr(r, key)) for r in runs if r.usable and getattr(r, key) is not None]


def _upsampled_from(runs: Sequence[RunRecord]) -> Optional[int]:
    """The images' native size when a run's input is larger (resolution scaling then adds no real pixels)."""
    sizes = [r.native_size for r in runs if r.input_size and r.native_size and r.input_size > r.native_size]
    return min(sizes) if sizes else None


def curves(data, macs, phis: Sequence[float]) -> Dict[str, List[Dict[str, Any]]]:
    """{strategy: [{phi, name, macs, test, val, loss, selected}]}: B0 at phi = 0; at the search's phi the found family
    is the chosen candidate's own runs (``selected``: the runs it was chosen on) unless it was trained again."""
    out = {}
    search_phi = data['grid']['phi']
    for s in STRATEGIES:
        points = []
        for phi in [0, *phis]:
            name, selected = strategy_member(s, phi), False
            if s == 'compound_found' and phi == search_phi and name not in data['runs']:
                name, selected = data['chosen']['name'], True
            runs = data['runs'].get(name, [])
            if name in macs:
                points.append(dict(phi=phi, name=name, macs=macs[name], test=_usable(runs, 'test_top1'),
                                   val=_usable(runs, 'final_val_top1'), loss=_usable(runs, 'final_val_loss'),
                                   selected=selected, upsampled_from=_upsampled_from(runs)))
        out[s] = points
    return out


def _law(points, held, key: str) -> Dict[str, Any]:
    """One target's law on ``points`` (the fitted phi), its log-linear baseline, and the held-out check of both."""
    values = {p['macs']: _target(p, key) for p in points if _target(p, key)}
    out: Dict[str, Any] = dict(fit=None, baseline=None, why='', held_out=None, baseline_held_out=None)
    try:
        out['fit'] = fit(values)
        out['baseline'] = fit_log_linear(values)
    except ValueError as e:
        out['why'] = str(e)
        return out
    held_values = _target(held, key) if held else []
    if held_values:
        for which in ('fit', 'baseline'):
            try:
                out[f'{"" if which == "fit" else "baseline_"}held_out'] = dict(
                    held_out_check(out[which], held['macs'], held_values), phi=held['phi'])
            except ValueError as e:
                out['why'] = str(e)
    return out


def _target(point, key: str) -> List[float]:
    return [100.0 - t for t in point['test']] if key == 'error' else list(point['loss'])


def strategy_laws(curve_map, fitted_phis: Sequence[float], hold_out_phi: Optional[float]) -> Dict[str, Dict]:
    """{strategy: {'error': law, 'loss': law}} fitted on B0 and ``fitted_phis``, the held-out phi checked."""
    fitted_set = {0.0, *map(float, fitted_phis)}
    out = {}
    for s, points in curve_map.items():
        fitted = [p for p in points if float(p['phi']) in fitted_set]
        held = next((p for p in points if hold_out_phi is not None and p['phi'] == hold_out_phi and p['test']), None)
        out[s] = {key: _law(fitted, held, key) for key in TARGETS}
    return out


def compute_to_target(curve_map, laws, fitted_phis: Sequence[float]) -> Dict[str, Any]:
    """The compute each strategy's error law needs to reach one target error, and its ratio to the found compound's.

    The target is pre-specified as the highest of the strategies' fitted errors at their largest fitted compute, so
    that every strategy reaches it inside its fitted range (none is extrapolated to the target)."""
    top = max(map(float, fitted_phis))
    at_top = {}
    for s, points in curve_map.items():
        law = laws[s]['error']['fit']
        point = next((p for p in points if float(p['phi']) == top), None)
        if law is not None and point is not None:
            at_top[s] = float(law.predict(point['macs']))
    if not at_top:
        return dict(target=None, rows={}, why='no strategy has an error law')
    target = max(at_top.values())
    rows = {s: compute_to_reach(laws[s]['error']['fit'], target) for s in at_top}
    reference = rows.get('compound_found')
    for s, row in rows.items():
        row['vs_found'] = compute_ratio(row, reference) if reference and s != 'compound_found' else None
    return dict(target=target, top_phi=top, rows=rows, why='')


def _point(curve_map, strategy, phi):
    return next((p for p in curve_map[strategy] if p['phi'] == phi and p['test']), None)


def _axis_contrast(curve_map, compound: str, axis: str, budgets, tolerance: float) -> Optional[Contrast]:
    """Mean over the budgets where the axis is matched (measured MACs within the tolerance of the compound member's)
    of compound − axis test top-1; var_factor = sum(1/n_c + 1/n_a) / K², shared_factor = sum(1/n_c) / K². A budget
    whose compound point is the chosen candidate's own runs (``selected``: biased up by the choice) is left out."""
    diffs, var, shared = [], 0.0, 0.0
    for phi in budgets:
        c, a = _point(curve_map, compound, phi), _point(curve_map, axis, phi)
        if c is None or a is None or c['selected'] or abs(a['macs'] / c['macs'] - 1) > tolerance:
            continue
        diffs.append(statistics.fmean(c['test']) - statistics.fmean(a['test']))
        var += 1 / len(c['test']) + 1 / len(a['test'])
        shared += 1 / len(c['test'])
    k = len(diffs)
    return Contrast(axis, statistics.fmean(diffs), var / k ** 2, shared / k ** 2) if k else None


def curve_decisions(data, curve_map, budgets: Sequence[float], margin: float) -> List[Dict[str, Any]]:
    """The one pre-specified curve-level test per compound strategy (found, paper): the contrasts of
    :func:`_axis_contrast` decided by :func:`effscale_timm.decision.decide` with the seed variance pooled over every
    family arm (B0 and each member with its runs), the two compound rows splitting the family-wise level."""
    tolerance = data['grid']['tolerance']
    arms = [p['test'] for points in curve_map.values() for p in points if p['test'] and p['phi'] != 0]
    arms.append(next((p['test'] for p in curve_map['compound_found'] if p['phi'] == 0), []))
    pooled = pooled_sd(arms)
    rows = []
    for compound in ('compound_found', 'compound_paper'):
        contrasts = [c for a in SCALING_AXES if (c := _axis_contrast(curve_map, compound, a, budgets, tolerance))]
        rows.append(dict(compound=compound, contrasts=contrasts, decision=None, reason=''))
    judged = [r for r in rows if r['contrasts']]
    for r in rows:
        if not r['contrasts']:
            r['reason'] = f'no single-axis network within ±{tolerance:.0%} of its compute at any budget'
        elif pooled is None:
            r['reason'] = 'no seed-to-seed variance (fewer than 2 seeds per arm)'
        else:
            r['decision'] = decide(r['contrasts'], pooled, margin, rows=len(judged))
    return rows


def decision_of(rows, compound: str) -> Optional[Decision]:
    return next((r['decision'] for r in rows if r['compound'] == compound), None)


def law_of(laws, strategy: str, key: str = 'error') -> Optional[Fit]:
    return laws[strategy][key]['fit']
