"""The study's variants: their names (read from the config alone, at parse time) and their multipliers, resolved when
a job needs them: custom variants registered in timm's registry, FLOP-matched ones solved on measured MACs (and
cached, so that cluster jobs do not solve again).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List

from ..atomic import write_json
from ..backbones import DEFAULT_BACKBONE, get_backbone
from ..errors import ConfigError
from ..files.damage import DamagedFileError, read_json_object
from ..flops import macs_of, match_flops
from ..models import baseline_name, register_variant, resolve_variant
from ..scaling import SCALING_AXES, VARIANT_FIELDS, round_resolution
from .checks import check_config, entry_spec, flop_match_blocks

# (number of classes, input channels) of the datasets whose shape is known before preparing them
DATASET_SHAPES = {'fashion_mnist': (10, 1), 'digits': (10, 1), 'cifar10': (10, 3), 'cifar100': (100, 3),
                  'imagenette': (10, 3)}


def variant_names(config: Dict[str, Any]) -> List[str]:
    """The names of every variant the study trains, in order, without building or measuring anything."""
    names = [e if isinstance(e, str) else e['name'] for e in config.get('variants') or ()]
    return names + [name for block in flop_match_blocks(config) for name in block['names'].values()]


def _scaled_axes(spec: Dict[str, Any]) -> int:
    return sum(abs(float(spec[a]) - 1.0) > 1e-9 for a in SCALING_AXES)


def budget_variants(config: Dict[str, Any]) -> List[str]:
    """The variants the budget check (config ``budget_check``) trains again at more epochs, from the config alone
    (nothing is built or measured): with ``flop_match`` on a compound variant, that variant and its FLOP-matched
    axes (matched by construction); otherwise every compound variant (more than one axis scaled) and every
    single-axis variant (which of them are at a compound row's compute is only measured later)."""
    backbone = config.get('backbone', DEFAULT_BACKBONE)
    specs = {s['name']: s for s in (entry_spec(i, e, backbone) for i, e in enumerate(config.get('variants') or ()))}
    compound = [n for n, spec in specs.items() if _scaled_axes(spec) > 1]
    blocks = [b for b in flop_match_blocks(config) if b['target'] in compound]
    if blocks:
        return [name for b in blocks for name in [b['target'], *b['names'].values()]]
    return compound + [n for n, spec in specs.items() if _scaled_axes(spec) == 1]


def resolve_variants(config: Dict[str, Any], cache: os.PathLike = None) -> Dict[str, Dict[str, Any]]:
    """``{name: {'depth', 'width', 'resolution', 'dropout', 'note'}}`` for every variant the study trains.

    Custom variants are registered in timm's registry. With ``flop_match: {target: NAME, axes: [...]}`` one variant
    per axis, ``effscale_{axis}_matched`` (``NAME_{axis}_matched`` for each block of a list), is added whose
    measured MACs are within :data:`~effscale_timm.scaling.FLOP_TOLERANCE` of NAME's at the dataset's base
    resolution, scaling NAME's backbone (solved by :func:`effscale_timm.flops.match_flops`; cached in ``cache`` as
    JSON, so that cluster jobs do not solve again).
    """
    check_config(config)
    out: Dict[str, Dict[str, Any]] = {}
    for i, entry in enumerate(config.get('variants') or ()):
        spec = entry_spec(i, entry, config.get('backbone', DEFAULT_BACKBONE))
        name = spec.pop('name')
        out[name] = dict(spec, note=resolve_variant(name, **spec, note='custom (config)').note)
    for block in flop_match_blocks(config):
        out.update(_flop_matched(config, out[block['target']], block, cache))
    return out


def _solve_flop_matches(config, target_spec, block) -> Dict[str, Dict[str, Any]]:
    """One FLOP-matched spec per axis of a flop_match ``block``, at the target variant's measured MACs."""
    base = config['base_resolution']
    classes, in_chans = dataset_shape(config)
    px, backbone = round_resolution(target_spec['resolution'], base), target_spec['backbone']
    target = macs_of(target_spec['depth'], target_spec['width'], px, classes, in_chans, backbone)
    found = {}
    for axis in block['axes']:
        try:
            m = match_flops(axis, target, base=baseline_name(backbone), input_size=base, num_classes=classes,
                            in_chans=in_chans)
        except ValueError as e:
            raise ConfigError(f'flop_match: {e}') from e
        found[block['names'][axis]] = dict(
            depth=m.depth, width=m.width, resolution=m.resolution, backbone=backbone,
            dropout=get_backbone(backbone).default_dropout,
            note=f'{axis} only, FLOP-matched to {block["target"]} ({m.macs / 1e6:.1f} vs {target / 1e6:.1f} MMACs, '
                 f'{m.rel_error:+.1%})')
    return found


def _read_cache(cache) -> Dict[str, Any]:
    """The FLOP-match cache's solutions; none when it is absent or damaged (it is only a cache: they are solved
    again)."""
    try:
        return read_json_object(cache, 'FLOP-match cache') if cache and Path(cache).exists() else {}
    except DamagedFileError:
        return {}


def _flop_matched(config, target_spec, block, cache) -> Dict[str, Dict[str, Any]]:
    """The FLOP-matched variants, from the JSON cache when they were solved before; registered in timm's registry."""
    classes, in_chans = dataset_shape(config)
    key = json.dumps([target_spec, block['names'], config['base_resolution'], classes, in_chans], sort_keys=True)
    cached = _read_cache(cache)
    if key not in cached:
        cached[key] = _solve_flop_matches(config, target_spec, block)
        if cache:
            write_json(cache, cached, indent=1)
    for name, spec in cached[key].items():
        fields = {k: spec[k] for k in VARIANT_FIELDS if k in spec}
        register_variant(name, **fields, note=spec['note'])
    return cached[key]


def dataset_shape(config: Dict[str, Any]):
    """(number of classes, input channels) of the configured dataset, known before it is prepared."""
    if config['dataset'] in DATASET_SHAPES:
        return DATASET_SHAPES[config['dataset']]
    root = Path(config['dataset_root'])
    train = root / 'train' if (root / 'train').is_dir() else root
    return sum(1 for p in train.iterdir() if p.is_dir()), 3


def variant_args(spec: Dict[str, Any]) -> List[str]:
    """Command-line arguments that rebuild ``spec`` in another process (``--depth .. --width .. ..``)."""
    args = ['--depth', f'{spec["depth"]!r}', '--width', f'{spec["width"]!r}', '--resolution',
            f'{spec["resolution"]!r}', '--dropout', f'{spec["dropout"]!r}']
    return args + (['--backbone', spec['backbone']] if spec.get('backbone') else [])
