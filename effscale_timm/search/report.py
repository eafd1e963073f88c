"""The search's report: every candidate, the choice beside the paper's coefficients, the family curves per strategy,
the scaling law per strategy with its held-out check, and the verdict per budget in words.

:func:`build_search_report` (``effscale search report --grid G --chosen C --match M1 .. --runs R1 .. --phis K
[--hold-out-phi H] --out-dir D``) writes ``D/search.md`` and ``D/scaling_law.png`` (:mod:`effscale_timm.search.figure`).
Accuracy is test top-1 in percent; the error a scaling law fits is
``100 - top-1``. Comparisons per budget pick the best single axis on *validation* (never test), then compare test
top-1 with Welch's 95% interval over seeds (:func:`effscale_timm.stats.welch_interval`).
"""
from __future__ import annotations

import math
import os
import statistics
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..atomic import read_json, write_atomic
from ..files.run_record import RunRecord
from ..report.markdown import DASH
from ..scaling import SCALING_AXES
from ..stats import welch_interval
from .choice import CHOICE_RULE
from .family import B0, STRATEGIES, member_spec, spec_macs, strategy_member
from .figure import LABELS, plot_scaling_law
from .scaling_law import FIT_RULE, bootstrap_fit, fit, predict_held_out
from .steps import runs_by_variant



def _ok(runs: Sequence[RunRecord], key: str) -> List[float]:
    return [float(getattr(r, key)) for r in runs if r.usable]


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


def _load(grid: os.PathLike, chosen: os.PathLike, match: Sequence[os.PathLike],
          runs: Sequence[os.PathLike]) -> Dict[str, Any]:
    members = {}
    for p in match:
        members.update(read_json(p)['members'])
    return dict(runs=runs_by_variant(runs), grid=read_json(grid), chosen=read_json(chosen), members=members,
                chosen_path=chosen)


def member_macs(data) -> Dict[str, float]:
    """MACs of every trained name: the grid's and the match files' measurements; the found family is counted."""
    grid = data['grid']
    macs = {r['name']: r['macs'] for r in grid['kept']}
    macs[B0] = grid['b0_macs']
    macs.update({n: m['macs'] for n, m in data['members'].items()})
    shape = (grid['base_resolution'], grid['num_classes'], grid['in_chans'])
    for name in data['runs']:
        if name not in macs:
            macs[name] = spec_macs(member_spec(name, chosen=data['chosen_path']), *shape)
    return macs


def curves(data, macs, phis: Sequence[int]) -> Dict[str, List[Dict[str, Any]]]:
    """{strategy: [{phi, name, macs, test, val}]}: B0 at phi = 0, the found family's phi = 1 is the chosen one."""
    out = {}
    for s in STRATEGIES:
        points = []
        for phi in [0, *phis]:
            name = strategy_member(s, phi)
            if s == 'compound_found' and phi == 1 and name not in data['runs']:
                name = data['chosen']['name']  # not trained again: the candidate had the family's epochs
            runs = data['runs'].get(name, [])
            if name in macs:
                points.append(dict(phi=phi, name=name, macs=macs[name], test=_ok(runs, 'test_top1'),
                                   val=_ok(runs, 'final_val_top1')))
        out[s] = points
    return out


def search_table(data) -> str:
    grid, chosen = data['grid'], data['chosen']
    lines = ['| candidate | α | β | γ | px | MACs / B0 | val top-1 (95% CI) | test top-1 (95% CI) | same network as |',
             '|---|---|---|---|---|---|---|---|---|']
    for r in grid['kept']:
        runs = data['runs'].get(r['name'], [])
        mark = ' **(chosen)**' if r['name'] == chosen['name'] else ''
        lines.append(f'| `{r["name"]}`{mark} | {r["alpha"]:g} | {r["beta"]:g} | {r["gamma"]:g} | {r["px"]} | '
                     f'{r["ratio"]:.3f} | {_cell(_ok(runs, "final_val_top1"))} | {_cell(_ok(runs, "test_top1"))} | '
                     f'{len(r["same_network"])} other triples |')
    closest = grid.get('closest_rejected')
    note = (f'\nThe grid (α {grid["grid"]["alpha"]}, β {grid["grid"]["beta"]}, γ {grid["grid"]["gamma"]} as low, high, '
            f'step) has {grid["n_candidates"]} triples; {grid["n_within_tolerance"]} measure within '
            f'±{grid["tolerance"]:.0%} of {grid["target_ratio"]:g}× B0\'s MACs at base {grid["base_resolution"]} px '
            f'({grid["b0_macs"] / 1e6:.2f} MMACs), {len(grid["kept"])} distinct networks, trained above.')
    if closest:
        note += (f' The closest rejected triple: α={closest["alpha"]:g}, β={closest["beta"]:g}, '
                 f'γ={closest["gamma"]:g} at {closest["ratio"]:.3f}× B0.')
    return '\n'.join(lines) + '\n' + note + f'\n\nChoice rule: {CHOICE_RULE}.\n'


def _delta_text(d: Dict[str, Any], what: str) -> str:
    if d['delta'] is None:
        return f'{what}: no interval ({d["why_none"]})'
    return f'{what}: Δ = {d["delta"]:+.2f} points, 95% CI [{d["low"]:+.2f}, {d["high"]:+.2f}]'


def choice_section(data) -> str:
    c, paper = data['chosen'], data['chosen']['paper']
    lines = ['| | α | β | γ | mean val top-1 |', '|---|---|---|---|---|',
             f'| chosen (`{c["name"]}`) | {c["alpha"]:g} | {c["beta"]:g} | {c["gamma"]:g} | {c["mean"]:.2f} |',
             f'| paper (`{paper["member"]}`) | {paper["alpha"]:g} | {paper["beta"]:g} | {paper["gamma"]:g} | '
             f'{_fmt(c["vs_paper"]["final_val_top1"]["paper_mean"])} |']
    text = '\n'.join(lines) + '\n\nChosen minus paper at φ = 1 (Welch over seeds): ' + '; '.join(
        _delta_text(c['vs_paper'][k], w) for k, w in (('final_val_top1', 'validation'), ('test_top1', 'test'))) + '.'
    if c.get('paper_is_chosen'):
        text += ' The search chose the paper\'s own coefficients.'
    return text + '\n'


def _fmt(value, digits=2) -> str:
    return DASH if value is None else f'{value:.{digits}f}'


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
    lines = ['| strategy | φ | variant | MMACs | test top-1 (95% CI) | val top-1 |', '|---|---|---|---|---|---|']
    for s, points in curve_map.items():
        for p in points:
            lines.append(f'| {LABELS[s]} | {p["phi"]} | `{p["name"]}` | {p["macs"] / 1e6:.2f} | {_cell(p["test"])} | '
                         f'{_fmt(statistics.fmean(p["val"]) if p["val"] else None)} |')
    return '\n'.join(lines) + '\n'


def _errors(points) -> Dict[float, List[float]]:
    return {p['macs']: [100.0 - t for t in p['test']] for p in points if p['test']}


def fit_strategy(points, phis, hold_out_phi) -> Dict[str, Any]:
    """The scaling law on phi <= K (B0 included), its bootstrap over seeds, and the held-out prediction."""
    fitted = [p for p in points if p['phi'] <= max(phis)]
    held = [p for p in points if hold_out_phi is not None and p['phi'] == hold_out_phi and p['test']]
    out: Dict[str, Any] = dict(n_points=len(_errors(fitted)))
    try:
        boot = bootstrap_fit(_errors(fitted), n_resamples=500, seed=0)
        out.update(fit=boot.fit, intervals=boot.intervals, method=boot.method)
    except ValueError as e:
        try:
            errors = _errors(fitted)
            out.update(fit=fit([c for c, es in errors.items() for _ in es], [e_ for es in errors.values()
                                                                              for e_ in es]),
                       intervals={}, method=f'no bootstrap ({e})')
        except ValueError as e2:
            out.update(fit=None, intervals={}, method=f'no fit ({e2})')
    if held and out['fit'] is not None and out['method'].startswith('stratified'):
        check = predict_held_out({**_errors(fitted), **_errors(held)}, hold_out_macs=[held[0]['macs']],
                                 n_resamples=500, seed=0)
        out['held_out'] = dict(check['held_out'][0], phi=hold_out_phi)
    return out


def _params_text(f) -> str:
    if f.get('fit') is None:
        return f['method']
    parts = []
    for k, v in f['fit'].params.items():
        lo_hi = f['intervals'].get(k)
        parts.append(f'{k} = {v:.4g}' + (f' [{lo_hi[0]:.4g}, {lo_hi[1]:.4g}]' if lo_hi else ''))
    return f'{f["fit"].kind.replace("_", "-")} ({f["fit"].reason}): ' + ', '.join(parts)


def fit_section(fits, hold_out_phi) -> str:
    lines = ['| strategy | fit on φ ≤ K (95% bootstrap CI over seeds) | held-out φ | predicted top-1 (95% CI) | '
             'measured top-1 | inside |', '|---|---|---|---|---|---|']
    for s, f in fits.items():
        h = f.get('held_out')
        if h:
            pred = f'{100 - h["predicted"]:.2f} [{100 - h["high"]:.2f}, {100 - h["low"]:.2f}]'
            inside = 'yes' if h['inside'] else ('within seed noise' if h['inside_with_seed_noise'] else 'no')
            row = f'{h["phi"]} | {pred} | {100 - h["measured"]:.2f} (n={h["n_seeds"]}) | {inside}'
        else:
            row = f'{hold_out_phi if hold_out_phi is not None else DASH} | {DASH} | {DASH} | {DASH}'
        lines.append(f'| {LABELS[s]} | {_params_text(f)} | {row} |')
    return '\n'.join(lines) + f'\n\nFit rule: {FIT_RULE}. Error = 100 − test top-1 (%), C = MACs.\n'


def budget_verdicts(curve_map, phis) -> List[Dict[str, Any]]:
    """Per phi: the found compound member against the single axis best on validation; test top-1, Welch."""
    out = []
    for phi in phis:
        at = {s: next((p for p in curve_map[s] if p['phi'] == phi), None) for s in STRATEGIES}
        singles = [(s, p) for s, p in at.items() if s in SCALING_AXES and p and p['val']]
        compound = at['compound_found']
        if not singles or not compound or not compound['test']:
            out.append(dict(phi=phi, word='not measured'))
            continue
        axis, best = max(singles, key=lambda sp: statistics.fmean(sp[1]['val']))
        d = welch_interval(compound['test'], best['test'])
        word = 'undetermined (fewer than 2 seeds or no spread)' if d is None else (
            'compound wins' if d.low > 0 else 'compound loses' if d.high < 0 else 'no detectable difference')
        out.append(dict(phi=phi, axis=axis, macs=compound['macs'], delta=d.delta if d else
                        statistics.fmean(compound['test']) - statistics.fmean(best['test']),
                        low=d.low if d else None, high=d.high if d else None, word=word))
    return out


def verdict_section(verdicts, dataset) -> str:
    lines = ['| φ | MMACs | best single axis (on validation) | Δ test top-1, compound − it (95% CI) | verdict |',
             '|---|---|---|---|---|']
    for v in verdicts:
        if 'axis' not in v:
            lines.append(f'| {v["phi"]} | {DASH} | {DASH} | {DASH} | {v["word"]} |')
            continue
        ci = f' [{v["low"]:+.2f}, {v["high"]:+.2f}]' if v['low'] is not None else ''
        lines.append(f'| {v["phi"]} | {v["macs"] / 1e6:.2f} | {v["axis"]} | {v["delta"]:+.2f}{ci} | {v["word"]} |')
    wins = [v for v in verdicts if v['word'] == 'compound wins']
    losses = [v for v in verdicts if v['word'] == 'compound loses']
    if wins:
        text = (f'On {dataset}, compound scaling with the found coefficients wins at φ = '
                f'{", ".join(str(v["phi"]) for v in wins)}, by ' +
                ', '.join(f'{v["delta"]:+.2f} points [{v["low"]:+.2f}, {v["high"]:+.2f}]' for v in wins) + '.')
    else:
        text = f'On {dataset}, compound scaling with the found coefficients does not win at any budget measured.'
    if losses:
        text += f' It loses at φ = {", ".join(str(v["phi"]) for v in losses)}.'
    rest = [v for v in verdicts if v not in wins and v not in losses]
    if rest:
        text += (f' At φ = {", ".join(str(v["phi"]) for v in rest)} the difference is within the seed-to-seed '
                 f'noise (or not measurable), so no conclusion there.')
    return '\n'.join(lines) + '\n\n**Verdict.** ' + text + '\n'


def build_search_report(grid: os.PathLike, chosen: os.PathLike, match: Sequence[os.PathLike],
                        runs: Sequence[os.PathLike], n_phis: int, hold_out_phi: Optional[int],
                        out_dir: os.PathLike) -> str:
    """Write ``out_dir/search.md`` and ``out_dir/scaling_law.png`` from the search's files; returns the Markdown."""
    data = _load(grid, chosen, match, runs)
    phis = list(range(1, n_phis + 1))
    all_phis = phis + ([hold_out_phi] if hold_out_phi else [])
    curve_map = curves(data, member_macs(data), all_phis)
    fits = {s: fit_strategy(points, phis, hold_out_phi) for s, points in curve_map.items()}
    dataset = next(iter(data['runs'].values()))[0].dataset or '?'
    out_dir = Path(out_dir)
    plot_scaling_law(curve_map, fits, out_dir / 'scaling_law.png', title=f'{dataset}: accuracy against MACs')
    sections = [
        f'# The paper\'s coefficient search on {dataset}\n',
        '## Search at φ = 1\n', search_table(data), '## Chosen coefficients beside the paper\'s\n',
        choice_section(data), '## Compute spent\n', compute_section(data),
        '## Family curves (B0 is φ = 0 of every strategy)\n', family_table(curve_map),
        '## Scaling law per strategy, with the held-out check\n', fit_section(fits, hold_out_phi),
        '![accuracy against MACs](scaling_law.png)\n',
        '## Verdict per budget\n', verdict_section(budget_verdicts(curve_map, all_phis), dataset)]
    text = '\n'.join(sections)
    write_atomic(out_dir / 'search.md', text.encode())
    return text
