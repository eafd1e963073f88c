"""The search's figure: test top-1 against MACs per scaling strategy, with each strategy's fitted scaling law."""
from __future__ import annotations

import os
import statistics
from pathlib import Path

import numpy as np

from ..files.figure import new_figure, save_png

LABELS = {'compound_found': 'compound (found α, β, γ)', 'compound_paper': 'compound (paper α, β, γ)',
          'depth': 'depth only', 'width': 'width only', 'resolution': 'resolution only'}


def plot_scaling_law(curve_map, fits, out_png: os.PathLike, title: str = '') -> Path:
    """Test top-1 against MACs per strategy: mean ± std over seeds, the fitted curve (on φ ≤ K), held-out hollow."""
    fig = new_figure((7, 4.5))
    ax = fig.add_subplot()
    for i, (s, points) in enumerate(curve_map.items()):
        color = f'C{i}'
        measured = [p for p in points if p['test']]
        held = fits[s].get('held_out')
        for p in measured:
            is_held = held is not None and p['macs'] == held['macs']
            ax.errorbar(p['macs'], statistics.fmean(p['test']),
                        yerr=statistics.stdev(p['test']) if len(p['test']) > 1 else 0, fmt='o', color=color,
                        mfc='white' if is_held else color, capsize=3)
        f = fits[s].get('fit')
        if f is not None and measured:
            xs = np.geomspace(min(p['macs'] for p in measured), max(p['macs'] for p in measured), 60)
            ax.plot(xs, 100 - f.predict(xs), '-', color=color, label=LABELS[s])
        else:
            ax.plot([], [], 'o', color=color, label=LABELS[s])
    ax.set_xscale('log')
    ax.set_xlabel('multiply-adds per image (fvcore)')
    ax.set_ylabel('test top-1 (%)')
    ax.set_title(title or 'accuracy against compute per scaling strategy (hollow: held out)')
    ax.legend(fontsize=8)
    return save_png(fig, out_png)
