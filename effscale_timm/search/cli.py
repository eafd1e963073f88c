"""``effscale search``: the command line of the search's and the design-space study's steps (config ``search:`` and
``design_space:``); argparse stays here, the steps take typed arguments (:mod:`effscale_timm.search.steps`,
:mod:`effscale_timm.search.design_space`, the reports).

``effscale search grid``           the (alpha, beta, gamma) grid measured at phi, kept within ±5% of 2**phi x B0's MACs
``effscale search halve``          successive halving's first round: the compound candidates that go on
``effscale search match``          one phi: the found and the paper's members, single-axis variants FLOP-matched to it
``effscale search choose``         the compound candidate with the best mean validation top-1, P(best), tie or clear
``effscale search report``         reports/search.md and reports/scaling_law.png
``effscale search design-sample``  the design-space study's (depth, width, resolution) samples at one compute regime
``effscale search design-report``  reports/design_space.md and reports/design_space.png
"""
from __future__ import annotations

import argparse
from typing import Any, Dict

from ..backbones import BACKBONES, DEFAULT_BACKBONE
from ..decision import EQUIVALENCE_MARGIN
from ..scaling import FLOP_TOLERANCE
from .family import phi_from_code
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
    p.add_argument('--fractional-phis', type=float, nargs='*', default=[], help='fitted too, one seed each')
    p.add_argument('--hold-out-phi', type=float, default=None, help='predicted from the fitted phi, then measured')
    p.add_argument('--halving', default=None, help='the halve output, when the search ran successive halving')
    p.add_argument('--margin', type=float, default=EQUIVALENCE_MARGIN, help='equivalence margin, points')
    p.add_argument('--out-dir', required=True)


def _add_design(sub) -> None:
    s = sub.add_parser('design-sample', help='sample (depth, width, resolution) at one compute regime')
    s.add_argument('--regime', type=float, required=True, help="the samples' MACs as a multiple of B0's (> 1)")
    s.add_argument('--samples', type=int, required=True)
    s.add_argument('--seed', type=int, default=0)
    s.add_argument('--backbone', choices=sorted(BACKBONES), default=DEFAULT_BACKBONE,
                   help=f'the network sampled, scaled from its base (default {DEFAULT_BACKBONE})')
    _add_shape(s)
    r = sub.add_parser('design-report', help='reports/design_space.md and reports/design_space.png')
    r.add_argument('--samples', required=True, help='the design-sample output')
    r.add_argument('--runs', nargs='+', required=True, help='the run record of every sample')
    r.add_argument('--out-dir', required=True)


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    sub = parser.add_subparsers(dest='search_step', metavar='STEP', required=True)
    g = sub.add_parser('grid', help='measure the (alpha, beta, gamma) grid at phi and keep ~2**phi x B0')
    for axis, default in DEFAULT_GRID.items():
        g.add_argument(f'--{axis}', type=float, nargs=3, default=list(default), metavar=('LOW', 'HIGH', 'STEP'))
    g.add_argument('--phi', type=phi_from_code, default=1.0, help='the phi candidates are built at (default 1)')
    _add_shape(g)
    h = sub.add_parser('halve', help="successive halving's first round on the compound candidates' short runs")
    h.add_argument('--grid', required=True)
    h.add_argument('--runs', nargs='+', required=True, help="the short runs' records")
    h.add_argument('--keep-fraction', type=float, default=0.5)
    h.add_argument('--out', required=True)
    m = sub.add_parser('match', help='one phi of the found family, the paper\'s member, and single-axis variants '
                                     'FLOP-matched to the found one')
    m.add_argument('--phi', type=phi_from_code, required=True, help='2, 1.5 or 1p5')
    m.add_argument('--chosen', required=True, help='the choose output (the found coefficients)')
    _add_shape(m)
    c = sub.add_parser('choose', help='choose the compound candidate on validation, with P(best)')
    c.add_argument('--grid', required=True, help='the grid JSON (its candidates)')
    c.add_argument('--runs', nargs='+', required=True, help="the run record of every candidate's seeds")
    c.add_argument('--out', required=True)
    _add_report(sub.add_parser('report', help='reports/search.md and reports/scaling_law.png'))
    _add_design(sub)
    return parser


def _run_design(args) -> Dict[str, Any]:
    if args.search_step == 'design-report':
        from .design_report import build_design_report
        return {'report': build_design_report(args.samples, args.runs, args.out_dir)}
    from .design_space import sample_design_space
    from .steps import StudyShape
    shape = StudyShape(args.base_resolution, args.num_classes, args.in_chans, args.backbone)
    return sample_design_space(args.regime, args.samples, shape, args.out, seed=args.seed, tolerance=args.tolerance)


def run_cli(args: argparse.Namespace) -> Dict[str, Any]:
    if args.search_step.startswith('design-'):
        return _run_design(args)
    from . import steps
    if args.search_step == 'report':
        from .report import build_search_report
        return {'report': build_search_report(args.grid, args.chosen, args.match, args.runs, args.phis,
                                              args.hold_out_phi, args.out_dir, args.fractional_phis, args.margin,
                                              args.halving)}
    if args.search_step == 'choose':
        return steps.choose_candidate(args.grid, args.runs, args.out)
    if args.search_step == 'halve':
        return steps.halve(args.grid, args.runs, args.keep_fraction, args.out)
    shape = steps.StudyShape(args.base_resolution, args.num_classes, args.in_chans)
    if args.search_step == 'grid':
        return steps.measure_grid(args.alpha, args.beta, args.gamma, shape, args.out, args.phi, args.tolerance)
    return steps.match_phi(args.phi, args.chosen, shape, args.out, args.tolerance)
