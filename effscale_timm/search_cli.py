"""``effscale search``: the paper's coefficient search as pipeline steps (config ``search:``).

``effscale search grid``    the (alpha, beta, gamma) grid measured at phi = 1, kept within ±5% of 2x B0's MACs
``effscale search match``   one phi: the found and the paper's compound members, and the depth-, width- and
                            resolution-only variants FLOP-matched to the found one (measured MACs)
``effscale search choose``  the candidate with the best mean validation top-1, and its interval against the paper's
                            coefficients (the paper's phi = 1 member, trained with the same seeds)
``effscale search report``  reports/search.md and reports/scaling_law.png (:mod:`effscale_timm.search_report`)

The family members are named here (:func:`member_names`) and their multipliers resolved here (:func:`member_spec`),
so that the workflow and a user by hand agree on them.
"""
from __future__ import annotations

import argparse
import logging
import os
from typing import Any, Dict, List, Sequence

from .atomic import read_json, write_json
from .flops import match_flops
from .scaling import AXES
from .search import candidate_name, choose, family_dropout, filter_by_measured_macs, grid
from .search_family import MAX_MATCH_MULTIPLIER, PAPER, macs_of, member_spec, strategy_member

_logger = logging.getLogger(__name__)



def run_grid(args: argparse.Namespace) -> Dict[str, Any]:
    """The grid measured at phi = 1; raises ValueError naming the grid and the closest candidate if none fits."""
    triples = grid(tuple(args.alpha), tuple(args.beta), tuple(args.gamma))
    try:
        result = filter_by_measured_macs(triples, args.base_resolution, args.num_classes, args.in_chans,
                                         target_ratio=args.target_ratio, tolerance=args.tolerance)
    except ValueError as e:
        raise ValueError(f'search.grid (alpha {args.alpha}, beta {args.beta}, gamma {args.gamma}): {e}') from None
    result['grid'] = {'alpha': args.alpha, 'beta': args.beta, 'gamma': args.gamma}
    result['candidates'] = [r['name'] for r in result['kept']]
    write_json(args.out, result)
    _logger.info('%d of %d grid triples within ±%.0f%% of %gx B0 (%d distinct networks): %s',
                 result['n_within_tolerance'], result['n_candidates'], 100 * args.tolerance, args.target_ratio,
                 len(result['candidates']), ', '.join(result['candidates']))
    return result


def _match(axis, target, args):
    """match_flops within the tolerance. One axis alone is coarse at small bases (depth adds whole blocks, pixels
    move in steps of 4 and feature maps jump at multiples of 32), so when no network lands within it, the closest
    within 2x, 3x, then 5x the tolerance is taken and says so (the fits use the measured MACs); beyond, an error."""
    kwargs = dict(input_size=args.base_resolution, num_classes=args.num_classes, in_chans=args.in_chans,
                  max_multiplier=MAX_MATCH_MULTIPLIER)
    for factor in (1, 2, 3, 5):
        try:
            m = match_flops(axis, target, tolerance=factor * args.tolerance, **kwargs)
        except ValueError as e:
            error = e
            continue
        return m, ('' if factor == 1 else f'; no {axis} within ±{args.tolerance:.0%} at this base, the closest taken')
    raise ValueError(f'search: phi={args.phi}: {error}') from None


def run_match(args: argparse.Namespace) -> Dict[str, Any]:
    """One phi: the found member (the target), the paper's member, and one variant per axis whose measured MACs
    match the found member's (±tolerance, :func:`_match`)."""
    phi, shape = args.phi, (args.base_resolution, args.num_classes, args.in_chans)
    members = {}
    for strategy in ('compound_found', 'compound_paper'):
        name = strategy_member(strategy, phi)
        spec = member_spec(name, chosen=args.chosen)
        members[name] = dict(spec, macs=macs_of(spec, *shape), strategy=strategy, phi=phi)
    found = strategy_member('compound_found', phi)
    target = members[found]['macs']
    for axis in AXES:
        m, note = _match(axis, target, args)
        members[strategy_member(axis, phi)] = dict(
            depth=m.depth, width=m.width, resolution=m.resolution, dropout=family_dropout(phi), macs=m.macs,
            strategy=axis, phi=phi, note=f'{axis} only, FLOP-matched to {found} ({m.rel_error:+.1%}{note})')
    out = dict(phi=phi, base_resolution=args.base_resolution, target=found, target_macs=target, members=members)
    write_json(args.out, out)
    return out


def _finals(paths: Sequence[os.PathLike]) -> Dict[str, List[Dict[str, Any]]]:
    by_name: Dict[str, List[Dict[str, Any]]] = {}
    for p in paths:
        final = read_json(p)
        by_name.setdefault(final['variant'], []).append(final)
    return by_name


def _vs_paper(chosen_runs, paper_runs) -> Dict[str, Any]:
    """Chosen minus the paper's phi = 1 member: Welch intervals over seeds on validation and on test top-1."""
    from .stats import welch_interval

    out = {}
    for key in ('final_val_top1', 'test_top1'):
        a = [r[key] for r in chosen_runs if r.get('status') == 'ok' and r.get(key) is not None]
        b = [r[key] for r in paper_runs if r.get('status') == 'ok' and r.get(key) is not None]
        d = welch_interval(a, b)
        out[key] = dict(chosen_mean=sum(a) / len(a) if a else None, paper_mean=sum(b) / len(b) if b else None,
                        n_chosen=len(a), n_paper=len(b), delta=None if d is None else d.delta,
                        low=None if d is None else d.low, high=None if d is None else d.high,
                        why_none=None if d is not None else 'fewer than 2 seeds on a side, or no spread')
    return out


def run_choose(args: argparse.Namespace) -> Dict[str, Any]:
    """The candidate chosen on validation (:func:`effscale_timm.search.choose`), compared with the paper's."""
    candidates = set(read_json(args.grid)['candidates'])
    runs = _finals(args.runs)
    unknown = sorted(set(runs) - candidates)
    if unknown:
        raise ValueError(f'search choose: runs of {unknown} are not candidates of {args.grid}')
    chosen = choose(runs)
    paper_runs = [r for p in args.paper_runs for r in [read_json(p)]]
    chosen['paper'] = dict(zip(('alpha', 'beta', 'gamma'), PAPER), name=candidate_name(*PAPER),
                           member=strategy_member('compound_paper', 1))
    chosen['vs_paper'] = _vs_paper(runs[chosen['name']], paper_runs)
    chosen['paper_is_chosen'] = tuple(chosen[k] for k in ('alpha', 'beta', 'gamma')) == PAPER
    write_json(args.out, chosen)
    _logger.info('chosen on validation: %s (alpha=%g, beta=%g, gamma=%g), mean val top-1 %.2f over %d seeds',
                 chosen['name'], chosen['alpha'], chosen['beta'], chosen['gamma'], chosen['mean'], chosen['n'])
    return chosen


def _add_shape(p: argparse.ArgumentParser) -> None:
    p.add_argument('--base-resolution', type=int, required=True, help='input px at resolution 1 (the study base)')
    p.add_argument('--num-classes', type=int, required=True)
    p.add_argument('--in-chans', type=int, required=True)
    p.add_argument('--tolerance', type=float, default=0.05, help='allowed relative MACs error (default 0.05)')
    p.add_argument('--out', required=True, help='the JSON file to write (atomically)')


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    sub = parser.add_subparsers(dest='search_step', metavar='STEP', required=True)
    g = sub.add_parser('grid', help='measure the (alpha, beta, gamma) grid at phi = 1 and keep ~2x B0')
    for axis, default in (('alpha', (1.0, 1.4, 0.05)), ('beta', (1.0, 1.3, 0.05)), ('gamma', (1.0, 1.3, 0.05))):
        g.add_argument(f'--{axis}', type=float, nargs=3, default=list(default), metavar=('LOW', 'HIGH', 'STEP'))
    g.add_argument('--target-ratio', type=float, default=2.0, help="candidates' MACs / B0's (default 2)")
    _add_shape(g)
    m = sub.add_parser('match', help='one phi of the found family, the paper\'s member, and single-axis variants '
                                     'FLOP-matched to the found one')
    m.add_argument('--phi', type=int, required=True)
    m.add_argument('--chosen', required=True, help='the choose output (the found coefficients)')
    _add_shape(m)
    c = sub.add_parser('choose', help='choose the candidate on validation; its interval against the paper')
    c.add_argument('--grid', required=True, help='the grid JSON (its candidates)')
    c.add_argument('--runs', nargs='+', required=True, help="final.json of every candidate's seeds")
    c.add_argument('--paper-runs', nargs='*', default=[], help="final.json of the paper's phi = 1 member")
    c.add_argument('--out', required=True)
    from .search_report import add_report_arguments
    add_report_arguments(sub.add_parser('report', help='reports/search.md and reports/scaling_law.png'))
    return parser


def run_cli(args: argparse.Namespace) -> Dict[str, Any]:
    if args.search_step == 'report':
        from .search_report import run_report
        return run_report(args)
    return {'grid': run_grid, 'match': run_match, 'choose': run_choose}[args.search_step](args)
