"""The search's report: every candidate (single-axis ones labelled, merged triples named), the choice with its
P(best) and whether the data decide it, the chosen coefficients against the paper's on runs not used for the choice,
the family curves, the scaling laws with their held-out check against the log-linear baseline, the compute each
strategy needs to reach one error, and one curve-level verdict per compound strategy in words, or "no conclusion"
and why.

:func:`build_search_report` (``effscale search report --grid G --chosen C --match M1 .. --runs R1 .. --phis K
[--fractional-phis 0.5 1.5 ..] [--hold-out-phi H] [--halving F] --out-dir D``) writes ``D/search.md`` and
``D/scaling_law.png`` (:mod:`effscale_timm.search.figure`); the numbers are :mod:`effscale_timm.search.curves`.
Accuracy is test top-1 in percent; the choice reads validation only.
"""
from __future__ import annotations

import math
import os
import statistics
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from ..atomic import write_atomic
from ..decision import EQUIVALENCE_MARGIN, SIGNIFICANCE
from ..report.markdown import DASH
from ..report.tidy import write_run_tables
from ..stats import welch_interval
from . import curves as cv
from .choice import CHOICE_RULE
from .evidence import near_chance, no_conclusion_text, smoke_run_reasons
from .family import B0, strategy_member
from .figure import LABELS, plot_scaling_law
from .scaling_law import FIT_RULE


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> Tuple[Optional[float], Optional[float]]:
    """(mean, half-width of the t interval over seeds); half-width None for fewer than 2 values."""
    from scipy import stats

    if not values:
        return None, None
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None
    half = stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, float(half)


def _cell(values) -> str:
    mean, half = mean_interval(values)
    if mean is None:
        return DASH
    return f'{mean:.2f}' + (f' ± {half:.2f}' if half is not None else '') + f' (n={len(values)})'


def _fmt(value, digits=2) -> str:
    return DASH if value is None else f'{value:.{digits}f}'


def _ok(runs, key: str) -> List[float]:
    return [float(getattr(r, key)) for r in runs if r.usable]


def _scales(record) -> str:
    axes = record.get('scaled_axes', [])
    if record.get('single_axis'):
        return f'{axes[0] if axes else "no axis"} only: a reference, never chosen'
    return ' + '.join(axes)


def search_table(data) -> str:
    grid, chosen = data['grid'], data['chosen']
    p_best = {c['name']: c.get('p_best') for c in chosen['candidates']}
    lines = ['| candidate | α | β | γ | px | MACs / B0 | scales | val top-1 (95% CI) | P(best) | test top-1 (95% CI) | '
             'same network as |', '|---|---|---|---|---|---|---|---|---|---|---|']
    for r in grid['kept']:
        runs = data['runs'].get(r['name'], [])
        mark = ' **(chosen)**' if r['name'] == chosen['name'] else ''
        same = ', '.join(f'`{n}`' for n in r['same_network']) or DASH
        lines.append(f'| `{r["name"]}`{mark} | {r["alpha"]:g} | {r["beta"]:g} | {r["gamma"]:g} | {r["px"]} | '
                     f'{r["ratio"]:.3f} | {_scales(r)} | {_cell(_ok(runs, "final_val_top1"))} | '
                     f'{_fmt(p_best.get(r["name"]))} | {_cell(_ok(runs, "test_top1"))} | {same} |')
    note = (f'\nThe grid (α {grid["grid"]["alpha"]}, β {grid["grid"]["beta"]}, γ {grid["grid"]["gamma"]} as low, high, '
            f'step) has {grid["n_candidates"]} triples, built at φ = {grid["phi"]:g} (depth α^φ, width β^φ, resolution '
            f'γ^φ); {grid["n_within_tolerance"]} measure within ±{grid["tolerance"]:.0%} of {grid["target_ratio"]:g}× '
            f'B0\'s MACs at base {grid["base_resolution"]} px ({grid["b0_macs"] / 1e6:.2f} MMACs), '
            f'{len(grid["kept"])} distinct networks, {len(grid["compound_candidates"])} of them compound. Triples that '
            f'build one network are trained once, under the triple whose (α·β²·γ²)^φ is closest to the target (a '
            f'tie-break the data cannot make: they are one network here); the others are listed beside it.')
    closest = grid.get('closest_rejected')
    if closest:
        note += (f' The closest rejected triple: α={closest["alpha"]:g}, β={closest["beta"]:g}, '
                 f'γ={closest["gamma"]:g} at {closest["ratio"]:.3f}× B0.')
    return '\n'.join(lines) + '\n' + note + _halving_text(data.get('halving')) + f'\n\nChoice rule: {CHOICE_RULE}.\n'


def _halving_text(halving) -> str:
    if not halving:
        return ''
    scores = ', '.join(f'`{n}` {_fmt(v)}' for n, v in sorted(halving['scores'].items(), key=lambda kv: -(kv[1] or -1)))
    return (f'\n\nSuccessive halving: every compound candidate first trained {halving["epochs"]} epoch(s) (mean '
            f'validation top-1: {scores}); the best {halving["keep_fraction"]:g} went on to the search\'s epochs: '
            f'{", ".join(f"`{n}`" for n in halving["going_on"])}.')


def choice_section(data) -> str:
    c = data['chosen']
    refs = [r for r in c.get('references', []) if r['n']]
    text = (f'Chosen on validation: `{c["name"]}` (α = {c["alpha"]:g}, β = {c["beta"]:g}, γ = {c["gamma"]:g}), mean '
            f'validation top-1 {c["mean"]:.2f} over {c["n"]} seed(s), P(best) = {c["p_best"]:.2f}.')
    if len(data['grid']['compound_candidates']) == 1:
        text += ' It is the only compound candidate kept: no choice among compound networks was made.'
    else:
        text += (f' **A tie**: {c["tie"]}; the found family is built from the highest mean, a tie-break the data do '
                 f'not make.' if c['tie'] else ' The choice is clear.')
    if refs:
        best_ref = max(refs, key=lambda r: r['mean'])
        if best_ref['mean'] > c['mean']:
            text += (f' A single-axis candidate, `{best_ref["name"]}`, scored higher ({best_ref["mean"]:.2f}); it is a '
                     f'reference and is never reported as the found compound.')
    if c.get('paper_is_chosen'):
        text += ' The search chose the paper\'s own coefficients.'
    return text + '\n\n' + vs_paper_text(data) + '\n'


def vs_paper_text(data) -> str:
    """Chosen minus paper at the search's phi on runs not used for the choice (the found member trained again), or
    why that cannot be said."""
    phi = data['grid']['phi']
    found, paper = strategy_member('compound_found', phi), strategy_member('compound_paper', phi)
    head = f'Found minus paper at φ = {phi:g} (`{found}` − `{paper}`, test top-1, Welch over seeds): '
    if found not in data['runs']:
        return head + (f'not measured: at φ = {phi:g} the found member is the chosen candidate\'s own runs, the ones '
                       f'it was chosen on, which favour it (the winner\'s curse); with search.epochs other than epochs '
                       f'the found member is trained again and compared here.')
    a, b = _ok(data['runs'][found], 'test_top1'), _ok(data['runs'].get(paper, []), 'test_top1')
    d = welch_interval(a, b)
    if d is None:
        return head + f'no interval (n = {len(a)} and {len(b)}: fewer than 2 seeds on a side, or no spread).'
    return head + (f'Δ = {d.delta:+.2f} points, 95% CI [{d.low:+.2f}, {d.high:+.2f}] (runs trained after the choice, '
                   f'not used for it).')


def compute_section(data) -> str:
    candidates = {r['name'] for r in data['grid']['kept']}
    rows = {'search (candidates)': [], 'family, B0 and held-out': []}
    for name, runs in data['runs'].items():
        rows['search (candidates)' if name in candidates else 'family, B0 and held-out'].extend(runs)
    lines = ['| part | runs | epochs | wall time (h) | hardware |', '|---|---|---|---|---|']
    for part, runs in rows.items():
        hours = sum(r.wall_time_s or 0 for r in runs) / 3600
        hw = ', '.join(sorted({str(r.hardware) for r in runs})) or DASH
        lines.append(f'| {part} | {len(runs)} | {sum(r.epochs or 0 for r in runs)} | {hours:.3f} | {hw} |')
    return '\n'.join(lines) + '\n'


def family_table(curve_map) -> str:
    lines = ['| strategy | φ | variant | MMACs | test top-1 (95% CI) | val top-1 | val cross-entropy |',
             '|---|---|---|---|---|---|---|']
    for s, points in curve_map.items():
        for p in points:
            mark = ' (the chosen candidate\'s own runs)' if p['selected'] else ''
            mark += f' (upsampled from {p["upsampled_from"]} px)' if p.get('upsampled_from') else ''
            lines.append(f'| {LABELS[s]} | {p["phi"]:g} | `{p["name"]}`{mark} | {p["macs"] / 1e6:.2f} | '
                         f'{_cell(p["test"])} | {_fmt(statistics.fmean(p["val"]) if p["val"] else None)} | '
                         f'{_fmt(statistics.fmean(p["loss"]) if p["loss"] else None, 3)} |')
    return '\n'.join(lines) + '\n'


def _law_text(law) -> str:
    f = law['fit']
    if f is None:
        return f'no fit ({law["why"]})'
    if f.kind == 'power_law':
        b, c = f.interval('b'), f.interval('c')
        return (f'power law: b = {f.params["b"]:.3g} [{b[0]:.3g}, {b[1]:.3g}], floor c = {f.params["c"]:.3g} '
                f'[{c[0]:.3g}, {c[1]:.3g}], s = {f.s:.3g} ({f.df} df)')
    q = f.interval('q') if f.df > 0 else (math.nan, math.nan)
    return f'log-linear ({f.reason}): q = {f.params["q"]:.3g} [{q[0]:.3g}, {q[1]:.3g}] per ln C'


def _held_text(law) -> str:
    h, base = law['held_out'], law['baseline_held_out']
    if not h:
        return f'{DASH} | {DASH} | {DASH} | {DASH}'
    inside = 'inside' if h['inside'] else '**outside**'
    baseline = f'{base["t"]:+.2f}' if base else DASH
    return (f'{h["predicted"]:.3g} [{h["low"]:.3g}, {h["high"]:.3g}] | {h["measured"]:.3g} (n={h["n"]}) | '
            f'{h["t"]:+.2f} ({h["df"]} df): {inside} | {baseline}')


def law_section(laws, hold_out_phi) -> str:
    lines = ['| strategy | target | fit on B0 and the fitted φ (95% t intervals) | held-out φ predicted [95% PI] | '
             'measured | law\'s standardised residual | log-linear baseline\'s |', '|---|---|---|---|---|---|---|']
    for s, by_target in laws.items():
        for key, (what, unit) in cv.TARGETS.items():
            law = by_target[key]
            lines.append(f'| {LABELS[s]} | {what} ({unit}) | {_law_text(law)} | {_held_text(law)} |')
    held = f'φ = {hold_out_phi:g}' if hold_out_phi is not None else 'none'
    return ('\n'.join(lines) + f'\n\nFit rule: {FIT_RULE}. Held out: {held}; its mean is scored by the standardised '
            f'residual t = (measured − predicted) / √(se_fit² + s²/n) against t at the fit\'s degrees of freedom '
            f'(inside when |t| is below it), beside the same score of the log-linear line.\n')


def target_section(target, b0_macs: float) -> str:
    if target['target'] is None:
        return f'No comparison: {target["why"]}.\n'
    lines = ['| strategy | MMACs to reach it (95% CI) | × B0 | compute ÷ the found compound\'s (95% CI) |',
             '|---|---|---|---|']
    for s, r in target['rows'].items():
        if r['macs'] is None:
            lines.append(f'| {LABELS[s]} | never ({r["why"]}) | {DASH} | {DASH} |')
            continue
        v = r['vs_found']
        ratio = f'{v["ratio"]:.3g} [{v["low"]:.3g}, {v["high"]:.3g}]' if v else DASH
        lines.append(f'| {LABELS[s]} | {r["macs"] / 1e6:.3g} [{r["low"] / 1e6:.3g}, {r["high"] / 1e6:.3g}] | '
                     f'{r["macs"] / b0_macs:.2f} | {ratio} |')
    return (f'Target: {target["target"]:.2f}% test error, the highest of the strategies\' fitted errors at φ = '
            f'{target["top_phi"]:g} (pre-specified, so every strategy reaches it inside its fitted range).\n\n'
            + '\n'.join(lines) + '\n\nIntervals: delta method on ln C with t at the fit\'s degrees of freedom; a '
            'ratio adds the two fits\' variances (they share B0\'s runs, which makes it conservative).\n')


def decision_table(rows) -> str:
    lines = ['| compound | matched axis | Δ test top-1, mean over budgets (95% CI) | p better | p worse (Holm) | '
             '90% CI (TOST) | verdict |', '|---|---|---|---|---|---|---|']
    for r in rows:
        d = r['decision']
        if d is None:
            lines.append(f'| {LABELS[r["compound"]]} | {DASH} | {DASH} | {DASH} | {DASH} | {DASH} | {r["reason"]} |')
            continue
        for t in d.tests:
            lines.append(f'| {LABELS[r["compound"]]} | {t.contrast.comparator} | {t.contrast.estimate:+.2f} '
                         f'[{t.low:+.2f}, {t.high:+.2f}] | {t.p_better:.3g} | {t.p_worse_holm:.3g} | '
                         f'[{t.tost_low:+.2f}, {t.tost_high:+.2f}] | {d.text} |')
    return '\n'.join(lines) + '\n'


def no_conclusion_reasons(data, curve_map, rows) -> List[str]:
    """Why the search concludes nothing: runs near chance, smoke runs, a tied choice, no seed variance."""
    family = [r for p in (q for points in curve_map.values() for q in points) for r in data['runs'].get(p['name'], [])]
    reasons = [r for r in [near_chance(family, data['grid']['num_classes'])] if r] + smoke_run_reasons(family)
    if data['chosen']['tie']:
        reasons.append(f'the choice is a tie ({data["chosen"]["tie"]}), so the "found" coefficients are a tie-break, '
                       f'not a finding')
    if any(r['reason'].startswith('no seed-to-seed') for r in rows):
        reasons.append('fewer than 2 seeds per arm, so no seed variance, no interval and no test')
    return reasons


def _word_text(r) -> str:
    d, what = r['decision'], LABELS[r['compound']]
    if d is None:
        return f'{what}: not tested ({r["reason"]}).'
    axes = ', '.join(t.contrast.comparator for t in d.tests)
    estimates = ', '.join(f'{t.contrast.estimate:+.2f} [{t.low:+.2f}, {t.high:+.2f}]' for t in d.tests)
    words = {'better': f'better than every matched single axis ({axes}), by {estimates} points',
             'worse': f'worse than a matched single axis ({axes}: {estimates} points)',
             'equivalent': f'equivalent within ±{d.margin:g} points to {axes} ({estimates})',
             'inconclusive': f'inconclusive against {axes} ({estimates} points; the smallest advantage this test '
                             f'detects with 80% power is {d.mde:.2f} points)' if d.mde is not None else
                             f'inconclusive against {axes} ({estimates} points)'}
    return f'{what}: {words[d.word]}.'


def verdict_section(data, curve_map, rows, budgets, dataset) -> str:
    reasons = no_conclusion_reasons(data, curve_map, rows)
    rule = (f'One pre-specified test per compound strategy over the whole curve (not one per φ): the mean over the '
            f'budgets φ = {", ".join(f"{b:g}" for b in budgets)} (every seed) of compound − axis test top-1, each axis '
            f'counted where its measured MACs are within the tolerance of the compound member\'s, decided by the '
            f'study\'s rule (effscale_timm/decision.py: seed variance pooled over every arm, intersection–union '
            f'"better", Holm "worse", TOST "equivalent"; family-wise level {SIGNIFICANCE:g} split over the compound '
            f'rows). A budget whose found point is the chosen candidate\'s own runs is left out of its test.')
    words = ' '.join(_word_text(r) for r in rows)
    if reasons:
        text = no_conclusion_text(reasons) + f' (On {dataset}, for the record: {words})'
    else:
        text = f'On {dataset}: {words}'
    return decision_table(rows) + '\n' + rule + '\n\n**Verdict.** ' + text + '\n'


def build_search_report(grid: os.PathLike, chosen: os.PathLike, match: Sequence[os.PathLike],
                        runs: Sequence[os.PathLike], n_phis: int, hold_out_phi: Optional[float],
                        out_dir: os.PathLike, fractional_phis: Sequence[float] = (),
                        margin: float = EQUIVALENCE_MARGIN, halving: Optional[os.PathLike] = None) -> str:
    """Write ``out_dir/search.md`` and ``out_dir/scaling_law.png`` from the search's files; returns the Markdown."""
    data = cv.load(grid, chosen, match, runs, halving)
    fitted = sorted([float(k) for k in range(1, n_phis + 1)] + [float(f) for f in fractional_phis])
    budgets = [float(k) for k in range(1, n_phis + 1)] + ([float(hold_out_phi)] if hold_out_phi else [])
    curve_map = cv.curves(data, cv.member_macs(data), sorted(set(fitted + budgets)))
    laws = cv.strategy_laws(curve_map, fitted, hold_out_phi)
    rows = cv.curve_decisions(data, curve_map, budgets, margin)
    dataset = next((r.dataset for rs in data['runs'].values() for r in rs if r.dataset), '?')
    out_dir = Path(out_dir)
    plot_scaling_law(curve_map, laws, out_dir / 'scaling_law.png', title=f'{dataset}: error against MACs')
    sections = [
        f'# The paper\'s coefficient search on {dataset}\n', f'## Search at φ = {data["grid"]["phi"]:g}\n',
        search_table(data), '## The choice, and the found coefficients against the paper\'s\n', choice_section(data),
        '## Compute spent\n', compute_section(data), f'## Family curves ({B0} is φ = 0 of every strategy)\n',
        family_table(curve_map), '## Scaling laws per strategy, with the held-out check\n',
        law_section(laws, hold_out_phi), '![error against MACs](scaling_law.png)\n',
        '## Compute to reach one error\n', target_section(cv.compute_to_target(curve_map, laws, fitted),
                                                          data['grid']['b0_macs']),
        '## Verdict over the curve\n', verdict_section(data, curve_map, rows, budgets, dataset)]
    text = '\n'.join(sections)
    write_atomic(out_dir / 'search.md', text.encode())
    records = [r for rs in data['runs'].values() for r in rs]
    write_run_tables(records, out_dir / 'search_runs.csv', out_dir / 'search_epochs.csv',
                     [{'variant': n, 'gmacs': m / 1e9} for n, m in cv.member_macs(data).items()])
    return text
