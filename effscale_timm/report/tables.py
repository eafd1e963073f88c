"""The report's tables: Table 1 (what a reader compares: accuracy with its interval, and compute in three currencies
as multiples of B0) and the network as built (geometry and absolute compute), with their units."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from scipy import stats

from ..decision import SIGNIFICANCE, Pooled
from ..files.run_record import is_finite
from ..scaling import SCALING_AXES
from .compare import baseline_row, upsampled

MIN_FEATURE_MAP = 2  # a final feature map below 2x2 gets a warning
DASH = '—'


def fmt(value, digits: int = 2) -> str:
    return f'{value:.{digits}f}' if is_finite(value) else DASH


def ratio_text(value, base) -> str:
    return f'{value / base:.2f}×' if is_finite(value) and is_finite(base) and base else DASH


def _with_ratio(text: str, value, base) -> str:
    ratio = ratio_text(value, base)
    return f'{text} ({ratio})' if ratio != DASH else text


def multipliers_text(row) -> str:
    if not all(is_finite(row.get(k)) for k in SCALING_AXES):
        return DASH
    return f'{row["depth"]:g}, {row["width"]:g}, {row["resolution"]:.3g}'


def top1_cell(row, pooled: Optional[Pooled]) -> str:
    """Mean test top-1 with its 95% interval over seeds (pooled seed SD and df), and n."""
    if not row['n_ok']:
        return f'{DASH} (n=0)'
    if pooled is None:
        return f'{row["mean"]:.2f} (n={row["n_ok"]})'
    half = stats.t.ppf(1 - SIGNIFICANCE / 2, pooled.df) * pooled.sd / row['n_ok'] ** 0.5
    return f'{row["mean"]:.2f} [{row["mean"] - half:.2f}, {row["mean"] + half:.2f}] (n={row["n_ok"]})'


def input_cell(row) -> str:
    """The input size, and where it stands against the images' own size."""
    if not row.get('input_size'):
        return DASH
    native = row.get('native_size')
    if not is_finite(native):
        return f'{row["input_size"]} px'
    word = 'upsampled from' if upsampled(row) else 'images'
    return f'{row["input_size"]} px ({word} {native} px)'


def results_table(rows: Sequence[Dict[str, Any]], pooled: Optional[Pooled]) -> str:
    """Table 1: per variant its kind, multipliers, test top-1 with its interval, validation top-1, compute as a
    multiple of B0 in three currencies (MACs, activations, measured training time per epoch), input size and runs."""
    header = ['variant', 'axis', 'd, w, r', 'test top-1 % [95% CI] (n)', 'val top-1 %', 'GMACs ×B0',
              'activations ×B0', 'train s/epoch ×B0', 'input', 'runs']
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for row in rows:
        base = baseline_row(rows, row.get('backbone')) or {}  # ×B0: against the row's own backbone's baseline
        cells = [row['variant'], row['axis'] or DASH, multipliers_text(row), top1_cell(row, pooled),
                 fmt(row['val_mean']), ratio_text(row.get('gmacs'), base.get('gmacs')),
                 ratio_text(row.get('mactivations'), base.get('mactivations')),
                 ratio_text(row.get('epoch_s'), base.get('epoch_s')), input_cell(row),
                 f'{row["n_ok"]} ok, {row["n_failed"]} failed, {row["n_missing"]} missing']
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def _repeats_cell(row, base) -> str:
    repeats = row.get('stage_repeats')
    if not repeats:
        return DASH
    base_sum = sum(base['stage_repeats']) if base and base.get('stage_repeats') else None
    return _with_ratio(f'{",".join(map(str, repeats))} = {sum(repeats)}', sum(repeats), base_sum)


def _px_cell(row) -> str:
    if not row.get('input_size'):
        return DASH
    over = row.get('px_over_base')
    return f'{row["input_size"]} ({over:.3f})' if is_finite(over) else str(row['input_size'])


def geometry_table(rows: Sequence[Dict[str, Any]]) -> str:
    """The networks as built and their absolute compute: input (px/base), stage repeats, head channels, final map,
    params, GMACs, activations, measured training throughput and time per epoch, final train loss and top-1."""
    header = ['variant', 'px (px/base)', 'stage repeats = Σ (×B0)', 'head channels (×B0)', 'final map', 'params (M)',
              'GMACs', 'M activations', 'train img/s', 'train s/epoch', 'final train loss', 'train top-1 %']
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for row in rows:
        base = baseline_row(rows, row.get('backbone'))
        fm = row.get('final_feature_map')
        head = row.get('head_channels')
        cells = [row['variant'], _px_cell(row), _repeats_cell(row, base),
                 _with_ratio(str(head), head, base and base.get('head_channels')) if head else DASH,
                 f'{fm[0]}×{fm[1]}' if fm else DASH,
                 fmt(row['params'] / 1e6, 3) if is_finite(row.get('params')) else DASH, fmt(row.get('gmacs'), 4),
                 fmt(row.get('mactivations'), 2), fmt(row.get('img_per_s'), 0), fmt(row.get('epoch_s'), 1),
                 fmt(row.get('train_loss_mean'), 3), fmt(row.get('train_top1_mean'))]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def legend_markdown() -> str:
    """Units and conventions of :func:`results_table` and :func:`geometry_table`."""
    return (
        '**Units.** d, w, r: the depth, width and resolution multipliers asked for, relative to B0 (for another '
        'backbone, MobileNetV2 or ResNet-50, "B0" here and in every ×B0 is that backbone\'s own baseline; a compound '
        'row is compared only with single-axis rows of its own backbone). test top-1: '
        'percent on the test split, mean over the seeds whose run is usable, with its 95% interval from the seed '
        'standard deviation pooled over every arm of the study (the one the verdict uses; none with one seed per '
        'arm); n is the number of seeds. val top-1: the last epoch\'s, mean over the same seeds. Compute as a '
        'multiple of our B0 in three currencies: GMACs (10⁹ multiply-accumulates per image in convolutions and '
        'linear layers, fvcore; the paper\'s FLOPS; FLOPs = 2 × MACs), activations (output elements of convolutions '
        'and linear layers per image, fvcore: Dollár et al., arXiv:2103.06877, find runtime follows them more than '
        'FLOPs) and measured training time per epoch on this hardware (median over each run\'s epochs after the '
        'first, mean over seeds). input: the input size in pixels beside the images\' own (native) size; above it, '
        'the pixels are interpolated. The network as built: px/base is the resolution multiplier after rounding; '
        'stage repeats are the blocks of each of the 7 stages and their sum, ×B0 the effective depth multiplier; '
        'head channels (×B0) the effective width multiplier; final map the last stage\'s feature map (measured); '
        'params: millions of parameters as trained (this dataset\'s classes and channels). Failed and missing runs '
        'are counted in "runs" and never filled in.\n')


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
