"""The report's figure: test top-1 against GMACs per scaling axis (the paper's Figure 8)."""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

from .atomic import write_atomic
from .report_runs import SINGLE_AXES, is_finite_number


def _series(rows) -> Dict[str, List[Dict[str, Any]]]:
    """Per scaling axis, the points to draw: the baseline first, then that axis's rows by compute."""
    drawable = [r for r in rows if r['n_ok'] and is_finite_number(r.get('gmacs'))]
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
    bars = [p for p in points if p['n_ok'] >= 2 and is_finite_number(p.get('std'))]
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
