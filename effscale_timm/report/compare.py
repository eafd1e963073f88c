"""The report's comparisons: every compound row against the single-axis rows at its compute, by the study's decision
rule (:mod:`effscale_timm.decision`); rows whose compute is not matched are described, never given verdict words,
and stay out of the multiplicity family. A verdict that rests on upsampled pixels is withheld, and the budget check
says whether it holds at more epochs. The reference studies' rows are attached to the variant with their
multipliers."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..backbones import DEFAULT_BACKBONE
from ..decision import EQUIVALENCE_MARGIN, Contrast, Decision, decide, mde, pooled_sd
from ..files.predictions import PREDICTIONS, read_predictions
from ..files.run_record import is_finite
from ..reference import COMPARISON_TABLES, matching_row, reference_table, table_backbone
from ..scaling import FLOP_TOLERANCE, SCALING_AXES

COMPUTE_TOLERANCE = FLOP_TOLERANCE  # compute counts as matched when the GMACs ratio is within 1 +/- this


def baseline_row(rows, backbone: Optional[str] = None) -> Optional[Dict[str, Any]]:
    """The baseline row (multipliers 1) of ``backbone``, or of the first backbone that has one."""
    return next((r for r in rows if r['axis'] == 'baseline' and backbone in (None, _backbone(r))), None)


def _backbone(row: Dict[str, Any]) -> str:
    return row.get('backbone') or DEFAULT_BACKBONE


def study_tables(rows) -> List[str]:
    """The comparison tables of the backbones this study trains (EfficientNet-B0's when no row says)."""
    backbones = {_backbone(r) for r in rows} or {DEFAULT_BACKBONE}
    return [t for t in COMPARISON_TABLES if table_backbone(t) in backbones]


def attach_references(rows: List[Dict[str, Any]]) -> List[Tuple[str, Dict[str, Any]]]:
    """Put each reference row (seed study Table 1, paper Table 7) beside the one variant with its multipliers.

    A reference row matches a variant only when its depth, width and resolution multipliers equal the variant's
    (:func:`effscale_timm.reference.matching_row`): the seed study's "B1" sits beside effscale_b1 and nowhere else;
    a row whose source gives no multipliers sits beside no variant.

    Returns:
        The ``(table, reference row)`` pairs of :func:`study_tables` that matched no variant; each row gets
        ``row['refs'][table]``.
    """
    for row in rows:
        row['refs'] = {}
    matched, tables = set(), study_tables(rows)
    for table in tables:
        for row in rows:
            if not all(is_finite(row.get(k)) for k in SCALING_AXES):
                continue
            ref = matching_row(table, row['depth'], row['width'], row['resolution'], backbone=_backbone(row),
                               variant=row['variant'])
            if ref is not None:
                row['refs'][table] = ref
                matched.add((table, ref['method']))
    return [(table, ref) for table in tables for ref in reference_table(table)['rows']
            if (table, ref['method']) not in matched]


def compute_ratio(a: Dict[str, Any], b: Dict[str, Any]) -> Optional[float]:
    """a's measured GMACs over b's, or None when either is not measured."""
    if is_finite(a.get('gmacs')) and is_finite(b.get('gmacs')) and b['gmacs'] > 0:
        return a['gmacs'] / b['gmacs']
    return None


def upsampled(row: Dict[str, Any]) -> bool:
    """Whether the row's input is larger than the dataset's images (its pixels are interpolated, not real)."""
    return is_finite(row.get('input_size')) and is_finite(row.get('native_size')) \
        and row['input_size'] > row['native_size']


def rests_on_upsampling(row: Dict[str, Any]) -> bool:
    """Whether the row scales resolution (r > 1) into pixels the images do not have: its resolution scaling carries
    no information about real pixels."""
    return is_finite(row.get('resolution')) and row['resolution'] > 1 + 1e-9 and upsampled(row)


def _matched(rows, compound) -> Tuple[List[Dict[str, Any]], List[Tuple[Dict[str, Any], Optional[float]]]]:
    """(single-axis rows of ``compound``'s backbone with a usable run within ±COMPUTE_TOLERANCE of its GMACs, the
    other single-axis rows of that backbone with their compute ratio)."""
    matched, unmatched = [], []
    for row in rows:
        if row['axis'] not in SCALING_AXES or not row['n_ok'] or _backbone(row) != _backbone(compound):
            continue
        ratio = compute_ratio(compound, row)
        (matched if ratio is not None and abs(ratio - 1) <= COMPUTE_TOLERANCE else unmatched).append((row, ratio))
    return [r for r, _ in matched], unmatched


def _withheld(compound, matched) -> Optional[str]:
    """Why the verdict must not be read as a finding about resolution, or None."""
    fake = [r for r in [compound, *matched] if rests_on_upsampling(r)]
    if not fake:
        return None
    parts = [f'{r["variant"]} scales resolution to {r["input_size"]} px from {r["native_size"]} px images'
             for r in fake]
    return ('withheld: ' + '; '.join(parts) + ': its extra pixels are interpolated, so the comparison says nothing '
            'about scaling resolution on real pixels (use a dataset whose images are at least as large as every '
            'input, e.g. `dataset: imagenette`)')


def _budget(compound, matched, decision: Decision, budget: Dict[str, List[float]],
            factor: Optional[int]) -> Optional[Dict[str, Any]]:
    """Δ at ``factor``× the epochs per matched axis, and whether the verdict is budget-dependent: Δ changes sign or
    moves by more than the rule's minimum detectable effect."""
    if not budget or not factor:
        return None
    contrasts = [c.contrast for c in decision.tests]
    effect = decision.mde if decision.mde is not None else mde(contrasts, decision.pooled, decision.alpha_side)
    pairs, changed = [], []
    for row, test in zip(matched, decision.tests):
        longer_c, longer_a = budget.get(compound['variant'], []), budget.get(row['variant'], [])
        if not longer_c or not longer_a:
            pairs.append(dict(comparator=row['variant'], delta=test.contrast.estimate, delta_longer=None))
            continue
        delta_longer = float(np.mean(longer_c) - np.mean(longer_a))
        moved = np.sign(delta_longer) != np.sign(test.contrast.estimate) or \
            (effect is not None and abs(delta_longer - test.contrast.estimate) > effect)
        changed.append(bool(moved))
        pairs.append(dict(comparator=row['variant'], delta=test.contrast.estimate, delta_longer=delta_longer,
                          n_longer=(len(longer_c), len(longer_a)), moved=bool(moved)))
    if not changed:
        label = None
    else:
        label = 'budget-dependent' if any(changed) else f'holds at {factor}× the epochs'
    return dict(factor=factor, mde=effect, pairs=pairs, label=label)


def compare(rows: Sequence[Dict[str, Any]], margin: float = EQUIVALENCE_MARGIN,
            budget: Optional[Dict[str, List[float]]] = None, budget_factor: Optional[int] = None,
            with_mde: bool = True) -> List[Dict[str, Any]]:
    """Each compound row with a usable run against every single-axis row at its compute.

    Returns one dict per compound row: ``compound``, ``matched`` (the single-axis rows at its compute),
    ``unmatched`` ((row, compute ratio) of the others: described only), ``decision``
    (:class:`effscale_timm.decision.Decision`, or None with ``reason``), ``withheld`` (why the verdict is not a
    finding about resolution, or None) and ``budget`` (the budget check, or None). ``budget``: variant -> test top-1
    of its usable runs at ``budget_factor``× the epochs.
    """
    pooled = pooled_sd([r['top1'] for r in rows if r['n_ok']])
    out = []
    for comp in (r for r in rows if r['axis'] == 'compound' and r['n_ok']):
        matched, unmatched = _matched(rows, comp)
        out.append(dict(compound=comp, matched=matched, unmatched=unmatched, decision=None, reason=None,
                        withheld=None, budget=None))
    judged = [e for e in out if e['matched']]
    for e in out:
        if not e['matched']:
            e['reason'] = (f'no single-axis row with a usable run within ±{COMPUTE_TOLERANCE:.0%} of its compute: '
                           f'described only, no verdict')
        elif pooled is None:
            e['reason'] = 'no verdict: no seed-to-seed spread to test with (one seed per arm: pooled df 0)'
        else:
            contrasts = [Contrast.of_means(a['variant'], e['compound']['top1'], a['top1']) for a in e['matched']]
            e['decision'] = decide(contrasts, pooled, margin, rows=len(judged), with_mde=with_mde)
            e['withheld'] = _withheld(e['compound'], e['matched'])
            e['budget'] = _budget(e['compound'], e['matched'], e['decision'], budget or {}, budget_factor)
    return out


def _mean_correct(row) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """(per-image fraction of the row's usable seeds that classified the image right, labels), or None when a run
    has no readable predictions file."""
    correct, labels = [], None
    for run in row['runs_ok']:
        path = run.run_dir / PREDICTIONS if run.run_dir else None
        if path is None or not path.exists():
            return None
        try:
            pred, label = read_predictions(path)
        except ValueError:
            return None
        if label.size == 0 or (labels is not None and not np.array_equal(label, labels)):
            return None
        labels = label
        correct.append(pred == label)
    return (np.mean(correct, axis=0), labels) if correct else None


def test_set_se(a: Dict[str, Any], b: Dict[str, Any]) -> Optional[float]:
    """The standard error, in points, that a new test set of the same size would add to a's mean top-1 minus b's:
    the standard deviation over test images of the per-image difference in mean correctness (over each row's
    seeds), over the square root of the number of images. The per-image means keep some seed-to-seed churn, so it is
    an upper bound. None without per-image predictions on the same images for both."""
    mine, theirs = _mean_correct(a), _mean_correct(b)
    if mine is None or theirs is None or not np.array_equal(mine[1], theirs[1]):
        return None
    diff = mine[0] - theirs[0]
    return float(100 * diff.std(ddof=1) / np.sqrt(diff.size)) if diff.size > 1 else None
