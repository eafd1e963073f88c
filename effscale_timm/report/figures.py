"""The report's figures: test top-1 against GMACs per scaling axis (the paper's Figure 8) and the Grad-CAM grid
of every variant on the same images (its Figure 7). Each goes through :mod:`effscale_timm.files.figure`."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..files.cam_file import load_cam
from ..files.figure import new_figure, save_png
from ..files.run_record import is_finite
from ..scaling import SCALING_AXES


CURRENCIES = (('gmacs', 'GMACs per image (conv + linear; FLOPs = 2 × MACs)'),
              ('mactivations', 'M activations per image (conv + linear outputs)'),
              ('epoch_s', 'measured training s per epoch (this hardware)'))


def _series(rows, key: str = 'gmacs') -> Dict[str, List[Dict[str, Any]]]:
    """Per scaling axis, the points to draw against ``key``: the baseline first, then that axis's rows by it."""
    drawable = [r for r in rows if r['n_ok'] and is_finite(r.get(key))]
    base = [r for r in drawable if r['axis'] == 'baseline'][:1]
    series = {}
    for axis in SCALING_AXES + ('compound',):
        points = sorted((r for r in drawable if r['axis'] == axis), key=lambda r: r[key])
        if points:
            series[axis] = base + points
    if not series and base:
        series['baseline'] = base
    return series


def _error_bars(points, key: str = 'gmacs') -> Tuple[List[float], List[float], List[float]]:
    """(x, y, sample std) of the points with at least 2 usable seeds: the only ones that get an error bar."""
    bars = [p for p in points if p['n_ok'] >= 2 and is_finite(p.get('std'))]
    return [p[key] for p in bars], [p['mean'] for p in bars], [p['std'] for p in bars]


def _panel(ax, rows, key: str, label: str, legend: bool) -> None:
    series = _series(rows, key)
    markers = {'depth': 's', 'width': '^', 'resolution': 'D', 'compound': 'o', 'baseline': 'o'}
    for axis, points in series.items():
        line, = ax.plot([p[key] for p in points], [p['mean'] for p in points], marker=markers[axis],
                        label=f'scale {axis}')
        x, y, err = _error_bars(points, key)
        if x:
            ax.errorbar(x, y, yerr=err, fmt='none', ecolor=line.get_color(), capsize=3)
    for p in {p['variant']: p for points in series.values() for p in points}.values():
        ax.annotate(f'{p["variant"]} (n={p["n_ok"]})', (p[key], p['mean']), textcoords='offset points',
                    xytext=(4, 4), fontsize=6)
    if series:
        ax.set_xscale('log')
        ax.margins(x=0.25)  # room for the variant names
        if legend:
            ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, 'not measured for any\nrow with a usable run', ha='center', va='center',
                transform=ax.transAxes, fontsize=8)
    ax.set_xlabel(f'{label}, log scale', fontsize=8)
    ax.grid(True, which='both', alpha=0.3)


def plot_accuracy_vs_flops(rows: Sequence[Dict[str, Any]], out_png: os.PathLike, title: str = '') -> Path:
    """Test top-1 (mean over seeds; error bars = sample std, only where n >= 2) against compute in three currencies
    (GMACs, activations, measured training time per epoch) on log axes, one series per scaling axis starting from
    the baseline (the paper's Figure 8, and Dollár et al.'s point that FLOPs are not runtime). Written atomically."""
    fig = new_figure((15, 4.8))
    axes = fig.subplots(1, len(CURRENCIES), sharey=True)
    for i, (ax, (key, label)) in enumerate(zip(axes, CURRENCIES)):
        _panel(ax, rows, key, label, legend=i == 0)
    axes[0].set_ylabel('test top-1 (%), mean over seeds; bars ± std where n ≥ 2', fontsize=8)
    fig.suptitle(title or 'Accuracy vs compute by scaling axis (Tan & Le, Figure 8)', fontsize=10)
    return save_png(fig, out_png)


def _as_display_image(image: np.ndarray) -> Tuple[np.ndarray, Optional[str]]:
    """C x H x W uint8 -> what ``imshow`` draws, and its colormap (gray for one channel)."""
    if image.shape[0] == 3:
        return np.transpose(image, (1, 2, 0)), None
    return image[0], 'gray'


def _check_comparable(cams: Sequence[Dict[str, Any]], paths: Sequence[os.PathLike]) -> None:
    """``ValueError`` unless every CAM file holds the same images and maps from the same layer."""
    first = cams[0]
    for other, path in zip(cams[1:], paths[1:]):
        same = np.array_equal(other['indices'], first['indices']) and np.array_equal(other['images'], first['images'])
        if not same:
            raise ValueError(f'{path} holds other images than {paths[0]}; make every CAM file with the same '
                             f'dataset, per_class and seed')
    layers = {str(p): cam['target_layer'] for p, cam in zip(paths, cams)}
    if len(set(layers.values())) > 1:
        raise ValueError(f'CAM files made at different layers are not comparable: {layers}; make them with the '
                         f'same effscale cam --stage or --base-resolution')


def read_cam_files(npz_paths: Sequence[os.PathLike]) -> List[Dict[str, Any]]:
    """The CAM files of one grid, read and checked to be of the same images at the same layer.

    Raises:
        DamagedFileError: a file is damaged. ValueError: no files, or files that do not belong in one grid.
    """
    if not npz_paths:
        raise ValueError('cam_grid needs at least one CAM file')
    cams = [load_cam(p) for p in npz_paths]
    _check_comparable(cams, npz_paths)
    return cams


def cam_grid(npz_paths: Sequence[os.PathLike], out_png: os.PathLike, class_names: Optional[Sequence[str]] = None,
             max_images: int = 40, alpha: float = 0.45) -> Path:
    """Draw the maps of several variants on the same images as one PNG (the paper's Figure 7).

    Rows are images; the first column is the input with its true class, then one column per variant (in the order
    given) with the heat map over the image and the predicted class (green when right, red when wrong; "flat" marks
    a map without spatial information).

    Args:
        npz_paths: CAM files (:func:`effscale_timm.files.cam_file.save_cam`) of the same images.
        out_png: the PNG to write (atomically).
        class_names: names of the classes; defaults to those stored in the files.
        max_images: at most this many rows (the first ones).
        alpha: opacity of the heat map.

    Raises:
        ValueError: no files, files made on different images, or at different layers.
    """
    cams = read_cam_files(npz_paths)
    first = cams[0]
    names = list(class_names) if class_names is not None else first['classes']
    rows, cols = min(len(first['labels']), max_images), 1 + len(cams)
    fig = new_figure((1.7 * cols, 1.9 * rows + 0.4))
    axes = fig.subplots(rows, cols, squeeze=False)
    for r in range(rows):
        image, cmap = _as_display_image(first['images'][r])
        true = int(first['labels'][r])
        axes[r, 0].imshow(image, cmap=cmap, interpolation='nearest')
        axes[r, 0].set_xlabel(f'true: {names[true]}', fontsize=7)
        for c, cam in enumerate(cams, start=1):
            pred = int(cam['pred'][r])
            ax = axes[r, c]
            ax.imshow(image, cmap=cmap, interpolation='nearest')
            ax.imshow(cam['cam'][r], cmap='jet', alpha=alpha, vmin=0.0, vmax=1.0, interpolation='bilinear')
            flat = ' (flat)' if bool(cam['flat'][r]) else ''
            ax.set_xlabel(f'true: {names[true]}\npred: {names[pred]}{flat}', fontsize=7,
                          color='tab:green' if pred == true else 'tab:red')
    axes[0, 0].set_title('input', fontsize=8)
    for c, cam in enumerate(cams, start=1):
        axes[0, c].set_title(f'{cam["variant"]}\n({cam["target_layer"]}, {cam["input_size"]} px)', fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle('Grad-CAM of the predicted class (Tan & Le, Figure 7)', fontsize=9)
    return save_png(fig, out_png, dpi=110)
