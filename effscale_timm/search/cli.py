"""``effscale search``: the command line of the search's steps (config ``search:``); argparse stays here, the steps
take typed arguments (:mod:`effscale_timm.search.steps`, :mod:`effscale_timm.search.report`).

``effscale search grid``    the (alpha, beta, gamma) grid measured at phi = 1, kept within ±5% of 2x B0's MACs
``effscale search match``   one phi: the found and the paper's members, and single-axis variants FLOP-matched to it
``effscale search choose``  the candidate with the best mean validation top-1, and its interval against the paper's
``effscale search report``  reports/search.md and reports/scaling_law.png
"""
from __future__ import annotations

import argparse
from typing import Any, Dict

from ..scaling import FLOP_TOLERANCE
from .grid import DEFAULT_GRID


def _add_shape(p: argparse.ArgumentParser) -> None:
    p.add_argument('--base-resolution', type=int, required=True, help='input px at resolution 1 (the study base)')
    p.add_argument('--num-classes', type=int, required=True)
    p.add_argument('--in-chans', type=int, required=True)
    p.add_argument('--tolerance', type=float, default=FLOP_TOLERANCE,
                   help=f'allowed relative MACs error (default {FLOP_TOLERANCE})')
    p.add_argument('--out', required=True, help='the JSON file to write (atomically)')


def _add_report(p: argparse.ArgumentParser) -> None:
    p.add_argument('--grid', required=True)
    p.add_argument('--chosen', required=True)
    p.add_argument('--match', nargs='+', required=True, help='the phi{k}.json of every phi (search match)')
    p.add_argument('--runs', nargs='+', required=True, help='the run record of every candidate and family run')
    p.add_argument('--phis', type=int, required=True, help='K: the family at phi = 1..K is fitted')
    p.add_argument('--hold-out-phi', type=int, default=None, help='predicted from phi <= K, then measured')
    p.add_argument('--out-dir', required=True)


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    sub = parser.add_subparsers(dest='search_step', metavar='STEP', required=True)
    g = sub.add_parser('grid', help='measure the (alpha, beta, gamma) grid at phi = 1 and keep ~2x B0')
    for axis, default in DEFAULT_GRID.items():
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
    c.add_argument('--runs', nargs='+', required=True, help="the run record of every candidate's seeds")
    c.add_argument('--paper-runs', nargs='*', default=[], help="the run records of the paper's phi = 1 member")
    c.add_argument('--out', required=True)
    _add_report(sub.add_parser('report', help='reports/search.md and reports/scaling_law.png'))
    return parser


def run_cli(args: argparse.Namespace) -> Dict[str, Any]:
    from . import steps
    if args.search_step == 'report':
        from .report import build_search_report
        return {'report': build_search_report(args.grid, args.chosen, args.match, args.runs, args.phis,
                                              args.hold_out_phi, args.out_dir)}
    if args.search_step == 'choose':
        return steps.choose_candidate(args.grid, args.runs, args.paper_runs, args.out)
    shape = steps.StudyShape(args.base_resolution, args.num_classes, args.in_chans)
    if args.search_step == 'grid':
        return steps.measure_grid(args.alpha, args.beta, args.gamma, shape, args.out, args.target_ratio,
                                  args.tolerance)
    return steps.match_phi(args.phi, args.chosen, shape, args.out, args.tolerance)
