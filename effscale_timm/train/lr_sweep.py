"""A learning rate per variant, chosen on validation: the outcome of the config's ``lr_sweep``.

The workflow trains each variant briefly at each rate of ``lr_sweep.rates`` (``lr_sweep.epochs`` epochs, one seed),
then :func:`choose_lr` picks the rate whose run ends with the highest validation top-1 (ties: the smaller rate;
failed, diverged runs never win). The real runs read the choice with ``effscale train --lr-from chosen.json``. The test
split is never looked at.

``effscale choose-lr --runs A/final.json B/final.json ... --out chosen.json``
"""
from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any, Dict, Sequence

from ..atomic import write_json
from ..files.run_record import FINAL, RunRecord, read_run

_logger = logging.getLogger(__name__)

RULE = 'the highest final validation top-1 of the short runs (ties: the smaller rate; failed runs excluded)'


def choose_lr(finals: Sequence[RunRecord]) -> Dict[str, Any]:
    """The chosen rate and every candidate, from the run record of each short run.

    Raises:
        ValueError: no runs, runs of different variants, or every run failed.
    """
    if not finals:
        raise ValueError('choose-lr needs the run record of at least one sweep run')
    variants = sorted({f.variant for f in finals})
    if len(variants) != 1:
        raise ValueError(f'the sweep runs are of several variants {variants}; choose a rate per variant')
    ordered = sorted(finals, key=lambda f: f.lr)
    candidates = [{'lr': f.lr, 'final_val_top1': f.final_val_top1, 'status': f.status} for f in ordered]
    ok = [c for c, f in zip(candidates, ordered) if f.usable]
    if not ok:
        raise ValueError(f'every sweep run of {variants[0]} failed (rates {[c["lr"] for c in candidates]}); '
                         f'give lower rates in lr_sweep.rates')
    best = max(ok, key=lambda c: (c['final_val_top1'], -c['lr']))
    return {'variant': variants[0], 'lr': best['lr'], 'rule': RULE, 'candidates': candidates,
            'epochs': finals[0].epochs}


def read_lr(path: os.PathLike) -> float:
    """The rate a :func:`choose_lr` file holds."""
    try:
        return float(json.loads(Path(path).read_text())['lr'])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f'{path}: not a chosen learning rate file ({e}); run `effscale choose-lr` again') from e


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument('--runs', nargs='+', required=True, help=f'the run record ({FINAL}) of each sweep run of one variant')
    parser.add_argument('--out', required=True, help='the JSON file to write (atomically)')
    return parser


def run_cli(args: argparse.Namespace) -> Dict[str, Any]:
    chosen = choose_lr([read_run(p) for p in args.runs])
    write_json(args.out, chosen)
    _logger.info('%s: learning rate %g chosen on validation from %s', chosen['variant'], chosen['lr'],
                 ', '.join(f'{c["lr"]:g}: {c["final_val_top1"]}' for c in chosen['candidates']))
    return chosen
