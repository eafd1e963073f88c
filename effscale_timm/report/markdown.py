"""The report's words: Table 1 and its legend, geometry warnings, the comparison table and its sentences, the
reference studies, the verdict, failures, hardware and why a smoke study concludes nothing."""
from __future__ import annotations

from collections import Counter
from typing import Any, Dict, List, Sequence

from ..files.run_record import RunRecord, is_finite
from ..reference import COMPARISON_TABLES, compute_key, compute_ratio, reference_table
from ..scaling import SCALING_AXES
from ..stats import binomial_interval
from .compare import COMPUTE_TOLERANCE, POWER, SIGNIFICANCE, baseline_row
from .runs import CONVERGENCE_MARGIN, CONVERGENCE_WINDOW

MIN_FEATURE_MAP = 2  # a final feature map below 2x2 gets a warning
DASH = '—'


def _fmt(value, digits: int = 2) -> str:
    return f'{value:.{digits}f}' if is_finite(value) else DASH


def _ratio(value, base) -> str:
    return f'{value / base:.2f}×' if is_finite(value) and is_finite(base) and base else ''


def _with_ratio(text: str, value, base) -> str:
    ratio = _ratio(value, base)
    return f'{text} ({ratio})' if ratio else text


def _top1_cell(row) -> str:
    if not row['n_ok']:
        return f'{DASH} (n=0)'
    return f'{row["mean"]:.2f} ± {_fmt(row["std"])} (n={row["n_ok"]})'


def _multipliers(row) -> str:
    if not all(is_finite(row.get(k)) for k in SCALING_AXES):
        return DASH
    return f'{row["depth"]:g}, {row["width"]:g}, {row["resolution"]:.3g}'


def _px_cell(row) -> str:
    if not row.get('input_size'):
        return DASH
    over = row.get('px_over_base')
    return f'{row["input_size"]} ({over:.3f})' if is_finite(over) else str(row['input_size'])


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
    base = baseline_row(rows)
    header = ['variant', 'axis', 'd, w, r', 'px (px/base)', 'stage repeats = Σ (×B0)', 'head channels (×B0)',
              'final map', 'params (M)', 'GMACs (×B0)', 'final train loss', 'train top-1 %', 'val top-1 %',
              'test top-1 % (mean ± std, n)', 'converged', 'runs']
    header += [f'{reference_table(t)["short"]}: compute ×its B0 / top-1 %' for t in COMPARISON_TABLES]
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for row in rows:
        cells = [row['variant'], row['axis'] or DASH, _multipliers(row), _px_cell(row), _repeats_cell(row, base),
                 _with_ratio(str(row['head_channels']), row['head_channels'], base and base.get('head_channels'))
                 if row.get('head_channels') else DASH,
                 _map_cell(row), _fmt(row['params'] / 1e6, 3) if is_finite(row.get('params')) else DASH,
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
    return f'{value:.3g}' if is_finite(value) else DASH


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
        f'{POWER:.0%} power at level {SIGNIFICANCE} at these n, taking the observed seed standard deviations as true. '
        f'Words: "compound better" (or "worse") only when the Welch {1 - SIGNIFICANCE:.0%} interval excludes 0 in its favour '
        f'(or against it), the Holm-adjusted p is below {SIGNIFICANCE} and the paired bootstrap interval, when there is '
        f'one, excludes 0 on the same side; otherwise "no detectable difference (MDE x points)"; with fewer than 2 '
        f'seeds on a side, "no conclusion: one seed".')


def noise_sentence(rows, runs) -> str:
    sizes = sorted({int(r.test_samples) for r in runs if r.status == 'ok' and is_finite(r.test_samples)})
    row = baseline_row([r for r in rows if r['n_ok']]) or next((r for r in rows if r['n_ok']), None)
    if not sizes or row is None:
        return ''
    n = sizes[0]
    ci = binomial_interval(round(row['mean'] / 100 * n), n, 1 - SIGNIFICANCE)
    return (f'Test-set sampling noise: {n} test images' + (f' (runs differ: {sizes})' if len(sizes) > 1 else '')
            + f'; one run at {ci.top1:.2f}% ({row["variant"]}\'s mean) has a {1 - SIGNIFICANCE:.0%} Clopper–Pearson '
            f'interval [{ci.low:.2f}, {ci.high:.2f}] (standard error {ci.se:.2f} points). The paired bootstrap '
            f'counts this noise; Welch\'s interval over seeds does not.\n')


def _reference_sentence(table: str) -> str:
    """Where the study's compound and single-axis models sit in compute (ratios to its own B0), and whether its
    compound-minus-single-axis difference is a finding (only at matched compute)."""
    ref = reference_table(table)
    comp = next(r for r in ref['rows'] if r['axis'] == 'compound')
    singles = [r for r in ref['rows'] if r['axis'] in SCALING_AXES]
    key, ratios = compute_key(table), [compute_ratio(table, r) for r in singles]
    text = (f'{ref["short"]}: its compound model ({comp["method"]}) is at {compute_ratio(table, comp):.2f}× its own '
            f'B0\'s compute, its single-axis models at {min(ratios):.2f}–{max(ratios):.2f}×')
    paper = next(r for r in reference_table('table7')['rows'] if r['axis'] == 'compound')
    if any(comp[k] != paper[k] for k in SCALING_AXES):
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
    base, parts = baseline_row(rows), []
    for table in COMPARISON_TABLES:
        ref = reference_table(table)
        ours = {r['refs'][table]['method']: r for r in rows if table in r['refs']}
        parts += [f'**{ref["title"]}** ({ref["source"]}; {ref["units"][compute_key(table)]}).', '',
                  '| method | d, w, r | its compute | ×its B0 | its top-1 % | our variant | our GMACs ×B0 |',
                  '|---|---|---|---|---|---|---|']
        for r in ref['rows']:
            mult = ', '.join(DASH if r[k] is None else f'{r[k]:.3g}' for k in SCALING_AXES)
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
    if not any(r['axis'] in SCALING_AXES and r['n_ok'] for r in rows):
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



def failures_markdown(rows) -> str:
    items = [f'- {r["variant"]} seed {seed}: {err or "no error recorded"}' for r in rows for seed, err in r['failures']]
    return ('Failed runs:\n' + '\n'.join(items) + '\n') if items else ''


def hardware_markdown(runs) -> str:
    done = [r for r in runs if r.status != 'missing']
    if not done:
        return ''
    hardware = sorted({str(r.hardware) for r in done if r.hardware})
    hours = sum(r.wall_time_s for r in done if is_finite(r.wall_time_s)) / 3600
    return (f'Runs: {len(done)} with a run record, {hours:.2f} h of training wall time on '
            f'{", ".join(hardware) or DASH}.\n')


SMOKE_MIN_EPOCHS = CONVERGENCE_WINDOW + 1  # below this no run can be judged converged


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
        reasons.append(f'{max(epochs)} epoch(s), too few to judge convergence')
    tiny = [r['variant'] for r in rows if r.get('final_feature_map') and min(r['final_feature_map']) < 2]
    if tiny:
        reasons.append(f'a final feature map below 2×2 for {", ".join(tiny)}, where resolution mostly repairs '
                       f'over-downsampling')
    return reasons


def smoke_markdown(rows, runs) -> str:
    reasons = smoke_reasons(rows, runs)
    if not reasons:
        return ''
    return ('**Smoke study.** This run shows every stage working on real data; no conclusion about scaling follows '
            'from it: ' + '; '.join(reasons) + '. The real study is `config/full.yaml`.\n')
