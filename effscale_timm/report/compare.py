"""The report's comparisons: each compound row against its comparator (the single-axis row of highest mean
validation top-1 at its compute), with Welch, paired-bootstrap and Holm statistics (:mod:`effscale_timm.stats`), and
the reference studies' rows attached to the variant with the same multipliers."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..files.predictions import PREDICTIONS, read_predictions
from ..files.run_record import RunRecord, is_finite
from ..reference import COMPARISON_TABLES, matching_row, reference_table
from ..scaling import FLOP_TOLERANCE, SCALING_AXES
from ..stats import holm, minimum_detectable_effect, paired_bootstrap, welch_interval

COMPUTE_TOLERANCE = FLOP_TOLERANCE  # compute counts as matched when the GMACs ratio is within 1 +/- this
SIGNIFICANCE = 0.05  # family-wise level of the Holm-adjusted tests; intervals are (1 - SIGNIFICANCE) = 95%
POWER = 0.8  # power of the minimum detectable effect
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0  # fixed: the same inputs give the same report


def baseline_row(rows) -> Optional[Dict[str, Any]]:
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
            if not all(is_finite(row.get(k)) for k in SCALING_AXES):
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
    singles = [r for r in rows if r['axis'] in SCALING_AXES and r['n_ok'] and is_finite(r.get('val_mean'))]
    if not singles:
        return None, 'no single-axis variant has a finished run with a validation top-1'
    how = 'highest validation top-1 among all single-axis rows'
    if is_finite(compound.get('gmacs')):
        matched = [r for r in singles if is_finite(r.get('gmacs')) and r['gmacs'] > 0
                   and abs(compound['gmacs'] / r['gmacs'] - 1) <= COMPUTE_TOLERANCE]
        if matched:
            singles = matched
            how = f'highest validation top-1 among single-axis rows at its compute (±{COMPUTE_TOLERANCE:.0%})'
    return max(singles, key=lambda r: r['val_mean']), how


def _load_correct(run: RunRecord) -> Tuple[Optional[np.ndarray], Optional[np.ndarray], str]:
    """(correct per test image, labels, '') from the run's predictions file, or (None, None, why not)."""
    path = run.run_dir / PREDICTIONS
    if not path.exists():
        return None, None, f'no {PREDICTIONS}'
    try:
        pred, label = read_predictions(path)
    except ValueError as err:
        return None, None, str(err)
    if label.size == 0:
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
                skipped.append(f'{row["variant"]} seed {run.seed}: {why}')
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
                              n_resamples=n_resamples, seed=seed, confidence=1 - SIGNIFICANCE)
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
    if side and c['p_holm'] < SIGNIFICANCE and boot_agrees:
        return ('better', 'compound better') if side > 0 else ('worse', 'compound worse')
    why = ''
    if side and c['p_holm'] >= SIGNIFICANCE:
        why = f' (the Welch interval excludes 0, but the Holm-adjusted p = {c["p_holm"]:.3g} is not below {SIGNIFICANCE})'
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
        measured = is_finite(comp.get('gmacs')) and is_finite(best.get('gmacs')) and best['gmacs'] > 0
        ratio = comp['gmacs'] / best['gmacs'] if measured else None
        out.append({
            'compound': comp, 'comparator': best, 'chosen': how, 'delta': comp['mean'] - best['mean'],
            'welch': welch_interval(comp['top1'], best['top1'], confidence=1 - SIGNIFICANCE), 'bootstrap': boot,
            'bootstrap_note': note, 'p_holm': None, 'compute_ratio': ratio,
            'matched': ratio is not None and abs(ratio - 1) <= COMPUTE_TOLERANCE,
            'mde': minimum_detectable_effect(comp['std'], best['std'], comp['n_ok'], best['n_ok'], SIGNIFICANCE, POWER),
        })
    tested = [c for c in out if c.get('welch') is not None]
    for c, p in zip(tested, holm([c['welch'].p for c in tested])):
        c['p_holm'] = p
    for c in out:
        if c['comparator'] is not None:
            c['decision'], c['words'] = _decide(c)
    return out
