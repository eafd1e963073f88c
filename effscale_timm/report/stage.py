"""``effscale report``: the study's report: Table 1 (accuracy with its interval, compute in three currencies), the
network as built, the comparisons at matched compute with their statistics, the verdict whose words follow from a
pre-specified rule, the budget check, the learning rates chosen, reference numbers as compute ratios, the figures.

Paper: `EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks` - https://arxiv.org/abs/1905.11946
(Tan & Le, 2019). Table 7 compares B0 scaled by depth, width, resolution and by all three (compound) at ~1.8B
multiply-adds on ImageNet; Figure 8 plots accuracy against FLOPS per scaling method; Figure 7 shows class
activation maps. The seed study's Table 1 repeated the comparison on CIFAR-10 (its FLOPs are 2 x multiply-adds).

:func:`build_report` reads the runs' records (:mod:`effscale_timm.files.run_record`) with the metrics and
predictions files beside each, the variants' profile JSONs and the CAM files, and writes ``table1.md``,
``accuracy_vs_flops.png`` and ``cams.png``, the tidy tables ``runs.csv`` and ``epochs.csv``
(:mod:`~effscale_timm.report.tidy`) and ``training_curves.png`` (:mod:`~effscale_timm.report.curves`). The rules,
each stated in the report itself:

- Comparisons and words: :mod:`effscale_timm.decision` (every compound row against every single-axis row at its
  compute; pooled seed variance; intersection-union "better", Holm "worse", TOST "equivalent", else
  "inconclusive" with the rule's simulated MDE); rows whose compute is not matched are described only.
- A verdict resting on upsampled pixels is withheld (:func:`effscale_timm.report.compare.rests_on_upsampling`).
- References: a reference row sits beside the variant with its multipliers only; compute is compared as a ratio to
  each study's own B0.

This module assembles the parts: :mod:`~effscale_timm.report.runs` (runs to rows), :mod:`~effscale_timm.report.compare`
(comparisons, references), :mod:`~effscale_timm.report.tables` and :mod:`~effscale_timm.report.markdown` (tables
and words) and :mod:`~effscale_timm.report.figures` (Figures 7 and 8).
"""
from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..atomic import write_atomic
from ..decision import EQUIVALENCE_MARGIN, pooled_sd
from ..files.profile_file import read_profile
from ..files.run_record import FINAL, read_study_run
from ..train.lr_sweep import read_choice
from .compare import attach_references, compare
from .curves import plot_training_curves
from .figures import cam_grid, plot_accuracy_vs_flops, read_cam_files
from .markdown import (budget_markdown, comparison_markdown, failures_markdown, hardware_markdown, lr_markdown,
                       noise_sentence, references_markdown, smoke_markdown, time_sentence, verdict)
from .runs import load_runs, summarize
from .tables import geometry_table, geometry_warnings, legend_markdown, results_table
from .tidy import write_run_tables

__all__ = ['build_report', 'parse_expected', 'add_arguments', 'run_cli']


def budget_results(paths: Sequence[os.PathLike]) -> Dict[str, List[float]]:
    """variant -> test top-1 of its usable runs at the budget check's epochs."""
    out: Dict[str, List[float]] = {}
    for path in paths:
        run = read_study_run(path)
        if run.usable:
            out.setdefault(run.variant, []).append(float(run.test_top1))
    return out


def build_report(run_jsons: Sequence[os.PathLike], profile_jsons: Sequence[os.PathLike],
                 cam_npzs: Sequence[os.PathLike], out_dir: os.PathLike,
                 expected_runs: Optional[Sequence[Tuple[str, int]]] = None, margin: float = EQUIVALENCE_MARGIN,
                 budget_jsons: Sequence[os.PathLike] = (), budget_factor: Optional[int] = None,
                 lr_choices: Sequence[os.PathLike] = ()) -> Dict[str, Any]:
    """Write ``table1.md``, ``accuracy_vs_flops.png``, ``cams.png`` (when CAM files are given),
    ``training_curves.png``, ``runs.csv`` and ``epochs.csv`` to ``out_dir``.

    Args:
        run_jsons: the runs' record paths (their metrics and predictions files are read from the same folder); a
            path that does not exist is a missing run.
        profile_jsons: the variants' profile JSONs (:func:`effscale_timm.profile.profile_variant`), in the order
            the table lists them.
        cam_npzs: CAM files (:func:`effscale_timm.files.cam_file.save_cam`), one grid column each; may be empty.
        out_dir: output folder (created).
        expected_runs: (variant, seed) pairs the study should have; those without a file are missing.
        margin: the equivalence margin in points (config ``equivalence_margin``).
        budget_jsons, budget_factor: the budget check's run records and its factor on the epochs.
        lr_choices: the learning-rate sweep's choice files (``effscale choose-lr``).

    Returns:
        ``{'rows', 'comparisons', 'verdict', 'table_md', 'figure', 'cams', 'curves', 'runs_csv', 'epochs_csv'}``
        (cams is None when skipped).
    """
    out_dir = Path(out_dir)
    runs = load_runs(run_jsons, expected_runs)  # every input is read before anything is written
    profiles = [read_profile(p) for p in profile_jsons]
    choices = [read_choice(p) for p in lr_choices]
    if cam_npzs:
        read_cam_files(cam_npzs)
    rows = summarize(runs, profiles)
    unmatched = attach_references(rows)
    comparisons = compare(rows, margin, budget_results(budget_jsons), budget_factor)
    dataset = next((r.dataset for r in runs if r.dataset), None) or 'unknown dataset'
    tidy = tidy_outputs(runs, profiles, out_dir, dataset)
    figure = plot_accuracy_vs_flops(rows, out_dir / 'accuracy_vs_flops.png',
                                    f'{dataset}: accuracy vs compute by scaling axis (Tan & Le, Figure 8)')
    cams = cam_grid(cam_npzs, out_dir / 'cams.png') if cam_npzs else None
    text = verdict(rows, comparisons)
    md = '\n'.join([
        f'# Scaling study: {dataset}', '', smoke_markdown(rows, runs),
        '## Table 1: accuracy and compute per variant', '',
        results_table(rows, pooled_sd([r['top1'] for r in rows if r['n_ok']])), '### The networks as built', '',
        geometry_table(rows), legend_markdown(), '\n\n'.join(geometry_warnings(rows)) + '\n',
        failures_markdown(rows), hardware_markdown(runs),
        '## Comparisons at matched compute', '',
        comparison_markdown(comparisons) if comparisons else 'No compound row to compare.\n',
        noise_sentence(rows, runs, comparisons), time_sentence(comparisons),
        '## Verdict', '', text, _section('Budget check', budget_markdown(comparisons)),
        _section('Learning rates chosen on validation', lr_markdown(choices)),
        '## Reference studies', '', references_markdown(rows, unmatched),
        '## Figures', '', '![Test top-1 against compute in three currencies](accuracy_vs_flops.png)', '',
        '![Grad-CAM of the predicted class per variant](cams.png)\n' if cams else
        'Grad-CAM grid skipped: no CAM files were given.\n', TIDY_MARKDOWN,
    ])
    table_md = write_atomic(out_dir / 'table1.md', re.sub(r'\n{3,}', '\n\n', md).encode())
    return {'rows': rows, 'comparisons': comparisons, 'verdict': text, 'table_md': table_md, 'figure': figure,
            'cams': cams, **tidy}


TIDY_MARKDOWN = ('![Validation top-1 and training loss per epoch](training_curves.png)\n\n'
                 'Every run, unrounded, failed and missing runs included: `runs.csv` (one row per variant and seed) '
                 'and `epochs.csv` (one row per epoch of every run), for `pandas.read_csv`.\n')


def tidy_outputs(runs, profiles, out_dir: Path, dataset: str) -> Dict[str, Path]:
    """``runs.csv``, ``epochs.csv`` (:mod:`~effscale_timm.report.tidy`) and ``training_curves.png``
    (:mod:`~effscale_timm.report.curves`) in ``out_dir``."""
    _, epochs = write_run_tables(runs, out_dir / 'runs.csv', out_dir / 'epochs.csv', profiles)
    curves = plot_training_curves(epochs, out_dir / 'training_curves.png',
                                  f'{dataset}: training curves (mean over seeds; band: min–max)')
    return {'runs_csv': out_dir / 'runs.csv', 'epochs_csv': out_dir / 'epochs.csv', 'curves': curves}


def _section(title: str, body: str) -> str:
    return f'## {title}\n\n{body}' if body else ''


def parse_expected(items: Optional[Sequence[str]]) -> Optional[List[Tuple[str, int]]]:
    """``['effscale_b0:0', ...]`` -> ``[('effscale_b0', 0), ...]``; None stays None."""
    if items is None:
        return None
    pairs = []
    for item in items:
        variant, sep, seed = item.rpartition(':')
        if not sep or not variant or not seed.isdigit():
            raise ValueError(f'--expected takes variant:seed, got {item!r}')
        pairs.append((variant, int(seed)))
    return pairs


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of ``effscale report``."""
    parser.add_argument('--runs', nargs='*', default=[], help=f'the runs\' records ({FINAL})')
    parser.add_argument('--profiles', nargs='*', default=[], help='profile JSONs, in table order')
    parser.add_argument('--cams', nargs='*', default=[], help='CAM files (.npz), one grid column each')
    parser.add_argument('--out-dir', required=True, help='folder for table1.md, accuracy_vs_flops.png, cams.png, '
                        'training_curves.png, runs.csv and epochs.csv')
    parser.add_argument('--expected', nargs='*', default=None, metavar='VARIANT:SEED',
                        help=f'runs the study should have; those without a {FINAL} are reported missing')
    parser.add_argument('--equivalence-margin', type=float, default=EQUIVALENCE_MARGIN,
                        help=f'points within which compound counts as equivalent (default {EQUIVALENCE_MARGIN})')
    parser.add_argument('--budget-runs', nargs='*', default=[], help=f'the budget check\'s run records ({FINAL})')
    parser.add_argument('--budget-factor', type=int, default=None, help='the budget check\'s factor on the epochs')
    parser.add_argument('--lr-choices', nargs='*', default=[], help='the learning-rate sweep\'s choice files')
    return parser


def run_cli(args: argparse.Namespace) -> Dict[str, Any]:
    """Run ``effscale report``."""
    if args.equivalence_margin < 0:
        raise ValueError(f'--equivalence-margin must be >= 0 points, got {args.equivalence_margin}')
    return build_report(args.runs, args.profiles, args.cams, args.out_dir, parse_expected(args.expected),
                        args.equivalence_margin, args.budget_runs, args.budget_factor, args.lr_choices)
