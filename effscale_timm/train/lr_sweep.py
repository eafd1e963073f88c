"""A learning rate per variant, chosen on validation: the outcome of the config's ``lr_sweep``.

The workflow trains each variant briefly at each rate (``lr_sweep.rates``; by default :func:`default_rates`, about
√2 apart around the recipe's own rate) with each sweep seed (``lr_sweep.seeds``, at least 2) for ``lr_sweep.epochs``
epochs (at least a third of the study's, so that a slow starter is not ruled out by a short run), then
:func:`choose_lr` picks the rate with the highest mean final validation top-1 over those seeds (ties: the smaller
rate; failed, diverged runs never count). A choice at the lowest or highest rate of the grid is flagged: the best
rate may lie outside it. The real runs read the choice with ``effscale train --lr-from chosen.json``. The test split is
never looked at.

``effscale choose-lr --runs A/final.json B/final.json ... --out chosen.json``
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import statistics
from typing import Any, Dict, List, Sequence

from ..atomic import write_json
from ..files.damage import damaged, read_json_object
from ..files.run_record import FINAL, RunRecord, read_run
from .recipes import get_recipe

_logger = logging.getLogger(__name__)

RULE = ('the highest mean final validation top-1 over the sweep\'s seeds (ties: the smaller rate; failed runs '
        'excluded; the test split is never read)')
RATE_STEP = math.sqrt(2)  # the default grid's ratio between neighbouring rates
DEFAULT_STEPS = 2  # the default grid: the recipe's rate and this many steps of RATE_STEP below and above it


def default_rates(recipe: str, batch_size: int) -> List[float]:
    """The recipe's rate at this batch (``lr_per_256 x batch / 256``) and 2 rates √2 apart on either side of it."""
    centre = get_recipe(recipe).lr_per_256 * batch_size / 256
    return [float(f'{centre * RATE_STEP ** k:.4g}') for k in range(-DEFAULT_STEPS, DEFAULT_STEPS + 1)]


def _rate_summaries(finals: Sequence[RunRecord]) -> List[Dict[str, Any]]:
    """Per rate (ascending): its usable seeds' mean final validation top-1, their number and the failed seeds."""
    out = []
    for lr in sorted({f.lr for f in finals}):
        runs = [f for f in finals if f.lr == lr]
        values = [f.final_val_top1 for f in runs if f.usable]
        out.append({'lr': lr, 'mean': statistics.fmean(values) if values else None, 'n': len(values),
                    'values': values, 'failed_seeds': sorted(f.seed for f in runs if not f.usable)})
    return out


def choose_lr(finals: Sequence[RunRecord]) -> Dict[str, Any]:
    """The chosen rate, every rate's validation summary, and whether the choice sits at the edge of the grid.

    Raises:
        ValueError: no runs, runs of different variants, or every run failed.
    """
    if not finals:
        raise ValueError('choose-lr needs the run record of at least one sweep run')
    variants = sorted({f.variant for f in finals})
    if len(variants) != 1:
        raise ValueError(f'the sweep runs are of several variants {variants}; choose a rate per variant')
    rates = _rate_summaries(finals)
    ok = [r for r in rates if r['n']]
    if not ok:
        raise ValueError(f'every sweep run of {variants[0]} failed (rates {[r["lr"] for r in rates]}); '
                         f'give lower rates in lr_sweep.rates')
    best = max(ok, key=lambda r: (r['mean'], -r['lr']))
    edge = None
    if len(rates) > 1 and best['lr'] == rates[0]['lr']:
        edge = 'at the lowest rate of the grid: a lower rate may be better'
    elif len(rates) > 1 and best['lr'] == rates[-1]['lr']:
        edge = 'at the highest rate of the grid: a higher rate may be better'
    return {'variant': variants[0], 'lr': best['lr'], 'rule': RULE, 'rates': rates, 'edge': edge,
            'epochs': finals[0].epochs, 'seeds': sorted({f.seed for f in finals})}


def read_choice(path: os.PathLike) -> Dict[str, Any]:
    """A :func:`choose_lr` file.

    Raises:
        DamagedFileError: the file is missing, empty, not JSON, or not a learning-rate choice.
    """
    choice = read_json_object(path, 'learning-rate choice', ('variant', 'lr', 'rates', 'rule'))
    if isinstance(choice['lr'], bool) or not isinstance(choice['lr'], (int, float)) or not choice['lr'] > 0:
        raise damaged(path, f'not a learning-rate choice (lr {choice["lr"]!r})')
    return choice


def read_lr(path: os.PathLike) -> float:
    """The rate a :func:`choose_lr` file holds."""
    return float(read_choice(path)['lr'])


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument('--runs', nargs='+', required=True,
                        help=f'the run record ({FINAL}) of each sweep run (every rate and seed) of one variant')
    parser.add_argument('--out', required=True, help='the JSON file to write (atomically)')
    return parser


def run_cli(args: argparse.Namespace) -> Dict[str, Any]:
    chosen = choose_lr([read_run(p) for p in args.runs])
    write_json(args.out, chosen)
    _logger.info('%s: learning rate %g chosen on validation from %s%s', chosen['variant'], chosen['lr'],
                 ', '.join(f'{r["lr"]:g}: {r["mean"]} (n={r["n"]})' for r in chosen['rates']),
                 f'; {chosen["edge"]}' if chosen['edge'] else '')
    return chosen
