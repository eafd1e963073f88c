"""The study's report: accuracy vs compute per scaling axis, the network as built, convergence, the comparisons with
their statistics, reference numbers as compute ratios, and a verdict whose words follow from the intervals.

Paper: `EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks` - https://arxiv.org/abs/1905.11946
(Tan & Le, 2019). Table 7 compares B0 scaled by depth, width, resolution and by all three (compound) at ~1.8B
multiply-adds on ImageNet; Figure 8 plots accuracy against FLOPS per scaling method; Figure 7 shows class
activation maps. The seed study's Table 1 repeated the comparison on CIFAR-10 (its FLOPs are 2 x multiply-adds).

:func:`build_report` reads the runs' ``final.json`` files with the ``metrics.csv`` and ``test_predictions.npz``
beside each, the variants' profile JSONs and the CAM files, and writes ``table1.md``, ``accuracy_vs_flops.png`` and
``cams.png``. The rules, each stated in the report itself:

- Comparator: each compound row is compared with the single-axis row of highest mean *validation* top-1 (never
  test), among those at its compute within ±:data:`COMPUTE_TOLERANCE` when there are any, else among all.
- Statistics (:mod:`effscale_timm.stats`): Δ test top-1 with Welch's 95% interval over seeds and a paired bootstrap
  95% interval over test images and seeds; Welch p-values Holm-adjusted over all comparisons in the report; the
  minimum detectable effect at the seeds' n. "Compound better/worse" only when the Welch interval excludes 0, the
  Holm-adjusted p is below :data:`ALPHA` and the bootstrap interval (when there is one) excludes 0 on the same side.
- Convergence: a run is not converged when the best validation top-1 of its last :data:`CONVERGENCE_WINDOW` epochs
  exceeds the best of all earlier epochs by more than :data:`CONVERGENCE_MARGIN` points.
- References: a reference row sits beside the variant with its multipliers only; compute is compared as a ratio to
  each study's own B0.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import re
import statistics
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .atomic import write_atomic
from .reference import COMPARISON_TABLES, compute_key, compute_ratio, matching_row, reference_table
from .scaling import FLOP_TOLERANCE
from .stats import binomial_interval, holm, minimum_detectable_effect, paired_bootstrap, welch_interval

__all__ = ['AXES', 'scaling_axis', 'load_runs', 'read_metrics', 'convergence', 'summarize', 'attach_references',
           'compare', 'verdict', 'table_markdown', 'comparison_markdown', 'geometry_warnings',
           'plot_accuracy_vs_flops', 'build_report', 'parse_expected', 'add_arguments', 'run_cli']

AXES = ('baseline', 'depth', 'width', 'resolution', 'compound')
SINGLE_AXES = ('depth', 'width', 'resolution')
COMPUTE_TOLERANCE = FLOP_TOLERANCE  # compute counts as matched when the GMACs ratio is within 1 +/- this
ALPHA = 0.05  # family-wise level of the Holm-adjusted tests; intervals are (1 - ALPHA) = 95%
POWER = 0.8  # power of the minimum detectable effect
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0  # fixed: the same inputs give the same report
CONVERGENCE_WINDOW = 3  # epochs at the end of a run whose best validation top-1 is compared with all earlier ones
CONVERGENCE_MARGIN = 0.5  # percentage points
MIN_FEATURE_MAP = 2  # a final feature map below 2x2 gets a warning
PREDICTIONS = 'test_predictions.npz'
METRICS = 'metrics.csv'
DASH = '—'
_SEED_DIR = re.compile(r'^seed(\d+)$')
_TRAINING_FIELDS = (('final_train_loss', 'train_loss'), ('final_train_top1', 'train_top1'),
                    ('final_val_top1', 'val_top1'))


def scaling_axis(depth: float, width: float, resolution: float, tol: float = 1e-9) -> str:
    """'baseline' when all multipliers are 1, the axis name when only that one differs, else 'compound'."""
    differ = [name for name, m in zip(SINGLE_AXES, (depth, width, resolution)) if abs(float(m) - 1.0) > tol]
    if not differ:
        return 'baseline'
    return differ[0] if len(differ) == 1 else 'compound'


def _from_path(path: Path) -> Tuple[Optional[str], Optional[int]]:
    """(variant, seed) from ``.../{variant}/seed{n}/final.json``, or Nones when the path has another shape."""
    match = _SEED_DIR.match(path.parent.name)
    if not match:
        return None, None
    return path.parent.parent.name, int(match.group(1))


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _read_run(path: Path) -> Dict[str, Any]:
    variant, seed = _from_path(path)
    if not path.exists():
        return {'variant': variant, 'seed': seed, 'status': 'missing', 'error': None, 'path': str(path)}
    try:
        run = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        return {'variant': variant, 'seed': seed, 'status': 'failed', 'error': f'unreadable final.json: {err}',
                'path': str(path)}
    run = dict(run, path=str(path))
    run.setdefault('variant', variant)
    run.setdefault('seed', seed)
    if run.get('status') == 'ok' and not _finite(run.get('test_top1')):
        run.update(status='failed', error='status "ok" but no finite test_top1')
    elif run.get('status') != 'ok':
        run.update(status='failed', error=run.get('error') or f'status {run.get("status")!r}')
    return _add_training_fields(run, path.parent / METRICS)


def load_runs(run_jsons: Sequence[os.PathLike],
              expected_runs: Optional[Sequence[Tuple[str, int]]] = None) -> List[Dict[str, Any]]:
    """Read ``final.json`` files; add a 'missing' run for every expected (variant, seed) without one.

    A path that does not exist is a missing run when its folders name the variant and seed
    (``{variant}/seed{n}/final.json``); an unreadable file or a status other than 'ok' is a failed run.

    Raises:
        ValueError: two files for the same (variant, seed), runs of several datasets, or an unnamed missing path.
    """
    runs, seen = [], set()
    for path in run_jsons:
        run = _read_run(Path(path))
        if run['variant'] is None or run['seed'] is None:
            raise ValueError(f'{path}: no variant and seed in the file, and its path does not name '
                             f'{{variant}}/seed{{n}}/final.json')
        key = (run['variant'], int(run['seed']))
        if key in seen:
            raise ValueError(f'two run files for {key[0]} seed {key[1]} (one is {path})')
        seen.add(key)
        runs.append(run)
    for variant, seed in expected_runs or ():
        if (variant, int(seed)) not in seen:
            seen.add((variant, int(seed)))
            runs.append({'variant': variant, 'seed': int(seed), 'status': 'missing', 'error': None, 'path': None})
    datasets = sorted({r['dataset'] for r in runs if r.get('dataset')})
    if len(datasets) > 1:
        raise ValueError(f'runs of several datasets {datasets}; build one report per dataset')
    return runs


def read_metrics(path: os.PathLike) -> Optional[List[Dict[str, float]]]:
    """The epochs of a run's ``metrics.csv`` in epoch order (numeric columns as floats, blanks as None), or None
    when the file is absent or unreadable."""
    try:
        with open(path, newline='') as f:
            rows = list(csv.DictReader(f))
    except (OSError, csv.Error, UnicodeDecodeError):
        return None

    def number(text):
        try:
            value = float(text)
        except (TypeError, ValueError):
            return None
        return value if math.isfinite(value) else None

    epochs = [{k: number(v) for k, v in row.items() if k is not None} for row in rows]
    return sorted(epochs, key=lambda r: r.get('epoch') if r.get('epoch') is not None else math.inf)


def convergence(val_top1: Sequence[float], window: int = CONVERGENCE_WINDOW,
                margin: float = CONVERGENCE_MARGIN) -> str:
    """'converged', 'not converged' or 'too short' for one run's validation top-1 per epoch (percent).

    Rule: with fewer than ``window + 1`` epochs there is nothing to compare ('too short'); otherwise the run is not
    converged when the best of its last ``window`` epochs exceeds the best of all earlier epochs by more than
    ``margin`` points (validation accuracy still rising at the end).
    """
    values = [float(v) for v in val_top1 if _finite(v)]
    if len(values) < window + 1:
        return 'too short'
    return 'not converged' if max(values[-window:]) > max(values[:-window]) + margin else 'converged'


def _add_training_fields(run: Dict[str, Any], metrics_path: Path) -> Dict[str, Any]:
    """Final train loss / train top-1 / validation top-1 (final.json's, else metrics.csv's last epoch) and the
    run's convergence status ('no metrics' without a metrics.csv)."""
    epochs = read_metrics(metrics_path)
    last = epochs[-1] if epochs else {}
    for final_key, column in _TRAINING_FIELDS:
        if not _finite(run.get(final_key)):
            run[final_key] = last.get(column)
    run['convergence'] = convergence([e.get('val_top1') for e in epochs]) if epochs else 'no metrics'
    return run


_GEOMETRY_KEYS = ('base_resolution', 'px_over_base', 'stage_repeats', 'stage_channels', 'stage_feature_maps',
                  'final_feature_map', 'head_channels')


def _profile_row(profile: Dict[str, Any]) -> Dict[str, Any]:
    keys = ('variant', 'depth', 'width', 'resolution', 'input_size', 'params', 'gmacs', 'gmacs_total',
            'gflops') + _GEOMETRY_KEYS
    return {k: profile.get(k) for k in keys}


def _mean(values) -> Optional[float]:
    values = [float(v) for v in values if _finite(v)]
    return statistics.mean(values) if values else None


def summarize(runs: Sequence[Dict[str, Any]], profiles: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """One row per variant (profile order, then variants that only have runs): multipliers, axis, compute and
    geometry from the profile; over the finished seeds: test top-1 mean / sample std (ddof=1), mean validation
    top-1, final train loss and train top-1, convergence; ok / failed / missing counts."""
    rows: Dict[str, Dict[str, Any]] = {}
    for prof in profiles:
        rows.setdefault(prof['variant'], _profile_row(prof))
    for run in runs:
        if run['variant'] not in rows:
            rows[run['variant']] = {'variant': run['variant'], 'gmacs': None, 'gmacs_total': None, 'gflops': None,
                                    **{k: run.get(k) for k in ('depth', 'width', 'resolution', 'input_size',
                                                               'params')}}
    out = []
    for variant, row in rows.items():
        mine = sorted((r for r in runs if r['variant'] == variant), key=lambda r: r['seed'])
        ok = [r for r in mine if r['status'] == 'ok']
        top1 = [float(r['test_top1']) for r in ok]
        known = all(_finite(row.get(k)) for k in SINGLE_AXES)
        row.update(
            axis=scaling_axis(row['depth'], row['width'], row['resolution']) if known else None,
            runs_ok=ok, seeds_ok=[r['seed'] for r in ok], top1=top1, n_ok=len(top1),
            n_failed=sum(r['status'] == 'failed' for r in mine), n_missing=sum(r['status'] == 'missing' for r in mine),
            failures=[(r['seed'], r.get('error')) for r in mine if r['status'] == 'failed'],
            mean=statistics.mean(top1) if top1 else None,
            std=statistics.stdev(top1) if len(top1) >= 2 else None,
            val_mean=_mean(r.get('final_val_top1') for r in ok),
            n_val=sum(_finite(r.get('final_val_top1')) for r in ok),
            train_loss_mean=_mean(r.get('final_train_loss') for r in ok),
            train_top1_mean=_mean(r.get('final_train_top1') for r in ok),
            convergence=[r.get('convergence', 'no metrics') for r in ok],
        )
        out.append(row)
    return out


def _baseline(rows) -> Optional[Dict[str, Any]]:
    return next((r for r in rows if r['axis'] == 'baseline'), None)


def attach_references(rows: List[Dict[str, Any]]) -> List[Tuple[str, Dict[str, Any]]]:
    """Put each reference row (seed study Table 1, paper Table 7) beside the one variant with its multipliers.

    A reference row matches a variant only when its depth, width and resolution multipliers equal the variant's
    (:func:`effscale_timm.reference.matching_row`): the seed study's "B1" sits beside effscale_b1 and nowhere else;
    a row whose source gives no multipliers sits beside no variant.

    Returns:
        The ``(table, reference row)`` pairs that matched no variant; each row gets ``row['refs'][table]``.
    """
    for row in rows:
        row['refs'] = {}
    matched = set()
    for table in COMPARISON_TABLES:
        for row in rows:
            if not all(_finite(row.get(k)) for k in SINGLE_AXES):
                continue
            ref = matching_row(table, row['depth'], row['width'], row['resolution'])
            if ref is not None:
                row['refs'][table] = ref
                matched.add((table, ref['method']))
    return [(table, ref) for table in COMPARISON_TABLES for ref in reference_table(table)['rows']
            if (table, ref['method']) not in matched]


def _pick_comparator(rows, compound) -> Tuple[Optional[Dict[str, Any]], str]:
    """The single-axis row with the highest mean validation top-1 (never test); against ``compound``, among those
    at its compute (±COMPUTE_TOLERANCE) when there are any. Returns (row or None, how it was chosen)."""
    singles = [r for r in rows if r['axis'] in SINGLE_AXES and r['n_ok'] and _finite(r.get('val_mean'))]
    if not singles:
        return None, 'no single-axis variant has a finished run with a validation top-1'
    how = 'highest validation top-1 among all single-axis rows'
    if _finite(compound.get('gmacs')):
        matched = [r for r in singles if _finite(r.get('gmacs')) and r['gmacs'] > 0
                   and abs(compound['gmacs'] / r['gmacs'] - 1) <= COMPUTE_TOLERANCE]
        if matched:
            singles = matched
            how = f'highest validation top-1 among single-axis rows at its compute (±{COMPUTE_TOLERANCE:.0%})'
    return max(singles, key=lambda r: r['val_mean']), how


def _load_correct(run) -> Tuple[Optional[np.ndarray], Optional[np.ndarray], str]:
    """(correct per test image, labels, '') from the run's test_predictions.npz, or (None, None, why not)."""
    path = Path(run['path']).parent / PREDICTIONS
    if not path.exists():
        return None, None, f'no {PREDICTIONS}'
    try:
        with np.load(path) as data:
            pred, label = np.asarray(data['pred']), np.asarray(data['label'])
    except (OSError, ValueError, KeyError) as err:
        return None, None, f'unreadable {PREDICTIONS} ({err})'
    if label.size == 0 or pred.shape != label.shape:
        return None, None, f'{PREDICTIONS} has no predictions'
    return pred == label, label, ''


def _paired(compound, comparator, n_resamples, seed):
    """(paired bootstrap Difference or None, a note on the runs left out or why it was skipped)."""
    correct, skipped, labels = {}, [], None
    for row in (compound, comparator):
        correct[row['variant']] = []
        for run in row['runs_ok']:
            right, label, why = _load_correct(run)
            if right is None:
                skipped.append(f'{row["variant"]} seed {run["seed"]}: {why}')
                continue
            if labels is not None and not np.array_equal(label, labels):
                return None, ('paired bootstrap skipped: the runs\' test labels differ (not the same test images in '
                              'the same order)')
            labels = label
            correct[row['variant']].append(right)
    note = ('; left out: ' + '; '.join(skipped)) if skipped else ''
    if not all(correct.values()):
        return None, 'paired bootstrap skipped: no per-image test predictions for one side' + note
    result = paired_bootstrap(np.stack(correct[compound['variant']]), np.stack(correct[comparator['variant']]),
                              n_resamples=n_resamples, seed=seed, confidence=1 - ALPHA)
    return result, note


def _decide(c) -> Tuple[str, str]:
    """(decision, words) from the intervals: see the module docstring's rule."""
    short = [f'{r["variant"]} n={r["n_ok"]}' for r in (c['compound'], c['comparator']) if r['n_ok'] < 2]
    if short:
        return 'no conclusion', f'no conclusion: one seed ({", ".join(short)})'
    welch, boot = c['welch'], c['bootstrap']
    if welch is None:
        return 'no conclusion', 'no conclusion: no spread between seeds on either side (Welch\'s t is undefined)'
    side = 1 if welch.low > 0 else -1 if welch.high < 0 else 0
    boot_agrees = boot is None or (boot.low > 0 if side > 0 else boot.high < 0)
    if side and c['p_holm'] < ALPHA and boot_agrees:
        return ('better', 'compound better') if side > 0 else ('worse', 'compound worse')
    why = ''
    if side and c['p_holm'] >= ALPHA:
        why = f' (the Welch interval excludes 0, but the Holm-adjusted p = {c["p_holm"]:.3g} is not below {ALPHA})'
    elif side:
        why = ' (the Welch interval excludes 0, the paired bootstrap interval does not)'
    return 'no difference', f'no detectable difference (MDE {c["mde"]:.2f} points){why}'


def compare(rows: Sequence[Dict[str, Any]], n_resamples: int = BOOTSTRAP_RESAMPLES,
            seed: int = BOOTSTRAP_SEED) -> List[Dict[str, Any]]:
    """Each compound row with a finished run against its comparator (:func:`_pick_comparator`).

    Returns one dict per compound row: ``compound``, ``comparator`` (None when there is none; ``reason`` then says
    why), ``chosen`` (how), ``delta`` (mean test top-1 difference, points), ``welch`` and ``bootstrap``
    (:class:`effscale_timm.stats.Difference` or None), ``bootstrap_note``, ``mde``, ``p_holm`` (Welch p, Holm-adjusted
    over the comparisons that have one), ``compute_ratio``, ``matched``, ``decision`` and ``words``.
    """
    out = []
    for comp in (r for r in rows if r['axis'] == 'compound' and r['n_ok']):
        best, how = _pick_comparator(rows, comp)
        if best is None:
            out.append({'compound': comp, 'comparator': None, 'reason': how})
            continue
        boot, note = _paired(comp, best, n_resamples, seed)
        measured = _finite(comp.get('gmacs')) and _finite(best.get('gmacs')) and best['gmacs'] > 0
        ratio = comp['gmacs'] / best['gmacs'] if measured else None
        out.append({
            'compound': comp, 'comparator': best, 'chosen': how, 'delta': comp['mean'] - best['mean'],
            'welch': welch_interval(comp['top1'], best['top1'], confidence=1 - ALPHA), 'bootstrap': boot,
            'bootstrap_note': note, 'p_holm': None, 'compute_ratio': ratio,
            'matched': ratio is not None and abs(ratio - 1) <= COMPUTE_TOLERANCE,
            'mde': minimum_detectable_effect(comp['std'], best['std'], comp['n_ok'], best['n_ok'], ALPHA, POWER),
        })
    tested = [c for c in out if c.get('welch') is not None]
    for c, p in zip(tested, holm([c['welch'].p for c in tested])):
        c['p_holm'] = p
    for c in out:
        if c['comparator'] is not None:
            c['decision'], c['words'] = _decide(c)
    return out


def _fmt(value, digits: int = 2) -> str:
    return f'{value:.{digits}f}' if _finite(value) else DASH


def _ratio(value, base) -> str:
    return f'{value / base:.2f}×' if _finite(value) and _finite(base) and base else ''


def _with_ratio(text: str, value, base) -> str:
    ratio = _ratio(value, base)
    return f'{text} ({ratio})' if ratio else text


def _top1_cell(row) -> str:
    if not row['n_ok']:
        return f'{DASH} (n=0)'
    return f'{row["mean"]:.2f} ± {_fmt(row["std"])} (n={row["n_ok"]})'


def _multipliers(row) -> str:
    if not all(_finite(row.get(k)) for k in SINGLE_AXES):
        return DASH
    return f'{row["depth"]:g}, {row["width"]:g}, {row["resolution"]:.3g}'


def _px_cell(row) -> str:
    if not row.get('input_size'):
        return DASH
    over = row.get('px_over_base')
    return f'{row["input_size"]} ({over:.3f})' if _finite(over) else str(row['input_size'])


def _repeats_cell(row, base) -> str:
    repeats = row.get('stage_repeats')
    if not repeats:
        return DASH
    base_sum = sum(base['stage_repeats']) if base and base.get('stage_repeats') else None
    return _with_ratio(f'{",".join(map(str, repeats))} = {sum(repeats)}', sum(repeats), base_sum)


def _map_cell(row) -> str:
    fm = row.get('final_feature_map')
    return f'{fm[0]}×{fm[1]}' if fm else DASH


def _convergence_cell(statuses: Sequence[str]) -> str:
    counts, n = Counter(statuses), len(statuses)
    if not n:
        return DASH
    if counts['not converged']:
        return f'no ({counts["not converged"]}/{n} runs)'
    if counts['converged'] == n:
        return 'yes'
    if counts['converged']:
        return f'yes ({counts["converged"]}/{n} judged)'
    return 'too short to judge' if counts['too short'] else DASH


def _ref_cell(row, table) -> str:
    ref = row['refs'].get(table)
    if ref is None:
        return ''
    return f'{compute_ratio(table, ref):.2f}× / {ref["top1"]:g} ({ref["method"]})'


def table_markdown(rows: Sequence[Dict[str, Any]]) -> str:
    """The variant table as GitHub markdown (rows from :func:`summarize` after :func:`attach_references`)."""
    base = _baseline(rows)
    header = ['variant', 'axis', 'd, w, r', 'px (px/base)', 'stage repeats = Σ (×B0)', 'head channels (×B0)',
              'final map', 'params (M)', 'GMACs (×B0)', 'final train loss', 'train top-1 %', 'val top-1 %',
              'test top-1 % (mean ± std, n)', 'converged', 'runs']
    header += [f'{reference_table(t)["short"]}: compute ×its B0 / top-1 %' for t in COMPARISON_TABLES]
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for row in rows:
        cells = [row['variant'], row['axis'] or DASH, _multipliers(row), _px_cell(row), _repeats_cell(row, base),
                 _with_ratio(str(row['head_channels']), row['head_channels'], base and base.get('head_channels'))
                 if row.get('head_channels') else DASH,
                 _map_cell(row), _fmt(row['params'] / 1e6, 3) if _finite(row.get('params')) else DASH,
                 _with_ratio(_fmt(row.get('gmacs'), 4), row.get('gmacs'), base and base.get('gmacs')),
                 _fmt(row['train_loss_mean'], 3), _fmt(row['train_top1_mean']), _fmt(row['val_mean']),
                 _top1_cell(row), _convergence_cell(row['convergence']),
                 f'{row["n_ok"]} ok, {row["n_failed"]} failed, {row["n_missing"]} missing']
        cells += [_ref_cell(row, table) for table in COMPARISON_TABLES]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def legend_markdown() -> str:
    """Units and conventions of :func:`table_markdown`'s columns."""
    refs = '; '.join(f'{reference_table(t)["short"]}: {reference_table(t)["units"][compute_key(t)]}'
                     for t in COMPARISON_TABLES)
    return (
        '**Units.** d, w, r: the depth, width and resolution multipliers asked for, relative to B0. The network as '
        'built: px is the input size in pixels and px/base the resolution multiplier after rounding; stage repeats '
        'are the blocks of each of the 7 stages and their sum, ×B0 the effective depth multiplier; head channels '
        '(×B0) the effective width multiplier; final map the last stage\'s feature map at this input size (measured). '
        'params: millions of parameters as trained (this dataset\'s classes and channels). GMACs: 10⁹ '
        'multiply-accumulates per image in convolutions and linear layers (fvcore), the count the paper calls FLOPS '
        '(FLOPs = 2 × MACs); ×B0 is the ratio to our baseline row. Final train loss, train top-1 and val top-1: '
        'the last epoch\'s, mean over the seeds that finished. test top-1: percent on the test split, mean ± sample '
        f'standard deviation (ddof=1) over the seeds that finished; n is their number, the std is {DASH} when n < 2. '
        f'Converged: a run is *not converged* when the best validation top-1 of its last {CONVERGENCE_WINDOW} epochs '
        f'exceeds the best of all earlier epochs by more than {CONVERGENCE_MARGIN} points (still rising); runs with '
        f'fewer than {CONVERGENCE_WINDOW + 1} epochs are too short to judge. Failed and missing runs are counted in '
        '"runs" and never filled in. Reference columns: the row of each study with exactly this variant\'s '
        'multipliers, its compute as a multiple of *its own* B0 (compare with our GMACs ×B0, never with our GMACs: '
        f'{refs}) and its top-1 in percent on its own dataset and recipe.\n')


def geometry_warnings(rows: Sequence[Dict[str, Any]]) -> List[str]:
    """One warning per variant whose final feature map is below MIN_FEATURE_MAP x MIN_FEATURE_MAP."""
    warnings = []
    for row in rows:
        fm = row.get('final_feature_map')
        if not fm or min(fm) >= MIN_FEATURE_MAP:
            continue
        maps = row.get('stage_feature_maps') or []
        small = [str(i + 1) for i, m in enumerate(maps) if min(m) < MIN_FEATURE_MAP]
        stages = f' (stages {", ".join(small)} of {len(maps)})' if small else ''
        warnings.append(
            f'Warning: {row["variant"]} at {row.get("input_size") or "?"} px ends on a {fm[0]}×{fm[1]} feature map, '
            f'below {MIN_FEATURE_MAP}×{MIN_FEATURE_MAP}{stages}: there a 3×3 or 5×5 depthwise kernel sees one pixel '
            f'and zero padding, so it acts as a 1×1 convolution. A resolution multiplier on this model partly just '
            f'repairs the over-downsampling.')
    return warnings


def _interval(d) -> str:
    return f'[{d.low:+.2f}, {d.high:+.2f}]' if d is not None else DASH


def _p(value) -> str:
    return f'{value:.3g}' if _finite(value) else DASH


def comparison_markdown(comparisons: Sequence[Dict[str, Any]]) -> str:
    """The comparisons as a markdown table (numbered rows, so no line starts with a variant name)."""
    header = ['#', 'compound', 'comparator (val top-1 %)', 'compute ratio', 'Δ test top-1 (points)',
              'Welch 95% CI (df)', 'p (Welch)', 'p (Holm)', 'paired bootstrap 95% CI', 'MDE (n)', 'verdict']
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for i, c in enumerate(comparisons, 1):
        comp, best = c['compound'], c['comparator']
        if best is None:
            lines.append(f'| {i} | {comp["variant"]} |' + f' {DASH} |' * 8 + f' no comparator: {c["reason"]} |')
            continue
        welch = c['welch']
        cells = [str(i), comp['variant'], f'{best["variant"]} ({best["val_mean"]:.2f})',
                 f'{c["compute_ratio"]:.3f}' if c['compute_ratio'] is not None else DASH, f'{c["delta"]:+.2f}',
                 f'{_interval(welch)} ({welch.df:.1f})' if welch else DASH, _p(welch and welch.p), _p(c['p_holm']),
                 _interval(c['bootstrap']),
                 f'{_fmt(c["mde"])} ({comp["n_ok"]} vs {best["n_ok"]})', c['words']]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def _compute_sentence(c) -> str:
    comp, best, ratio = c['compound'], c['comparator'], c['compute_ratio']
    if ratio is None:
        return 'Compute cannot be compared (no profile for one of them).'
    counts = f'{comp["gmacs"]:.4g} vs {best["gmacs"]:.4g} GMACs, ratio {ratio:.3f}'
    if c['matched']:
        return f'Compute is matched within ±{COMPUTE_TOLERANCE:.0%} ({counts}).'
    return (f'Warning: compute is not matched: the compound model uses {ratio:.2f}× the multiply-adds of '
            f'{best["variant"]} ({counts}), outside ±{COMPUTE_TOLERANCE:.0%}; the accuracy difference is confounded '
            f'with compute.')


def _comparison_sentence(c) -> str:
    comp, best = c['compound'], c['comparator']
    if best is None:
        return f'- **{comp["variant"]}**: no comparison: {c["reason"]}.'
    welch, boot = c['welch'], c['bootstrap']
    parts = [f'- **{comp["variant"]}** vs **{best["variant"]}** ({c["chosen"]}, {best["val_mean"]:.2f}%): '
             f'**{c["words"]}**. Δ test top-1 = {c["delta"]:+.2f} points ({comp["mean"]:.2f}%, n={comp["n_ok"]} vs '
             f'{best["mean"]:.2f}%, n={best["n_ok"]}).']
    if welch is not None:
        parts.append(f'Welch 95% CI {_interval(welch)} (df {welch.df:.1f}), p = {welch.p:.3g}, Holm-adjusted '
                     f'p = {c["p_holm"]:.3g}; MDE at this n: {c["mde"]:.2f} points.')
    if boot is not None:
        parts.append(f'Paired bootstrap 95% CI {_interval(boot)} over {boot.n_images} test images and '
                     f'{boot.n_a} + {boot.n_b} seeds ({boot.n_resamples} resamples){c["bootstrap_note"]}.')
    else:
        parts.append(c['bootstrap_note'].rstrip('.') + '.')
    parts.append(_compute_sentence(c))
    return ' '.join(parts)


def _rule_paragraph(n_tests: int) -> str:
    return (
        f'**Rule.** Each compound row is compared with one single-axis row, chosen on mean *validation* top-1 (the '
        f'last epoch\'s, over seeds), never on test: the best among single-axis rows at its compute '
        f'(±{COMPUTE_TOLERANCE:.0%} GMACs) when there are any (FLOP-matched variants, config `flop_match`), else '
        f'the best overall. Δ is the difference in mean test top-1 (compound minus comparator). Welch\'s t interval '
        f'over seeds treats the test set as fixed; the paired bootstrap resamples test images (the same images for '
        f'both) and, per variant, seeds, so it also counts test-set sampling noise. Welch p-values are Holm-adjusted '
        f'over the {n_tests} comparison(s) that have one. MDE: the true difference Welch\'s test would detect with '
        f'{POWER:.0%} power at level {ALPHA} at these n, taking the observed seed standard deviations as true. '
        f'Words: "compound better" (or "worse") only when the Welch {1 - ALPHA:.0%} interval excludes 0 in its favour '
        f'(or against it), the Holm-adjusted p is below {ALPHA} and the paired bootstrap interval, when there is '
        f'one, excludes 0 on the same side; otherwise "no detectable difference (MDE x points)"; with fewer than 2 '
        f'seeds on a side, "no conclusion: one seed".')


def _noise_sentence(rows, runs) -> str:
    sizes = sorted({int(r['test_samples']) for r in runs if r['status'] == 'ok' and _finite(r.get('test_samples'))})
    row = _baseline([r for r in rows if r['n_ok']]) or next((r for r in rows if r['n_ok']), None)
    if not sizes or row is None:
        return ''
    n = sizes[0]
    ci = binomial_interval(round(row['mean'] / 100 * n), n, 1 - ALPHA)
    return (f'Test-set sampling noise: {n} test images' + (f' (runs differ: {sizes})' if len(sizes) > 1 else '')
            + f'; one run at {ci.top1:.2f}% ({row["variant"]}\'s mean) has a {1 - ALPHA:.0%} Clopper–Pearson '
            f'interval [{ci.low:.2f}, {ci.high:.2f}] (standard error {ci.se:.2f} points). The paired bootstrap '
            f'counts this noise; Welch\'s interval over seeds does not.\n')


def _reference_sentence(table: str) -> str:
    """Where the study's compound and single-axis models sit in compute (ratios to its own B0), and whether its
    compound-minus-single-axis difference is a finding (only at matched compute)."""
    ref = reference_table(table)
    comp = next(r for r in ref['rows'] if r['axis'] == 'compound')
    singles = [r for r in ref['rows'] if r['axis'] in SINGLE_AXES]
    key, ratios = compute_key(table), [compute_ratio(table, r) for r in singles]
    text = (f'{ref["short"]}: its compound model ({comp["method"]}) is at {compute_ratio(table, comp):.2f}× its own '
            f'B0\'s compute, its single-axis models at {min(ratios):.2f}–{max(ratios):.2f}×')
    paper = next(r for r in reference_table('table7')['rows'] if r['axis'] == 'compound')
    if any(comp[k] != paper[k] for k in SINGLE_AXES):
        text += (f'; its compound model is not paper Table 7\'s (d, w, r = {paper["depth"]:g}, {paper["width"]:g}, '
                 f'{paper["resolution"]:g})')
    matched = [r for r in singles if abs(comp[key] / r[key] - 1) <= COMPUTE_TOLERANCE]
    if not matched:
        best = max(singles, key=lambda r: r['top1'])
        return (text + f'. Compute is not matched, so its Δ = {comp["top1"] - best["top1"]:+.2f} points (compound '
                f'{comp["top1"]:g}% vs {best["method"]} {best["top1"]:g}%) is not a finding about compound scaling.')
    best = max(matched, key=lambda r: r['top1'])
    return (text + f'. Against its best single-axis model at matched compute (±{COMPUTE_TOLERANCE:.0%}), '
            f'{best["method"]}: Δ = {comp["top1"] - best["top1"]:+.2f} points (one run each, on {ref["dataset"]}: '
            f'no interval).')


def references_markdown(rows, unmatched) -> str:
    """Each reference study's rows with compute as a ratio to its own B0, beside our variant of the same
    multipliers (and our ratio), then what its comparison does and does not show."""
    base, parts = _baseline(rows), []
    for table in COMPARISON_TABLES:
        ref = reference_table(table)
        ours = {r['refs'][table]['method']: r for r in rows if table in r['refs']}
        parts += [f'**{ref["title"]}** ({ref["source"]}; {ref["units"][compute_key(table)]}).', '',
                  '| method | d, w, r | its compute | ×its B0 | its top-1 % | our variant | our GMACs ×B0 |',
                  '|---|---|---|---|---|---|---|']
        for r in ref['rows']:
            mult = ', '.join(DASH if r[k] is None else f'{r[k]:.3g}' for k in SINGLE_AXES)
            mine = ours.get(r['method'])
            parts.append(f'| {r["method"]} | {mult} | {r[compute_key(table)]:g} | {compute_ratio(table, r):.2f}× | '
                         f'{r["top1"]:g} | {mine["variant"] if mine else DASH} | '
                         f'{(_ratio(mine.get("gmacs"), base and base.get("gmacs")) or DASH) if mine else DASH} |')
        parts += ['', _reference_sentence(table), '']
    missing = [f'{reference_table(t)["short"]} "{r["method"]}"' for t, r in unmatched]
    if missing:
        parts.append('Reference rows beside no variant (no variant here has their multipliers, or the source does '
                     'not give them): ' + '; '.join(missing) + '.')
    return '\n'.join(parts) + '\n'


def verdict(rows: Sequence[Dict[str, Any]], comparisons: Sequence[Dict[str, Any]]) -> str:
    """The verdict, computed from the rows and :func:`compare`'s comparisons."""
    missing = []
    if not any(r['axis'] in SINGLE_AXES and r['n_ok'] for r in rows):
        missing.append('no single-axis (depth, width or resolution) variant has a finished run')
    if not comparisons:
        missing.append('no compound variant has a finished run')
    if missing:
        return 'No verdict: ' + '; '.join(missing) + '.\n'
    lines = [_rule_paragraph(sum(c.get('welch') is not None for c in comparisons)), '']
    lines += [_comparison_sentence(c) for c in comparisons]
    incomplete = [r for r in rows if r['n_failed'] or r['n_missing']]
    if incomplete:
        lines += ['', 'Incomplete data: ' + '; '.join(
            f'{r["variant"]} {r["n_failed"]} failed, {r["n_missing"]} missing' for r in incomplete)
            + '. These runs are left out of every mean, not filled in.']
    return '\n'.join(lines) + '\n'


def _series(rows) -> Dict[str, List[Dict[str, Any]]]:
    """Per scaling axis, the points to draw: the baseline first, then that axis's rows by compute."""
    drawable = [r for r in rows if r['n_ok'] and _finite(r.get('gmacs'))]
    base = [r for r in drawable if r['axis'] == 'baseline'][:1]
    series = {}
    for axis in SINGLE_AXES + ('compound',):
        points = sorted((r for r in drawable if r['axis'] == axis), key=lambda r: r['gmacs'])
        if points:
            series[axis] = base + points
    if not series and base:
        series['baseline'] = base
    return series


def _error_bars(points) -> Tuple[List[float], List[float], List[float]]:
    """(x, y, sample std) of the points with at least 2 finished seeds: the only ones that get an error bar."""
    bars = [p for p in points if p['n_ok'] >= 2 and _finite(p.get('std'))]
    return [p['gmacs'] for p in bars], [p['mean'] for p in bars], [p['std'] for p in bars]


def plot_accuracy_vs_flops(rows: Sequence[Dict[str, Any]], out_png: os.PathLike, title: str = '') -> Path:
    """Test top-1 (mean over seeds; error bars = sample std, only where n >= 2) against GMACs on a log axis, one
    series per scaling axis starting from the baseline (the paper's Figure 8). Written atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.6), layout='constrained')
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    series = _series(rows)
    markers = {'depth': 's', 'width': '^', 'resolution': 'D', 'compound': 'o', 'baseline': 'o'}
    for axis, points in series.items():
        line, = ax.plot([p['gmacs'] for p in points], [p['mean'] for p in points], marker=markers[axis],
                        label=f'scale {axis}')
        x, y, err = _error_bars(points)
        if x:
            ax.errorbar(x, y, yerr=err, fmt='none', ecolor=line.get_color(), capsize=3)
    labelled = {p['variant']: p for points in series.values() for p in points}
    for p in labelled.values():
        ax.annotate(f'{p["variant"]} (n={p["n_ok"]})', (p['gmacs'], p['mean']), textcoords='offset points',
                    xytext=(4, 4), fontsize=7)
    if series:
        ax.set_xscale('log')
        ax.margins(x=0.2)  # room for the variant names
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, 'no finished runs with a profile', ha='center', va='center', transform=ax.transAxes)
    ax.set_xlabel('GMACs per image (conv + linear; FLOPs = 2 × MACs), log scale')
    ax.set_ylabel('test top-1 (%), mean over seeds; bars ± std where n ≥ 2')
    ax.set_title(title or 'Accuracy vs compute by scaling axis (Tan & Le, Figure 8)', fontsize=10)
    ax.grid(True, which='both', alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=120)
    return write_atomic(out_png, buf.getvalue())


def _failures_markdown(rows) -> str:
    items = [f'- {r["variant"]} seed {seed}: {err or "no error recorded"}' for r in rows for seed, err in r['failures']]
    return ('Failed runs:\n' + '\n'.join(items) + '\n') if items else ''


def _hardware_markdown(runs) -> str:
    done = [r for r in runs if r['status'] != 'missing']
    if not done:
        return ''
    hardware = sorted({str(r['hardware']) for r in done if r.get('hardware')})
    hours = sum(r['wall_time_s'] for r in done if _finite(r.get('wall_time_s'))) / 3600
    return (f'Runs: {len(done)} with a final.json, {hours:.2f} h of training wall time on '
            f'{", ".join(hardware) or DASH}.\n')


SMOKE_MIN_EPOCHS = CONVERGENCE_WINDOW + 1  # below this no run can be judged converged


def smoke_reasons(rows: Sequence[Dict[str, Any]], runs: Sequence[Dict[str, Any]]) -> List[str]:
    """Why no conclusion follows from this study, read from its runs; empty when none of these applies."""
    ok = [r for r in runs if r.get('status') == 'ok']
    reasons = []
    if rows and max(r.get('n_ok', 0) for r in rows) < 2:
        reasons.append('one seed per variant, so no interval and no test')
    subsets = sorted({r['max_train_samples'] for r in ok if r.get('max_train_samples')})
    if subsets:
        reasons.append(f'training on a fixed subset of {", ".join(f"{n:,}" for n in subsets)} images')
    epochs = [r.get('epochs') for r in ok if r.get('epochs')]
    if epochs and max(epochs) < SMOKE_MIN_EPOCHS:
        reasons.append(f'{max(epochs)} epoch(s), too few to judge convergence')
    tiny = [r['variant'] for r in rows if r.get('final_feature_map') and min(r['final_feature_map']) < 2]
    if tiny:
        reasons.append(f'a final feature map below 2×2 for {", ".join(tiny)}, where resolution mostly repairs '
                       f'over-downsampling')
    return reasons


def _smoke_markdown(rows, runs) -> str:
    reasons = smoke_reasons(rows, runs)
    if not reasons:
        return ''
    return ('**Smoke study.** This run shows every stage working on real data; no conclusion about scaling follows '
            'from it: ' + '; '.join(reasons) + '. The real study is `config/full.yaml`.\n')


def build_report(run_jsons: Sequence[os.PathLike], profile_jsons: Sequence[os.PathLike],
                 cam_npzs: Sequence[os.PathLike], out_dir: os.PathLike,
                 expected_runs: Optional[Sequence[Tuple[str, int]]] = None,
                 n_resamples: int = BOOTSTRAP_RESAMPLES) -> Dict[str, Any]:
    """Write ``table1.md``, ``accuracy_vs_flops.png`` and ``cams.png`` (when CAM files are given) to ``out_dir``.

    Args:
        run_jsons: the runs' ``final.json`` paths (``metrics.csv`` and ``test_predictions.npz`` are read from the
            same folder); a path that does not exist is a missing run.
        profile_jsons: the variants' profile JSONs (:func:`effscale_timm.profile.profile_variant`), in the order
            the table lists them.
        cam_npzs: CAM files (:func:`effscale_timm.cam.save_cam`), one grid column each; may be empty.
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
    dataset = next((r['dataset'] for r in runs if r.get('dataset')), None) or 'unknown dataset'
    figure = plot_accuracy_vs_flops(rows, out_dir / 'accuracy_vs_flops.png',
                                    f'{dataset}: accuracy vs compute by scaling axis (Tan & Le, Figure 8)')
    cams = None
    if cam_npzs:
        from .cam import cam_grid
        cams = cam_grid(cam_npzs, out_dir / 'cams.png')
        cam_md = '![Grad-CAM of the predicted class per variant](cams.png)\n'
    else:
        cam_md = 'Grad-CAM grid skipped: no CAM files were given.\n'
    text = verdict(rows, comparisons)
    md = '\n'.join([
        f'# Scaling study: {dataset}', '', _smoke_markdown(rows, runs),
        '## Table 1: accuracy and compute per variant', '', table_markdown(rows), legend_markdown(),
        '\n\n'.join(geometry_warnings(rows)) + '\n', _failures_markdown(rows), _hardware_markdown(runs),
        '## Comparisons', '', comparison_markdown(comparisons) if comparisons else 'No compound row to compare.\n',
        _noise_sentence(rows, runs),
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
    parser.add_argument('--runs', nargs='*', default=[], help='final.json files of the runs')
    parser.add_argument('--profiles', nargs='*', default=[], help='profile JSONs, in table order')
    parser.add_argument('--cams', nargs='*', default=[], help='CAM files (.npz), one grid column each')
    parser.add_argument('--out-dir', required=True, help='folder for table1.md, accuracy_vs_flops.png, cams.png')
    parser.add_argument('--expected', nargs='*', default=None, metavar='VARIANT:SEED',
                        help='runs the study should have; those without a final.json are reported missing')
    parser.add_argument('--bootstrap-resamples', type=int, default=BOOTSTRAP_RESAMPLES,
                        help=f'paired-bootstrap resamples per comparison (default {BOOTSTRAP_RESAMPLES})')
    return parser


def run_cli(args: argparse.Namespace) -> Dict[str, Any]:
    """Run ``effscale report``."""
    return build_report(args.runs, args.profiles, args.cams, args.out_dir, parse_expected(args.expected),
                        n_resamples=args.bootstrap_resamples)
