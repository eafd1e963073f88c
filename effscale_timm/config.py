"""The study's configuration: semantic checks beyond the JSON schema, and the list of variants to train.

``workflow/schemas/config.schema.yaml`` checks shapes and types (Snakemake's ``validate``); :func:`check_config` adds
what a schema cannot say (a registered variant name, a resolution the network can take, a dataset path that
exists) and :func:`resolve_variants` turns the ``variants`` list (registry names or custom multipliers) and the
optional ``flop_match`` block into ``{name: spec}``. Both run before any job starts; every error names the key.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List

import yaml

from .data.sources import SOURCES
from .models import VARIANTS, make_spec, register_variant
from .scaling import AXES, round_resolution

DATASETS_WITH_ROOT = ('imagefolder',)
# (number of classes, input channels) of the datasets whose shape is known before preparing them
DATASET_SHAPES = {'fashion_mnist': (10, 1), 'digits': (10, 1), 'cifar10': (10, 3), 'cifar100': (100, 3)}


class ConfigError(ValueError):
    """A configuration value is not allowed; the message names the key and what is allowed."""


def load_config(path: os.PathLike) -> Dict[str, Any]:
    """Read a YAML config; a file that does not parse is a :class:`ConfigError` naming the file and line."""
    try:
        with open(path) as f:
            config = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise ConfigError(f'{path}: YAML does not parse: {e}') from e
    if not isinstance(config, dict):
        raise ConfigError(f'{path}: the config must be a mapping of keys to values')
    return config


def _positive_int(config, key):
    value = config.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f'{key}: must be a positive whole number, got {value!r}')


def _entry_spec(i: int, entry: Any) -> Dict[str, Any]:
    """One ``variants`` item as {'name', 'depth', 'width', 'resolution', 'dropout'}."""
    where = f'variants[{i}]'
    if isinstance(entry, str):
        if entry not in VARIANTS:
            raise ConfigError(f'{where}: unknown variant {entry!r}; registered: {", ".join(sorted(VARIANTS))}; or '
                              f'give a mapping with name, depth, width, resolution')
        s = VARIANTS[entry]
        return dict(name=entry, depth=s.depth, width=s.width, resolution=s.resolution, dropout=s.dropout)
    if not isinstance(entry, dict) or 'name' not in entry:
        raise ConfigError(f'{where}: must be a registered name or a mapping with name, depth, width, resolution')
    spec = {'name': entry['name'], 'depth': entry.get('depth', 1.0), 'width': entry.get('width', 1.0),
            'resolution': entry.get('resolution', 1.0), 'dropout': entry.get('dropout', 0.2)}
    try:  # names the bad multiplier and its allowed range
        make_spec(spec['depth'], spec['width'], spec['resolution'], spec['dropout'])
    except ValueError as e:
        raise ConfigError(f'{where}: {e}') from e
    return spec


def check_config(config: Dict[str, Any]) -> None:
    """Raise :class:`ConfigError` for the first value a run would fail on."""
    dataset = config.get('dataset')
    if dataset not in SOURCES:
        raise ConfigError(f'dataset: must be one of {", ".join(sorted(SOURCES))}, got {dataset!r}')
    root = config.get('dataset_root')
    if dataset in DATASETS_WITH_ROOT and not root:
        raise ConfigError(f'dataset_root: required for dataset {dataset}')
    if root and dataset in DATASETS_WITH_ROOT and not Path(root).is_dir():
        raise ConfigError(f'dataset_root: path {root!r} does not exist')
    for key in ('epochs', 'batch_size', 'base_resolution'):
        _positive_int(config, key)
    seeds = config.get('seeds')
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool)
                                                           for s in seeds):
        raise ConfigError(f'seeds: must be a non-empty list of whole numbers, got {seeds!r}')
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f'seeds: must not repeat a seed, got {seeds!r}')
    variants = config.get('variants')
    if not isinstance(variants, list) or not variants:
        raise ConfigError('variants: must be a non-empty list of registered names or custom (depth, width, '
                          'resolution) mappings')
    base = config['base_resolution']
    names = set()
    for i, entry in enumerate(variants):
        spec = _entry_spec(i, entry)
        if spec['name'] in names:
            raise ConfigError(f'variants[{i}]: name {spec["name"]!r} appears twice')
        names.add(spec['name'])
        try:
            round_resolution(spec['resolution'], base)
        except ValueError as e:
            raise ConfigError(f'variants[{i}] ({spec["name"]}): resolution: {e}') from e
    if config.get('device', 'auto') not in ('auto', 'cpu', 'cuda') and not str(config['device']).startswith('cuda:'):
        raise ConfigError(f'device: must be auto, cpu or cuda[:N], got {config["device"]!r}')
    match = config.get('flop_match')
    if match:
        if match.get('target') not in names:
            raise ConfigError(f'flop_match.target: must be one of the configured variants, got {match.get("target")!r}')
        bad = [a for a in match.get('axes', AXES) if a not in AXES]
        if bad:
            raise ConfigError(f'flop_match.axes: allowed {list(AXES)}, got {bad}')


def resolve_variants(config: Dict[str, Any], cache: os.PathLike = None) -> Dict[str, Dict[str, Any]]:
    """``{name: {'depth', 'width', 'resolution', 'dropout', 'note'}}`` for every variant the study trains.

    Custom variants are registered in timm's registry. With ``flop_match: {target: NAME, axes: [...]}`` one variant
    per axis, ``effscale_{axis}_matched``, is added whose measured MACs are within 5% of NAME's at the dataset's
    base resolution (solved by :func:`effscale_timm.match_flops`; cached in ``cache`` as JSON, since Snakemake
    parses the workflow again in every cluster job).
    """
    check_config(config)
    out: Dict[str, Dict[str, Any]] = {}
    for i, entry in enumerate(config['variants']):
        spec = _entry_spec(i, entry)
        name = spec.pop('name')
        try:  # a no-op for a registered name with its own multipliers; an error for one with others
            register_variant(name, **spec, note='custom (config)')
        except ValueError as e:
            raise ConfigError(f'variants[{i}]: {e}; give the custom variant another name') from e
        out[name] = dict(spec, note=VARIANTS[name].note)
    match = config.get('flop_match')
    if match:
        out.update(_flop_matched(config, out[match['target']], match, cache))
    return out


def _flop_matched(config, target_spec, match, cache) -> Dict[str, Dict[str, Any]]:
    from .flops import count_scaled_macs
    from .scaling import match_flops
    base = config['base_resolution']
    classes, in_chans = dataset_shape(config)
    key = json.dumps([target_spec, sorted(match.get('axes', AXES)), base, classes, in_chans], sort_keys=True)
    cached = {}
    if cache and Path(cache).exists():
        cached = json.loads(Path(cache).read_text())
    if key not in cached:
        px = round_resolution(target_spec['resolution'], base)
        target = count_scaled_macs(target_spec['depth'], target_spec['width'], px, classes, in_chans)['conv_linear']
        found = {}
        for axis in match.get('axes', AXES):
            m = match_flops(axis, target, input_size=base, num_classes=classes, in_chans=in_chans)
            found[f'effscale_{axis}_matched'] = dict(depth=m.depth, width=m.width, resolution=m.resolution,
                                                     dropout=0.2, note=f'{axis} only, FLOP-matched to '
                                                     f'{match["target"]} ({m.macs / 1e6:.1f} vs {target / 1e6:.1f} '
                                                     f'MMACs, {m.rel_error:+.1%})')
        cached[key] = found
        if cache:
            Path(cache).parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(str(cache) + f'.{os.getpid()}.tmp')
            tmp.write_text(json.dumps(cached, indent=1))
            os.replace(tmp, cache)
    for name, spec in cached[key].items():
        fields = {k: spec[k] for k in ('depth', 'width', 'resolution', 'dropout')}
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
    return ['--depth', f'{spec["depth"]!r}', '--width', f'{spec["width"]!r}', '--resolution',
            f'{spec["resolution"]!r}', '--dropout', f'{spec["dropout"]!r}']
