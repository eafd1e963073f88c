"""The design-space study's report: the samples and how they were drawn (rejections counted), the interior against
the near-single-axis corners by their error EDFs with bootstrap intervals, the share regression with t intervals,
the figure, and the answer in words, or "no conclusion" and why.

:func:`build_design_report` (``effscale search design-report --samples S --runs R1 .. --out-dir D``) writes
``D/design_space.md`` and ``D/design_space.png``; the numbers are :mod:`effscale_timm.search.design_analysis`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Sequence

from ..atomic import write_atomic
from ..backbones import DEFAULT_BACKBONE, get_backbone
from ..files.search_files import read_search_file
from ..report.markdown import DASH
from ..report.tidy import write_run_tables
from . import design_analysis as da
from .design_space import CORNER_SHARE
from .evidence import near_chance, no_conclusion_text
from .figure import plot_design_space
from .steps import runs_by_variant


def _load(samples: os.PathLike, runs: Sequence[os.PathLike]) -> Dict[str, Any]:
    data = read_search_file(samples, 'samples')
    by_name = runs_by_variant(runs)
    unknown = sorted(set(by_name) - set(data['members']))
    if unknown:
        raise ValueError(f'design-report: runs of {unknown} are not samples of {samples}')
    rows = []
    for name, m in data['members'].items():
        run = next((r for r in by_name.get(name, []) if r.usable), None)
        rows.append(dict(m, run=run, error=None if run is None else 100.0 - run.test_top1))
    data['rows'], data['runs'] = rows, [r for rs in by_name.values() for r in rs]
    return data


def base_name(data) -> str:
    """What the regime multiplies: B0 for EfficientNet, else the backbone's title at multipliers 1."""
    backbone = data.get('backbone', DEFAULT_BACKBONE)
    return 'B0' if backbone == DEFAULT_BACKBONE else get_backbone(backbone).title


def samples_section(data, labels) -> str:
    rejected = data['rejected']
    base = base_name(data)
    lines = ['| sample | built shares: depth / width / resolution (drawn) | group | depth (blocks) | width | px | '
             f'MACs / {base} | test top-1 | val cross-entropy |', '|---|---|---|---|---|---|---|---|---|']
    for row, group in zip(data['rows'], labels):
        run = row['run']
        top1 = f'{run.test_top1:.2f}' if run else 'no usable run'
        loss = f'{run.final_val_loss:.3f}' if run and run.final_val_loss is not None else DASH
        shares = ' / '.join(f'{s:.2f}' for s in row['shares'])
        drawn = ' / '.join(f'{s:.2f}' for s in row['drawn_shares'])
        lines.append(f'| `{row["name"]}` | {shares} ({drawn}) | {group} | '
                     f'{row["depth"]:.2f} ({row["blocks"]}) | {row["width"]:.2f} | {row["px"]} | {row["ratio"]:.3f} | '
                     f'{top1} | {loss} |')
    head = (f'{data["samples"]} networks at {data["regime"]:g}× {base}\'s MACs ({base}: {data["b0_macs"] / 1e6:.2f} '
            f'MMACs at '
            f'base {data["base_resolution"]} px), measured within ±{data["tolerance"]:.0%}, seed {data["seed"]}. '
            f'Sampling: {data["rule"]}. {data["draws"]} draws: {rejected["no_scale_within_tolerance"]} rejected '
            f'because rounding (repeats, channels, pixels) let no scale land within the tolerance, '
            f'{rejected["same_network"]} because they built a network already drawn, {rejected["group_full"]} '
            f'because their group was full. Groups: a corner has a largest built share ≥ {CORNER_SHARE:.3g} (one axis '
            f'carries two thirds of the log-compute or more); {labels.count("corner")} corners, '
            f'{labels.count("interior")} interior.\n\n')
    return head + '\n'.join(lines) + '\n'


def edf_section(edf) -> str:
    if edf['why']:
        return f'No comparison: {edf["why"]}.\n'
    lines = ['| statistic (interior vs corners) | estimate | 95% CI |', '|---|---|---|']
    for key, what in (('delta_mean', 'Δ mean error, interior − corners (points)'),
                      ('delta_median', 'Δ median error, interior − corners (points)'),
                      ('p_interior_better', 'P(an interior sample has lower error than a corner sample)')):
        r = edf[key]
        lines.append(f'| {what} | {r["estimate"]:+.3f} | [{r["low"]:+.3f}, {r["high"]:+.3f}] |')
    return (f'Groups: {edf["n_interior"]} interior, {edf["n_corner"]} corners. ' + '\n\n' + '\n'.join(lines) +
            f'\n\nIntervals: {edf["method"]}. The primary statistic is the difference of means.\n')


def regression_section(reg) -> str:
    if reg['why']:
        return f'No regression: {reg["why"]}.\n'
    lines = ['| term | coefficient (points of error) | 95% CI | p |', '|---|---|---|---|']
    for term, r in reg['coefficients'].items():
        lines.append(f'| {term} | {r["estimate"]:+.2f} | [{r["low"]:+.2f}, {r["high"]:+.2f}] | {r["p"]:.3g} |')
    lines += ['', '| balanced network (a third each) minus | Δ predicted error (points) | 95% CI |', '|---|---|---|']
    for axis, r in reg['balanced_minus_pure'].items():
        lines.append(f'| pure {axis} | {r["estimate"]:+.2f} | [{r["low"]:+.2f}, {r["high"]:+.2f}] |')
    return ('\n'.join(lines) + f'\n\nModel: {reg["rule"]} (n = {reg["n"]}, s = {reg["s"]:.3f} points, {reg["df"]} df). '
            f'A linear term is the predicted error of the pure single-axis network at this compute (extrapolated '
            f'where no sample lies near that corner); a negative product term says that mixing those two axes '
            f'lowers the error.\n')


def _regression_words(reg) -> str:
    if reg['why']:
        return ''
    helps = [a for a, r in reg['balanced_minus_pure'].items() if r['high'] < 0]
    hurts = [a for a, r in reg['balanced_minus_pure'].items() if r['low'] > 0]
    words = ' The regression: the balanced network'
    words += (f' beats pure {", ".join(helps)}' if helps else '') + (' and' if helps and hurts else '')
    words += (f' loses to pure {", ".join(hurts)}' if hurts else '')
    return words + ('.' if helps or hurts else ' is not separated from any pure axis.')


def answer_section(data, edf, reg, labels) -> str:
    dataset = next((r.dataset for r in data['runs'] if r.dataset), '?')
    usable = [r['run'] for r in data['rows'] if r['run']]
    reasons: List[str] = [r for r in [near_chance(usable, data['num_classes'])] if r]
    subsets = sorted({r.max_train_samples for r in usable if r.max_train_samples})
    if subsets:
        reasons.append(f'training on a fixed subset of {", ".join(f"{n:,}" for n in subsets)} images')
    reasons += [w for w in (edf['why'], reg['why']) if w]
    epochs = sorted({r.epochs for r in usable if r.epochs})
    found = da.answer(edf)
    where = (f'On {dataset} at {data["regime"]:g}× {base_name(data)} ({"/".join(map(str, epochs)) or "?"} epochs, '
             f'one run each)')
    if reasons:
        text = no_conclusion_text(reasons) + (f' (For the record: {found}.)' if found else '')
    else:
        text = f'{where}, {found}.' + _regression_words(reg)
    return f'**Answer.** {text}\n'


def build_design_report(samples: os.PathLike, runs: Sequence[os.PathLike], out_dir: os.PathLike) -> str:
    """Write ``out_dir/design_space.md`` and ``out_dir/design_space.png``; returns the Markdown."""
    data = _load(samples, runs)
    rows = [r for r in data['rows'] if r['error'] is not None]
    shares, errors = [r['shares'] for r in rows], [r['error'] for r in rows]
    labels_all = da.groups([r['shares'] for r in data['rows']])
    labels = da.groups(shares)
    edf = da.edf_comparison(errors, labels, seed=data['seed'])
    reg = da.share_regression(shares, errors)
    out_dir = Path(out_dir)
    plot_design_space(shares, errors, labels, out_dir / 'design_space.png',
                      title=f'{data["regime"]:g}× {base_name(data)}: error EDFs and error against each share')
    hours = sum(r.wall_time_s or 0 for r in data['runs']) / 3600
    hardware = ', '.join(sorted({str(r.hardware) for r in data['runs'] if r.hardware})) or DASH
    sections = [f'# The design space at {data["regime"]:g}× {base_name(data)}\'s compute\n',
                answer_section(data, edf, reg, labels),
                '## Samples\n', samples_section(data, labels_all),
                '## Interior against the near-single-axis corners (error EDFs)\n', edf_section(edf),
                '## Which share of log-compute helps (mixture regression)\n', regression_section(reg),
                '![error EDFs and error against each share](design_space.png)\n', '## Compute spent\n',
                f'{len(data["runs"])} runs, {hours:.3f} h of training wall time on {hardware}.\n']
    text = '\n'.join(sections)
    write_atomic(out_dir / 'design_space.md', text.encode())
    write_run_tables(data['runs'], out_dir / 'design_space_runs.csv', out_dir / 'design_space_epochs.csv',
                     [{'variant': m['name'], 'gmacs': m['macs'] / 1e9} for m in data['members'].values()])
    return text
