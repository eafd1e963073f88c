"""The training-curves figure: validation top-1 and training loss per epoch, one line per variant, as pycls and timm
plot a run. Drawn from ``epochs.csv``'s table (:func:`effscale_timm.report.tidy.run_tables`) and written by
:mod:`effscale_timm.files.figure`."""
from __future__ import annotations

import os
from pathlib import Path

from ..files.figure import new_figure, save_png

PANELS = (('val_top1', 'validation top-1 (%)'), ('train_loss', 'training loss (epoch mean)'))
AXIS_STYLES = {'baseline': '-', 'depth': '--', 'width': ':', 'resolution': '-.', 'compound': '-'}


def _draw(ax, runs, column: str, colors) -> None:
    """One line per variant (mean over its seeds at each epoch) and, with 2 seeds or more, a band from the lowest to
    the highest seed."""
    for i, (variant, group) in enumerate(runs.groupby('variant', sort=False)):
        seeds = group['seed'].nunique()
        stats = group.groupby('epoch')[column].agg(['mean', 'min', 'max']).dropna()
        if stats.empty:
            continue
        axis = group['axis'].iloc[0]
        line, = ax.plot(stats.index, stats['mean'], color=colors(i % colors.N),
                        linestyle=AXIS_STYLES.get(axis, '-'), linewidth=2.2 if axis == 'compound' else 1.5,
                        marker='o' if len(stats) <= 12 else None, markersize=3, label=f'{variant} ({axis}, n={seeds})')
        if seeds >= 2:
            ax.fill_between(stats.index, stats['min'], stats['max'], color=line.get_color(), alpha=0.18, linewidth=0)


def plot_training_curves(epochs, out_png: os.PathLike, title: str = '') -> Path:
    """Write :func:`curves_figure` of ``epochs`` (the ``epochs.csv`` table) as ``out_png`` (atomically)."""
    return save_png(curves_figure(epochs, title), out_png)


def curves_figure(epochs, title: str = ''):
    """Validation top-1 and training loss against the epoch, one line per variant over its usable (``ok``) runs:
    the mean over seeds, with a band from the lowest to the highest seed (min–max) where a variant has at least 2.
    The line style says the scaling axis; the legend sits outside the axes, so no label covers a curve.

    Args:
        epochs: the ``epochs.csv`` table (a DataFrame with the run keys and the metrics per epoch).
    """
    from matplotlib import colormaps
    from matplotlib.ticker import MaxNLocator

    runs = epochs[epochs['status'] == 'ok']
    variants = runs['variant'].nunique()
    colors = colormaps['tab10' if variants <= 10 else 'tab20']
    fig = new_figure((12, 4.4))
    axes = fig.subplots(1, len(PANELS))
    for ax, (column, label) in zip(axes, PANELS):
        _draw(ax, runs, column, colors)
        ax.set_xlabel('epoch', fontsize=9)
        ax.set_ylabel(label, fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        if not variants:
            ax.text(0.5, 0.5, 'no usable run', ha='center', va='center', transform=ax.transAxes, fontsize=9)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc='outside right upper', fontsize=8,
                   title='variant (axis, seeds)\nline: mean; band: min–max', title_fontsize=8)
    fig.suptitle(title or 'Training curves', fontsize=10)
    return fig
