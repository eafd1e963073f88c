"""The report's words: the comparisons and the verdict (with the rule they follow), what the noise figures count,
compute at equal training time, the budget check, the learning rates chosen, the reference studies, failures,
hardware and why a smoke study concludes nothing."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from ..backbones import DEFAULT_BACKBONE
from ..decision import POWER, SIGNIFICANCE, Decision
from ..files.run_record import RunRecord, is_finite
from ..reference import (compute_key, compute_matched, compute_ratio, reference_table,
                         table_backbone)
from ..scaling import SCALING_AXES
from ..stats import binomial_interval
from .compare import COMPUTE_TOLERANCE, baseline_row, study_tables, test_set_se
from .tables import DASH, fmt, ratio_text

SMOKE_MIN_EPOCHS = 10  # fewer epochs than this: a smoke run, far from the real study's schedule


def _p(value) -> str:
    return f'{value:.3g}' if is_finite(value) else DASH


def _signed(value) -> str:
    return f'{value:+.2f}' if is_finite(value) else DASH


def comparison_markdown(comparisons: Sequence[Dict[str, Any]]) -> str:
    """One line per compound row and matched axis: Δ with its interval, the one-sided tests, TOST's interval."""
    header = ['#', 'compound', 'matched axis (val top-1 %)', 'compute ratio', 'Δ test top-1 [95% CI]', 't (df)',
              'p better (one-sided)', 'p worse (Holm)', '90% CI (TOST)', 'verdict']
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    i = 0
    for c in comparisons:
        d: Optional[Decision] = c['decision']
        if d is None:
            i += 1
            lines.append(f'| {i} | {c["compound"]["variant"]} |' + f' {DASH} |' * 7 + f' {c["reason"]} |')
            continue
        for row, t in zip(c['matched'], d.tests):
            i += 1
            ratio = c['compound']['gmacs'] / row['gmacs']
            cells = [str(i), c['compound']['variant'], f'{row["variant"]} ({fmt(row["val_mean"])})', f'{ratio:.3f}',
                     f'{t.contrast.estimate:+.2f} [{t.low:+.2f}, {t.high:+.2f}]', f'{t.t:+.2f} ({d.pooled.df})',
                     _p(t.p_better), _p(t.p_worse_holm), f'[{t.tost_low:+.2f}, {t.tost_high:+.2f}]',
                     _verdict_words(c)]
            lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def _verdict_words(c) -> str:
    d = c['decision']
    words = d.text if not c['withheld'] else f'{d.text}; withheld (upsampled)'
    budget = c.get('budget') or {}
    return words + (f'; {budget["label"]}' if budget.get('label') else '')


def _rule_paragraph(comparisons) -> str:
    judged = [c for c in comparisons if c['decision'] is not None]
    d = judged[0]['decision'] if judged else None
    pooled = (f'The seed standard deviation is pooled over every arm of the study: s = {d.pooled.sd:.3f} points over '
              f'{d.pooled.n_runs} runs of {d.pooled.n_arms} arms (df = runs − arms = {d.pooled.df}); pooling '
              f'assumes the arms share one seed variance. ' if d else '')
    side = f'{d.alpha_side:.3g}' if d else f'{SIGNIFICANCE} / 2 / rows'
    margin = f'±{d.margin:g}' if d else '±m'
    return (
        '**Rule (pre-specified).** Each compound row is compared with every single-axis row at its compute '
        f'(measured GMACs within ±{COMPUTE_TOLERANCE:.0%}), and with no other; Δ is mean test top-1, compound minus '
        f'it. {pooled}"Better" (an intersection–union test): compound beats *every* matched axis, each by a '
        f'one-sided t test at level {side}. "Worse": a matched axis beats it (one-sided tests, Holm-adjusted over the '
        f'matched axes, at {side}). The two directions share the family-wise level {SIGNIFICANCE}, split between the '
        f'{len(judged)} compound row(s) with a verdict; rows without a matched axis are described only and are not '
        f'in the family. "Equivalent within {margin}" (TOST at {SIGNIFICANCE}): every Δ\'s 90% interval lies inside '
        f'{margin} points (config `equivalence_margin`). Otherwise "inconclusive", with the minimum detectable effect '
        f'(MDE): the advantage over every matched axis at which this rule says "better" with {POWER:.0%} '
        f'probability, by simulating the rule with the pooled s taken as true. The intervals and tests count the '
        f'spread between training runs on this test set and treat the test images as fixed.')


def _decision_sentence(c) -> str:
    comp, d = c['compound'], c['decision']
    if d is None:
        return f'- **{comp["variant"]}**: {c["reason"]}.' + _described(c)
    axes = ', '.join(f'{r["variant"]} (Δ {t.contrast.estimate:+.2f} [{t.low:+.2f}, {t.high:+.2f}], one-sided p '
                     f'better {t.p_better:.3g}, worse {t.p_worse_holm:.3g})' for r, t in zip(c['matched'], d.tests))
    missing = [a for a in SCALING_AXES if not any(r['axis'] == a for r in c['matched'])]
    text = (f'- **{comp["variant"]}** ({comp["mean"]:.2f}%, n={comp["n_ok"]}): **{d.text}** against the matched '
            f'axes {axes}.')
    if missing:
        text += f' Not compared (no row at its compute): {", ".join(missing)}.'
    if c['withheld']:
        text += f' **Verdict {c["withheld"]}.**'
    return text + _described(c)


def _described(c) -> str:
    if not c['unmatched']:
        return ''
    comp = c['compound']
    parts = [f'{r["variant"]} at {1 / ratio:.2f}× its compute, Δ {comp["mean"] - r["mean"]:+.2f}'
             if ratio else f'{r["variant"]} (compute not measured), Δ {comp["mean"] - r["mean"]:+.2f}'
             for r, ratio in c['unmatched']]
    return ' Described only (compute not matched, so no verdict words and no test): ' + '; '.join(parts) + '.'


def verdict(rows: Sequence[Dict[str, Any]], comparisons: Sequence[Dict[str, Any]]) -> str:
    """The verdict, computed from the rows and :func:`effscale_timm.report.compare.compare`'s comparisons."""
    missing = []
    if not any(r['axis'] in SCALING_AXES and r['n_ok'] for r in rows):
        missing.append('no single-axis (depth, width or resolution) variant has a usable run')
    if not comparisons:
        missing.append('no compound variant has a usable run')
    if missing:
        return 'No verdict: ' + '; '.join(missing) + '.\n'
    lines = [_rule_paragraph(comparisons), ''] + [_decision_sentence(c) for c in comparisons]
    incomplete = [r for r in rows if r['n_failed'] or r['n_missing']]
    if incomplete:
        lines += ['', 'Incomplete data: ' + '; '.join(
            f'{r["variant"]} {r["n_failed"]} failed, {r["n_missing"]} missing' for r in incomplete)
            + '. These runs are left out of every mean, not filled in.']
    return '\n'.join(lines) + '\n'


def noise_sentence(rows, runs: Sequence[RunRecord], comparisons) -> str:
    """What the intervals count, and the test-set sampling noise they do not."""
    sizes = sorted({int(r.test_samples) for r in runs if r.status == 'ok' and is_finite(r.test_samples)})
    row = baseline_row([r for r in rows if r['n_ok']]) or next((r for r in rows if r['n_ok']), None)
    if not sizes or row is None:
        return ''
    n = sizes[0]
    ci = binomial_interval(round(row['mean'] / 100 * n), n, 1 - SIGNIFICANCE)
    text = (f'**Noise.** The verdict\'s intervals count the spread between training runs (seeds) on this test set of '
            f'{n} images' + (f' (runs differ: {sizes})' if len(sizes) > 1 else '') + '. They do not count the '
            f'sampling noise of the test set itself: one run at {ci.top1:.2f}% ({row["variant"]}\'s mean) has a '
            f'{1 - SIGNIFICANCE:.0%} Clopper–Pearson interval [{ci.low:.2f}, {ci.high:.2f}] (standard error '
            f'{ci.se:.2f} points) as an estimate of accuracy on new images.')
    pairs = [(c['compound'], r) for c in comparisons if c['decision'] for r in c['matched']]
    ses = [(a['variant'], b['variant'], test_set_se(a, b)) for a, b in pairs]
    ses = [s for s in ses if s[2] is not None]
    if ses:
        text += (' For a difference between two models on a new test set of the same size, add a standard error of '
                 'at most about ' + ', '.join(f'{se:.2f} ({a} − {b})' for a, b, se in ses) + ' points (the per-image '
                 'differences, averaged over seeds).')
    return text + '\n'


def time_sentence(comparisons) -> str:
    """Compute at equal training time, in words: each compound row's measured time per epoch against its matched
    axes' on this hardware."""
    parts = []
    for c in comparisons:
        comp = c['compound']
        for r in c['matched']:
            if is_finite(comp.get('epoch_s')) and is_finite(r.get('epoch_s')) and r['epoch_s'] > 0:
                parts.append(f'{comp["variant"]} takes {comp["epoch_s"] / r["epoch_s"]:.2f}× the training time per '
                             f'epoch of {r["variant"]} ({comp["epoch_s"]:.1f} vs {r["epoch_s"]:.1f} s)')
    if not parts:
        return ''
    return ('**At equal training time.** Matched in MACs is not matched in time: ' + '; '.join(parts) + '. A model '
            'that is faster per epoch would get that many more epochs in the same time, so where the ratio is far '
            'from 1 the MAC-matched verdict does not carry over to a time budget.\n')


def budget_markdown(comparisons) -> str:
    """The budget check: Δ at the study's epochs and at the longer budget per matched axis."""
    checked = [c for c in comparisons if c.get('budget')]
    if not checked:
        return ''
    lines = ['| compound | matched axis | Δ at the study\'s epochs | Δ at the longer budget | changed |',
             '|---|---|---|---|---|']
    for c in checked:
        b = c['budget']
        for p in b['pairs']:
            changed = DASH if p['delta_longer'] is None else ('yes' if p['moved'] else 'no')
            lines.append(f'| {c["compound"]["variant"]} | {p["comparator"]} | {p["delta"]:+.2f} | '
                         f'{_signed(p["delta_longer"])} | {changed} |')
    factor, effect = checked[0]['budget']['factor'], checked[0]['budget']['mde']
    return ('\n'.join(lines) + f'\n\nThe compound rows and their matched axes were trained again at {factor}× the '
            f'epochs. A verdict is labelled budget-dependent when Δ changes sign or moves by more than the MDE '
            f'({fmt(effect)} points) there.\n')


def lr_markdown(choices: Sequence[Dict[str, Any]]) -> str:
    """Each variant's learning rate chosen on validation, beside its neighbours' validation scores."""
    if not choices:
        return ''
    lines = ['| variant | chosen rate | its val top-1 % (n) | lower neighbour | higher neighbour | note |',
             '|---|---|---|---|---|---|']
    for ch in choices:
        rates = [c['lr'] for c in ch['rates']]
        i = rates.index(ch['lr'])
        cell = [f'{c["lr"]:g}: {fmt(c["mean"])} (n={c["n"]})' if c['n'] else f'{c["lr"]:g}: failed'
                for c in ch['rates']]
        best = ch['rates'][i]
        lines.append(f'| {ch["variant"]} | {ch["lr"]:g} | {fmt(best["mean"])} ({best["n"]}) | '
                     f'{cell[i - 1] if i > 0 else DASH} | {cell[i + 1] if i + 1 < len(cell) else DASH} | '
                     f'{ch.get("edge") or ""} |')
    return ('\n'.join(lines) + f'\n\nRule: {choices[0]["rule"]}. A rate at the edge of the grid is flagged: the best '
            f'rate may lie outside it.\n')


def _reference_sentence(table: str) -> str:
    """Where the study's compound and single-axis models sit in compute (ratios to its own B0), and whether its
    compound-minus-single-axis difference is a finding (only at matched compute, allowing for the source's
    rounding)."""
    ref = reference_table(table)
    comp = next(r for r in ref['rows'] if r['axis'] == 'compound')
    singles = [r for r in ref['rows'] if r['axis'] in SCALING_AXES]
    ratios = [compute_ratio(table, r) for r in singles]
    base = 'B0' if table_backbone(table) == DEFAULT_BACKBONE else 'baseline'
    text = (f'{ref["short"]}: its compound model ({comp["method"]}) is at {compute_ratio(table, comp):.2f}× its own '
            f'{base}\'s compute, its single-axis models at {min(ratios):.2f}–{max(ratios):.2f}×')
    paper = next(r for r in reference_table('table7')['rows'] if r['axis'] == 'compound')
    if table_backbone(table) == DEFAULT_BACKBONE and any(comp[k] != paper[k] for k in SCALING_AXES):
        text += (f'; its compound model is not paper Table 7\'s (d, w, r = {paper["depth"]:g}, {paper["width"]:g}, '
                 f'{paper["resolution"]:g})')
    matched = [r for r in singles if compute_matched(table, comp, r, COMPUTE_TOLERANCE)]
    if not matched:
        best = max(singles, key=lambda r: r['top1'])
        return (text + f'. Compute is not matched, so its Δ = {comp["top1"] - best["top1"]:+.2f} points (compound '
                f'{comp["top1"]:g}% vs {best["method"]} {best["top1"]:g}%) is not a finding about compound scaling.')
    best = max(matched, key=lambda r: r['top1'])
    return (text + f'. Against its best single-axis model at matched compute (±{COMPUTE_TOLERANCE:.0%} of its '
            f'figures, allowing for their rounding), {best["method"]}: Δ = {comp["top1"] - best["top1"]:+.2f} points '
            f'(one run each, on {ref["dataset"]}: no interval).')


def references_markdown(rows, unmatched) -> str:
    """Each reference study's rows with compute as a ratio to its own B0, beside our variant of the same
    multipliers (and our ratio), then what its comparison does and does not show."""
    parts = []
    for table in study_tables(rows):
        ref, base = reference_table(table), baseline_row(rows, table_backbone(table))
        ours = {r['refs'][table]['method']: r for r in rows if table in r['refs']}
        parts += [f'**{ref["title"]}** ({ref["source"]}; {ref["units"][compute_key(table)]}).', '',
                  '| method | d, w, r | its compute | ×its B0 | its top-1 % | our variant | our GMACs ×B0 |',
                  '|---|---|---|---|---|---|---|']
        for r in ref['rows']:
            mult = ', '.join(DASH if r[k] is None else f'{r[k]:.3g}' for k in SCALING_AXES)
            mine = ours.get(r['method'])
            parts.append(f'| {r["method"]} | {mult} | {r[compute_key(table)]:g} | {compute_ratio(table, r):.2f}× | '
                         f'{r["top1"]:g} | {mine["variant"] if mine else DASH} | '
                         f'{ratio_text(mine.get("gmacs"), base and base.get("gmacs")) if mine else DASH} |')
        parts += ['', _reference_sentence(table), '']
    parts.append('Compare a study\'s compute ×its B0 with our GMACs ×B0, never its compute with our GMACs: the units '
                 '(MACs or 2 × MACs) and the input sizes differ.')
    missing = [f'{reference_table(t)["short"]} "{r["method"]}"' for t, r in unmatched if t in study_tables(rows)]
    if missing:
        parts.append('Reference rows beside no variant (no variant here has their multipliers, or the source does '
                     'not give them and names no variant built for them): ' + '; '.join(missing) + '.')
    return '\n'.join(parts) + '\n'


def failures_markdown(rows) -> str:
    items = [f'- {r["variant"]} seed {seed}: {err or "no error recorded"}' for r in rows for seed, err in r['failures']]
    return ('Failed runs:\n' + '\n'.join(items) + '\n') if items else ''


def hardware_markdown(runs: Sequence[RunRecord]) -> str:
    done = [r for r in runs if r.status != 'missing']
    if not done:
        return ''
    hardware = sorted({str(r.hardware) for r in done if r.hardware})
    hours = sum(r.wall_time_s for r in done if is_finite(r.wall_time_s)) / 3600
    return (f'Runs: {len(done)} with a run record, {hours:.2f} h of training wall time on '
            f'{", ".join(hardware) or DASH}.\n')


def smoke_reasons(rows: Sequence[Dict[str, Any]], runs: Sequence[RunRecord]) -> List[str]:
    """Why no conclusion follows from this study, read from its runs; empty when none of these applies."""
    ok = [r for r in runs if r.status == 'ok']
    reasons = []
    if rows and max(r.get('n_ok', 0) for r in rows) < 2:
        reasons.append('one seed per variant, so no interval and no test')
    subsets = sorted({r.max_train_samples for r in ok if r.max_train_samples})
    if subsets:
        reasons.append(f'training on a fixed subset of {", ".join(f"{n:,}" for n in subsets)} images')
    epochs = [r.epochs for r in ok if r.epochs]
    if epochs and max(epochs) < SMOKE_MIN_EPOCHS:
        reasons.append(f'{max(epochs)} epoch(s) of training')
    tiny = [r['variant'] for r in rows if r.get('final_feature_map') and min(r['final_feature_map']) < 2]
    if tiny:
        reasons.append(f'a final feature map below 2×2 for {", ".join(tiny)}, where resolution mostly repairs '
                       f'over-downsampling')
    natives = sorted({r['native_size'] for r in rows if is_finite(r.get('native_size'))})
    if natives and any(r.get('input_size') and r['input_size'] > natives[0] for r in rows):
        reasons.append(f'inputs upsampled from {natives[0]} px images, so resolution scaling adds no real pixels')
    return reasons


def smoke_markdown(rows, runs) -> str:
    reasons = smoke_reasons(rows, runs)
    if not reasons:
        return ''
    return ('**Smoke study.** This run shows every stage working on real data; no conclusion about scaling follows '
            'from it: ' + '; '.join(reasons) + '. The real study is `config/full.yaml`.\n')
