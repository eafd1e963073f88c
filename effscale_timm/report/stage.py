"""The study's report: accuracy vs compute per scaling axis, the network as built, convergence, the comparisons with
their statistics, reference numbers as compute ratios, and a verdict whose words follow from the intervals.

Paper: `EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks` - https://arxiv.org/abs/1905.11946
(Tan & Le, 2019). Table 7 compares B0 scaled by depth, width, resolution and by all three (compound) at ~1.8B
multiply-adds on ImageNet; Figure 8 plots accuracy against FLOPS per scaling method; Figure 7 shows class
activation maps. The seed study's Table 1 repeated the comparison on CIFAR-10 (its FLOPs are 2 x multiply-adds).

:func:`build_report` reads the runs' records (:mod:`effscale_timm.files.run_record`) with the metrics and
predictions files beside each, the variants' profile JSONs and the CAM files, and writes ``table1.md``, ``accuracy_vs_flops.png`` and
``cams.png``. The rules, each stated in the report itself:

- Comparator: each compound row is compared with the single-axis row of highest mean *validation* top-1 (never
  test), among those at its compute within ±:data:`COMPUTE_TOLERANCE` when there are any, else among all.
- Statistics (:mod:`effscale_timm.stats`): Δ test top-1 with Welch's 95% interval over seeds and a paired bootstrap
  95% interval over test images and seeds; Welch p-values Holm-adjusted over all comparisons in the report; the
  minimum detectable effect at the seeds' n. "Compound better/worse" only when the Welch interval excludes 0, the
  Holm-adjusted p is below :data:`~effscale_timm.report.compare.SIGNIFICANCE` and the bootstrap interval (when there
  is one) excludes 0 on the same side.
- Convergence: a run is not converged when the best validation top-1 of its last :data:`CONVERGENCE_WINDOW` epochs
  exceeds the best of all earlier epochs by more than :data:`CONVERGENCE_MARGIN` points.
- References: a reference row sits beside the variant with its multipliers only; compute is compared as a ratio to
  each study's own B0.

This module is the ``effscale report`` stage and assembles the parts: :mod:`~effscale_timm.report.runs` (runs to rows,
convergence), :mod:`~effscale_timm.report.compare` (comparator, statistics, references),
:mod:`~effscale_timm.report.markdown` (the words and tables) and :mod:`~effscale_timm.report.figures` (Figures 7
and 8).
"""
from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..atomic import write_atomic
from ..files.run_record import FINAL
from .compare import BOOTSTRAP_RESAMPLES, attach_references, compare
from .figures import cam_grid, plot_accuracy_vs_flops
from .markdown import (comparison_markdown, failures_markdown, geometry_warnings, hardware_markdown, legend_markdown,
                       noise_sentence, references_markdown, smoke_markdown, table_markdown, verdict)
from .runs import load_runs, summarize

__all__ = ['build_report', 'parse_expected', 'add_arguments', 'run_cli']


def build_report(run_jsons: Sequence[os.PathLike], profile_jsons: Sequence[os.PathLike],
                 cam_npzs: Sequence[os.PathLike], out_dir: os.PathLike,
                 expected_runs: Optional[Sequence[Tuple[str, int]]] = None,
                 n_resamples: int = BOOTSTRAP_RESAMPLES) -> Dict[str, Any]:
    """Write ``table1.md``, ``accuracy_vs_flops.png`` and ``cams.png`` (when CAM files are given) to ``out_dir``.

    Args:
        run_jsons: the runs' record paths (their metrics and predictions files are read from the same folder); a
            path that does not exist is a missing run.
        profile_jsons: the variants' profile JSONs (:func:`effscale_timm.profile.profile_variant`), in the order
            the table lists them.
        cam_npzs: CAM files (:func:`effscale_timm.files.cam_file.save_cam`), one grid column each; may be empty.
        out_dir: output folder (created).
        expected_runs: (variant, seed) pairs the study should have; those without a file are missing.
        n_resamples: paired-bootstrap resamples per comparison.

    Returns:
        ``{'rows', 'comparisons', 'verdict', 'table_md', 'figure', 'cams'}`` (cams is None when skipped).
    """
    out_dir = Path(out_dir)
    runs = load_runs(run_jsons, expected_runs)
    rows = summarize(runs, [json.loads(Path(p).read_text()) for p in profile_jsons])
    unmatched = attach_references(rows)
    comparisons = compare(rows, n_resamples)
    dataset = next((r.dataset for r in runs if r.dataset), None) or 'unknown dataset'
    figure = plot_accuracy_vs_flops(rows, out_dir / 'accuracy_vs_flops.png',
                                    f'{dataset}: accuracy vs compute by scaling axis (Tan & Le, Figure 8)')
    cams = None
    if cam_npzs:
        cams = cam_grid(cam_npzs, out_dir / 'cams.png')
        cam_md = '![Grad-CAM of the predicted class per variant](cams.png)\n'
    else:
        cam_md = 'Grad-CAM grid skipped: no CAM files were given.\n'
    text = verdict(rows, comparisons)
    md = '\n'.join([
        f'# Scaling study: {dataset}', '', smoke_markdown(rows, runs),
        '## Table 1: accuracy and compute per variant', '', table_markdown(rows), legend_markdown(),
        '\n\n'.join(geometry_warnings(rows)) + '\n', failures_markdown(rows), hardware_markdown(runs),
        '## Comparisons', '', comparison_markdown(comparisons) if comparisons else 'No compound row to compare.\n',
        noise_sentence(rows, runs),
        '## Verdict', '', text,
        '## Reference studies', '', references_markdown(rows, unmatched),
        '## Figures', '', '![Test top-1 vs GMACs per scaling axis](accuracy_vs_flops.png)', '', cam_md,
    ])
    table_md = write_atomic(out_dir / 'table1.md', re.sub(r'\n{3,}', '\n\n', md).encode())
    return {'rows': rows, 'comparisons': comparisons, 'verdict': text, 'table_md': table_md, 'figure': figure,
            'cams': cams}


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
    parser.add_argument('--out-dir', required=True, help='folder for table1.md, accuracy_vs_flops.png, cams.png')
    parser.add_argument('--expected', nargs='*', default=None, metavar='VARIANT:SEED',
                        help=f'runs the study should have; those without a {FINAL} are reported missing')
    parser.add_argument('--bootstrap-resamples', type=int, default=BOOTSTRAP_RESAMPLES,
                        help=f'paired-bootstrap resamples per comparison (default {BOOTSTRAP_RESAMPLES})')
    return parser


def run_cli(args: argparse.Namespace) -> Dict[str, Any]:
    """Run ``effscale report``."""
    return build_report(args.runs, args.profiles, args.cams, args.out_dir, parse_expected(args.expected),
                        n_resamples=args.bootstrap_resamples)
