"""The search's figure: test error and validation cross-entropy against MACs per scaling strategy, each with its
fitted scaling law (held-out phi hollow, single-seed fractional phi small)."""
from __future__ import annotations

import os
import statistics
from pathlib import Path

import numpy as np

from ..files.figure import new_figure, save_png

LABELS = {'compound_found': 'compound (found α, β, γ)', 'compound_paper': 'compound (paper α, β, γ)',
          'depth': 'depth only', 'width': 'width only', 'resolution': 'resolution only'}
_PANELS = (('error', 'test error (%) = 100 − top-1'), ('loss', 'validation cross-entropy (nats)'))


def _values(point, key):
    return [100.0 - t for t in point['test']] if key == 'error' else list(point['loss'])


def _panel(ax, curve_map, laws, key: str, ylabel: str) -> None:
    for i, (s, points) in enumerate(curve_map.items()):
        color, law = f'C{i}', laws[s][key]
        held = (law.get('held_out') or {}).get('phi')
        measured = [p for p in points if _values(p, key)]
        for p in measured:
            values = _values(p, key)
            ax.errorbar(p['macs'], statistics.fmean(values), yerr=statistics.stdev(values) if len(values) > 1 else 0,
                        fmt='o', color=color, mfc='white' if p['phi'] == held else color, capsize=3,
                        ms=6 if len(values) > 1 else 4)
        f = law.get('fit')
        fitted = [p for p in measured if p['phi'] != held]
        if f is not None and fitted:
            xs = np.geomspace(min(p['macs'] for p in fitted), max(p['macs'] for p in measured), 60)
            ax.plot(xs, f.predict(xs), '-' if f.kind == 'power_law' else '--', color=color, label=LABELS[s])
        else:
            ax.plot([], [], 'o', color=color, label=LABELS[s])
    ax.set_xscale('log')
    ax.set_xlabel('multiply-adds per image (fvcore)')
    ax.set_ylabel(ylabel)


def plot_scaling_law(curve_map, laws, out_png: os.PathLike, title: str = '') -> Path:
    """Error and cross-entropy against MACs per strategy: mean ± std over seeds, the fitted law (solid: power law,
    dashed: log-linear) on B0 and the fitted phi, the held-out phi hollow and extrapolated to."""
    fig = new_figure((12, 4.8))
    axes = fig.subplots(1, 2)
    for ax, (key, ylabel) in zip(axes, _PANELS):
        _panel(ax, curve_map, laws, key, ylabel)
    axes[0].legend(fontsize=8)
    fig.suptitle(title or 'error against compute per scaling strategy (hollow: held out)')
    return save_png(fig, out_png)


def _edf(ax, errors, labels) -> None:
    for group, color in (('interior', 'C0'), ('corner', 'C3')):
        values = np.sort([e for e, g in zip(errors, labels) if g == group])
        if values.size:
            ax.step(np.r_[values[0], values], np.r_[0, np.arange(1, values.size + 1) / values.size], where='post',
                    color=color, label=f'{group} (n={values.size})')
    ax.set_xlabel('test error (%)')
    ax.set_ylabel('cumulative share of samples (EDF)')
    ax.legend(fontsize=8)


def plot_design_space(shares, errors, labels, out_png: os.PathLike, title: str = '') -> Path:
    """The design-space study: the error EDFs of the interior and the near-single-axis corners, and error against each
    axis's share of log-compute (corners red)."""
    fig = new_figure((13, 3.8))
    axes = fig.subplots(1, 4)
    _edf(axes[0], errors, labels)
    colors = ['C3' if g == 'corner' else 'C0' for g in labels]
    for i, (ax, axis) in enumerate(zip(axes[1:], ('depth', 'width', 'resolution'))):
        ax.scatter([s[i] for s in shares], errors, c=colors, s=18)
        ax.set_xlabel(f'{axis} share of log-compute')
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylabel('test error (%)' if i == 0 else '')
    fig.suptitle(title or 'design space: error EDFs and error against each share')
    return save_png(fig, out_png)
