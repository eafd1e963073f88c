"""The study's report: accuracy vs compute per scaling axis, reference numbers beside it, and a verdict.

Paper: `EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks` - https://arxiv.org/abs/1905.11946
(Tan & Le, 2019). Table 7 compares B0 scaled by depth, width, resolution and by all three (compound) at ~1.8B
multiply-adds on ImageNet; Figure 8 plots accuracy against FLOPS per scaling method; Figure 7 shows class
activation maps. The seed study's Table 1 repeated the comparison on CIFAR-10 (its FLOPs are 2 x multiply-adds).

:func:`build_report` reads the runs' ``final.json`` files, the variants' profile JSONs and the CAM files, and writes
``table1.md`` (one row per variant, mean +/- std of test top-1 over the seeds that finished, failed and missing runs
counted and never filled in), ``accuracy_vs_flops.png`` and ``cams.png``. The verdict compares each compound row
with the best single-axis row: whether compute is matched within +/-5%, the difference in mean top-1, and whether it
exceeds the spread between seeds, defined as the *sum of the two sample standard deviations* (ddof=1).
"""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import re
import statistics
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .atomic import write_atomic
from .reference import reference_table
from .scaling import FLOP_TOLERANCE

__all__ = ['AXES', 'scaling_axis', 'load_runs', 'summarize', 'attach_references', 'verdict', 'table_markdown',
           'plot_accuracy_vs_flops', 'build_report', 'parse_expected', 'add_arguments', 'run_cli']

AXES = ('baseline', 'depth', 'width', 'resolution', 'compound')
SINGLE_AXES = ('depth', 'width', 'resolution')
COMPUTE_TOLERANCE = FLOP_TOLERANCE  # compute counts as matched when the GMACs ratio is within 1 +/- this
DASH = '—'
_SEED_DIR = re.compile(r'^seed(\d+)$')
REFERENCE_COLUMNS = (  # (table, header, compute key, compute unit in the header)
    ('seed_table1', 'seed study Table 1 (CIFAR-10): GFLOPs = 2×MACs / top-1 %', 'flops_b', 'GFLOPs'),
    ('table7', 'paper Table 7 (ImageNet): GMACs / top-1 %', 'macs_b', 'GMACs'),
)


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
    return run


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


def _profile_row(profile: Dict[str, Any]) -> Dict[str, Any]:
    keys = ('variant', 'depth', 'width', 'resolution', 'input_size', 'params', 'gmacs', 'gmacs_total', 'gflops')
    return {k: profile.get(k) for k in keys}


def summarize(runs: Sequence[Dict[str, Any]], profiles: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """One row per variant (profile order, then variants that only have runs): multipliers, axis, compute, and
    test top-1 mean / sample std (ddof=1) over the finished seeds, with ok / failed / missing counts."""
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
        top1 = [float(r['test_top1']) for r in mine if r['status'] == 'ok']
        known = all(_finite(row.get(k)) for k in SINGLE_AXES)
        row.update(
            axis=scaling_axis(row['depth'], row['width'], row['resolution']) if known else None,
            seeds_ok=[r['seed'] for r in mine if r['status'] == 'ok'], top1=top1, n_ok=len(top1),
            n_failed=sum(r['status'] == 'failed' for r in mine), n_missing=sum(r['status'] == 'missing' for r in mine),
            failures=[(r['seed'], r.get('error')) for r in mine if r['status'] == 'failed'],
            mean=statistics.mean(top1) if top1 else None,
            std=statistics.stdev(top1) if len(top1) >= 2 else None,
        )
        out.append(row)
    return out


def _log_distance(row: Dict[str, Any], ref: Dict[str, Any]) -> float:
    return sum(abs(math.log(row[k] / ref[k])) for k in SINGLE_AXES)


def _baseline_value(rows, key):
    base = [r for r in rows if r['axis'] == 'baseline' and _finite(r.get(key))]
    return base[0][key] if base else None


def attach_references(rows: List[Dict[str, Any]]) -> List[Tuple[str, Dict[str, Any]]]:
    """Put each reference row (seed study Table 1, paper Table 7) beside the variant row it belongs to.

    Candidates are the rows of the same axis. With several candidates, a reference that gives its multipliers goes to
    the closest row in log-multiplier distance; one that does not goes to the row whose compute relative to the
    baseline is closest to the reference's own ratio.

    Returns:
        The ``(table, reference row)`` pairs that matched no variant; each row gets ``row['refs'][table]``.
    """
    for row in rows:
        row['refs'] = {}
    unmatched = []
    base_gmacs = _baseline_value(rows, 'gmacs')
    for table, _header, compute_key, _unit in REFERENCE_COLUMNS:
        ref_rows = reference_table(table)['rows']
        ref_base = next((r[compute_key] for r in ref_rows if r['axis'] == 'baseline'), None)
        for ref in ref_rows:
            candidates = [r for r in rows if r['axis'] == ref['axis']]
            if not candidates:
                unmatched.append((table, ref))
                continue
            if len(candidates) > 1 and all(ref[k] is not None for k in SINGLE_AXES):
                candidates.sort(key=lambda r: _log_distance(r, ref))
            elif len(candidates) > 1 and base_gmacs and ref_base:
                target = ref[compute_key] / ref_base
                candidates.sort(key=lambda r: abs(math.log(r['gmacs'] / base_gmacs / target))
                                if _finite(r.get('gmacs')) else math.inf)
            candidates[0]['refs'][table] = ref
    return unmatched


def _fmt(value, digits: int = 2) -> str:
    return f'{value:.{digits}f}' if _finite(value) else DASH


def _top1_cell(row) -> str:
    if not row['n_ok']:
        return f'{DASH} (n=0)'
    return f'{row["mean"]:.2f} ± {_fmt(row["std"])} (n={row["n_ok"]})'


def _ref_cell(row, table, compute_key) -> str:
    ref = row['refs'].get(table)
    if ref is None:
        return ''
    return f'{ref[compute_key]:g} / {ref["top1"]:g} ({ref["method"]})'


def _multipliers(row) -> str:
    if not all(_finite(row.get(k)) for k in SINGLE_AXES):
        return DASH
    return f'{row["depth"]:g}, {row["width"]:g}, {row["resolution"]:.3g}'


def table_markdown(rows: Sequence[Dict[str, Any]]) -> str:
    """The variant table as GitHub markdown (rows from :func:`summarize` after :func:`attach_references`)."""
    header = ['variant', 'axis', 'd, w, r', 'px', 'params (M)', 'GMACs (conv+linear)', 'GFLOPs (2×MACs)',
              'test top-1 % (mean ± std, n)', 'runs'] + [h for _t, h, _k, _u in REFERENCE_COLUMNS]
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for row in rows:
        cells = [row['variant'], row['axis'] or DASH, _multipliers(row),
                 str(row['input_size']) if row.get('input_size') else DASH,
                 _fmt(row['params'] / 1e6, 3) if _finite(row.get('params')) else DASH,
                 _fmt(row.get('gmacs'), 4), _fmt(row.get('gflops'), 4), _top1_cell(row),
                 f'{row["n_ok"]} ok, {row["n_failed"]} failed, {row["n_missing"]} missing']
        cells += [_ref_cell(row, table, key) for table, _h, key, _u in REFERENCE_COLUMNS]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def legend_markdown() -> str:
    """Units and conventions of :func:`table_markdown`'s columns."""
    seed, paper = reference_table('seed_table1'), reference_table('table7')
    return (
        '**Units.** d, w, r: depth, width and resolution multipliers relative to B0. px: input size in pixels. '
        'params: millions of parameters as trained (this dataset\'s classes and channels). '
        'GMACs: 10⁹ multiply-accumulates per image in convolutions and linear layers (fvcore), the count the paper '
        'calls FLOPS; batch norm and element-wise ops (SiLU, sigmoid, squeeze-excite multiply, residual add) are not '
        'counted. GFLOPs = 2 × GMACs. test top-1: accuracy on the test split in percent, mean ± sample standard '
        f'deviation (ddof=1) over the seeds that finished; n is their number, and the std is {DASH} when n < 2. '
        'Failed and missing runs are counted in "runs" and never filled in. '
        f'Seed study Table 1: {seed["dataset"]}, {seed["units"]["flops_b"]} (compare with the GFLOPs column), '
        f'top-1 in percent. Paper Table 7: {paper["dataset"]}, {paper["units"]["macs_b"]} (compare with the GMACs '
        'column), top-1 in percent. Reference rows sit beside the variant of the same scaling axis; their accuracies '
        'come from other datasets and recipes, so only the ordering of the axes is comparable.\n')


def _pick_best_single(rows, compound=None):
    """The best single-axis row; against a compound row, the best among those at its compute (±5%) when any are."""
    singles = [r for r in rows if r['axis'] in SINGLE_AXES and r['n_ok']]
    if compound is not None and _finite(compound.get('gmacs')):
        matched = [r for r in singles if _finite(r.get('gmacs'))
                   and abs(compound['gmacs'] / r['gmacs'] - 1) <= COMPUTE_TOLERANCE]
        singles = matched or singles
    return max(singles, key=lambda r: r['mean']) if singles else None


def _compute_sentence(comp, best) -> Tuple[str, bool]:
    if not (_finite(comp.get('gmacs')) and _finite(best.get('gmacs'))):
        return 'Compute cannot be compared (no profile for one of them).', False
    ratio = comp['gmacs'] / best['gmacs']
    counts = f'{comp["gmacs"]:.4g} vs {best["gmacs"]:.4g} GMACs, ratio {ratio:.3f}'
    if abs(ratio - 1) <= COMPUTE_TOLERANCE:
        return f'Compute is matched within ±{COMPUTE_TOLERANCE:.0%} ({counts}).', True
    return (f'Warning: compute is not matched: the compound model uses {ratio:.2f}× the multiply-adds of '
            f'{best["variant"]} ({counts}), outside ±{COMPUTE_TOLERANCE:.0%}; the accuracy difference is confounded '
            f'with compute.'), False


def _spread_sentence(comp, best, delta) -> Tuple[str, Optional[bool]]:
    if comp['std'] is None or best['std'] is None:
        short = [f'{r["variant"]} (n={r["n_ok"]})' for r in (comp, best) if r['std'] is None]
        return (f'The spread between seeds is unknown: fewer than 2 finished seeds for {", ".join(short)}, so it '
                f'cannot be said whether the difference is more than seed noise.'), None
    spread = comp['std'] + best['std']
    exceeds = abs(delta) > spread
    relation = 'exceeds' if exceeds else 'does not exceed'
    return (f'|Δ| = {abs(delta):.2f} points {relation} the seed spread, taken as the sum of the two sample standard '
            f'deviations ({comp["std"]:.2f} + {best["std"]:.2f} = {spread:.2f} points).'), exceeds


def _conclusion(delta, exceeds, matched) -> str:
    if exceeds is None:
        text = 'No conclusion beyond the point estimate.'
    elif not exceeds:
        text = 'Within seed noise: no difference between compound and single-axis scaling is shown.'
    elif delta > 0:
        text = 'Compound scaling is better than the best single-axis scaling beyond seed noise.'
    else:
        text = 'Compound scaling is worse than the best single-axis scaling beyond seed noise.'
    return text if matched else text + ' (Compute not matched: read with care.)'


def _reference_sentence(table: str, compute_key: str) -> str:
    ref = reference_table(table)
    rows = {r['axis']: r for r in ref['rows']}
    comp = rows['compound']
    best = max((rows[a] for a in SINGLE_AXES), key=lambda r: r['top1'])
    delta = comp['top1'] - best['top1']
    return (f'{ref["title"].split(":")[0]} ({ref["dataset"]}): compound {comp["top1"]:g}% vs best single axis '
            f'{best["method"]} {best["top1"]:g}%, Δ = {delta:+.2f} points, at {comp[compute_key]:g} vs '
            f'{best[compute_key]:g} B ({"2×MACs" if compute_key == "flops_b" else "MACs"}).')


def verdict(rows: Sequence[Dict[str, Any]]) -> str:
    """The verdict paragraph, computed from the rows: each compound row against the best single-axis row."""
    best = _pick_best_single(rows)
    comps = [r for r in rows if r['axis'] == 'compound' and r['n_ok']]
    missing = []
    if best is None:
        missing.append('no single-axis (depth, width or resolution) variant has a finished run')
    if not comps:
        missing.append('no compound variant has a finished run')
    if missing:
        return 'No verdict: ' + '; '.join(missing) + '.\n'
    lines = [f'Rule: a difference in mean test top-1 counts as real when it exceeds the sum of the two sample '
             f'standard deviations over seeds; compute is matched when the GMACs ratio is within '
             f'±{COMPUTE_TOLERANCE:.0%}. Each compound row is compared with the best single-axis row at its compute '
             f'(within ±{COMPUTE_TOLERANCE:.0%}) when there is one (FLOP-matched variants, config `flop_match`), else '
             f'with the best single-axis row overall: {best["variant"]} ({best["axis"]}, {best["mean"]:.2f}%, '
             f'n={best["n_ok"]}).', '']
    for comp in comps:
        best = _pick_best_single(rows, comp)
        delta = comp['mean'] - best['mean']
        direction = 'better than' if delta > 0 else 'worse than' if delta < 0 else 'level with'
        compute, matched = _compute_sentence(comp, best)
        spread, exceeds = _spread_sentence(comp, best, delta)
        lines.append(f'- **{comp["variant"]}** ({comp["mean"]:.2f}%, n={comp["n_ok"]}) is {direction} '
                     f'{best["variant"]} by {abs(delta):.2f} points (Δ = {delta:+.2f}). {compute} {spread} '
                     f'{_conclusion(delta, exceeds, matched)}')
    incomplete = [r for r in rows if r['n_failed'] or r['n_missing']]
    if incomplete:
        lines += ['', 'Incomplete data: ' + '; '.join(
            f'{r["variant"]} {r["n_failed"]} failed, {r["n_missing"]} missing' for r in incomplete)
            + '. These runs are left out of every mean, not filled in.']
    lines += ['', 'For reference: ' + ' '.join(_reference_sentence(t, k) for t, _h, k, _u in REFERENCE_COLUMNS)]
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


def plot_accuracy_vs_flops(rows: Sequence[Dict[str, Any]], out_png: os.PathLike, title: str = '') -> Path:
    """Test top-1 (mean, error bars = sample std over seeds) against GMACs on a log axis, one series per scaling
    axis starting from the baseline (the paper's Figure 8). Written atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.6), layout='constrained')
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    series = _series(rows)
    markers = {'depth': 's', 'width': '^', 'resolution': 'D', 'compound': 'o', 'baseline': 'o'}
    for axis, points in series.items():
        ax.errorbar([p['gmacs'] for p in points], [p['mean'] for p in points],
                    yerr=[p['std'] or 0.0 for p in points], marker=markers[axis], capsize=3, label=f'scale {axis}')
    labelled = {p['variant']: p for points in series.values() for p in points}
    for p in labelled.values():
        ax.annotate(p['variant'], (p['gmacs'], p['mean']), textcoords='offset points', xytext=(4, 4), fontsize=7)
    if series:
        ax.set_xscale('log')
        ax.margins(x=0.2)  # room for the variant names
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, 'no finished runs with a profile', ha='center', va='center', transform=ax.transAxes)
    ax.set_xlabel('GMACs per image (conv + linear; FLOPs = 2 × MACs), log scale')
    ax.set_ylabel('test top-1 (%), mean ± std over seeds')
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


def build_report(run_jsons: Sequence[os.PathLike], profile_jsons: Sequence[os.PathLike],
                 cam_npzs: Sequence[os.PathLike], out_dir: os.PathLike,
                 expected_runs: Optional[Sequence[Tuple[str, int]]] = None) -> Dict[str, Any]:
    """Write ``table1.md``, ``accuracy_vs_flops.png`` and ``cams.png`` (when CAM files are given) to ``out_dir``.

    Args:
        run_jsons: the runs' ``final.json`` paths; a path that does not exist is a missing run.
        profile_jsons: the variants' profile JSONs (:func:`effscale_timm.profile.profile_variant`), in the order
            the table lists them.
        cam_npzs: CAM files (:func:`effscale_timm.cam.save_cam`), one grid column each; may be empty.
        out_dir: output folder (created).
        expected_runs: (variant, seed) pairs the study should have; those without a file are missing.

    Returns:
        ``{'rows', 'verdict', 'table_md', 'figure', 'cams'}`` (cams is None when skipped).
    """
    out_dir = Path(out_dir)
    runs = load_runs(run_jsons, expected_runs)
    profiles = [json.loads(Path(p).read_text()) for p in profile_jsons]
    rows = summarize(runs, profiles)
    unmatched = attach_references(rows)
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
    unmatched_md = ''.join(f'- {reference_table(t)["title"]}: "{ref["method"]}" has no {ref["axis"]} variant here.\n'
                           for t, ref in unmatched)
    text = verdict(rows)
    md = '\n'.join([
        f'# Scaling study: {dataset}', '',
        '## Table 1: accuracy and compute per variant', '', table_markdown(rows), legend_markdown(),
        _failures_markdown(rows), _hardware_markdown(runs),
        ('Reference rows without a variant:\n' + unmatched_md) if unmatched_md else '',
        '## Verdict', '', text,
        '## Figures', '', '![Test top-1 vs GMACs per scaling axis](accuracy_vs_flops.png)', '', cam_md,
    ])
    table_md = write_atomic(out_dir / 'table1.md', re.sub(r'\n{3,}', '\n\n', md).encode())
    return {'rows': rows, 'verdict': text, 'table_md': table_md, 'figure': figure, 'cams': cams}


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
    return parser


def run_cli(args: argparse.Namespace) -> Dict[str, Any]:
    """Run ``effscale report``."""
    return build_report(args.runs, args.profiles, args.cams, args.out_dir, parse_expected(args.expected))
