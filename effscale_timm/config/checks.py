"""The study's checks beyond the JSON schema: what a schema cannot say (a registered variant name, a resolution the
network can take, a dataset path that exists, a search grid that makes sense). :func:`check_config` reads the config
only: it registers nothing, builds nothing and writes nothing (the Snakefile calls it while it parses, before any
job); every error names the key.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List

from ..backbones import DEFAULT_BACKBONE
from ..data.sources import SOURCES, DatasetError, check_imagenette_tree
from ..errors import ConfigError
from ..models import VARIANTS, checked_spec
from ..scaling import SCALING_AXES, VARIANT_FIELDS, round_resolution
from ..train.options import DEVICE_PATTERN
from ..train.recipes import RECIPES

DATASETS_WITH_ROOT = ('imagefolder', 'imagenette')
# The design-space study's share regression has 6 terms (3 shares, 3 pairwise products); 3 residual degrees of
# freedom more make its t intervals usable (t at 3 df is 3.18; at 1 df it would be 12.7).
MIN_DESIGN_SAMPLES = 9


def _positive_int(config, key):
    value = config.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f'{key}: must be a positive whole number, got {value!r}')


def entry_spec(i: int, entry: Any, backbone: str = DEFAULT_BACKBONE) -> Dict[str, Any]:
    """One ``variants`` item as {'name', 'depth', 'width', 'resolution', 'dropout', 'backbone'}, checked but not
    registered.

    The rule is :func:`effscale_timm.models.resolve_variant`'s: a value not given is the registered variant's own
    (for a new name: ``backbone``'s base, the study's ``backbone`` unless the entry names one), and a registered name
    given other values is an error.
    """
    where = f'variants[{i}]'
    if isinstance(entry, str):
        entry = {'name': entry}
        if entry['name'] not in VARIANTS:
            raise ConfigError(f'{where}: unknown variant {entry["name"]!r}; registered: {", ".join(sorted(VARIANTS))}'
                              f'; or give a mapping with name, depth, width, resolution')
    if not isinstance(entry, dict) or 'name' not in entry:
        raise ConfigError(f'{where}: must be a registered name or a mapping with name, depth, width, resolution')
    try:  # names a bad multiplier and its range, or a registered name given other multipliers
        given = {k: entry.get(k) for k in VARIANT_FIELDS}
        if entry['name'] not in VARIANTS and not given['backbone']:
            given['backbone'] = backbone
        spec = checked_spec(entry['name'], **given)
    except ValueError as e:
        raise ConfigError(f'{where}: {e}') from e
    return dict({k: getattr(spec, k) for k in VARIANT_FIELDS}, name=entry['name'])


def _check_data(config: Dict[str, Any]) -> None:
    dataset = config.get('dataset')
    if dataset not in SOURCES:
        raise ConfigError(f'dataset: must be one of {", ".join(sorted(SOURCES))}, got {dataset!r}')
    root = config.get('dataset_root')
    if dataset in DATASETS_WITH_ROOT and not root:
        raise ConfigError(f'dataset_root: required for dataset {dataset}')
    if root and dataset == 'imagefolder' and not Path(root).is_dir():
        raise ConfigError(f'dataset_root: path {root!r} does not exist')
    if dataset == 'imagenette':
        try:
            check_imagenette_tree(root, config.get('imagenette_release', '320px'))
        except DatasetError as e:
            raise ConfigError(f'dataset_root: {e}') from None


def _check_sweep(config: Dict[str, Any]) -> None:
    sweep = config.get('lr_sweep')
    if not sweep:
        return
    if config.get('lr') is not None:
        raise ConfigError('lr_sweep: give either lr or lr_sweep, not both (the sweep chooses lr per variant)')
    if 3 * sweep['epochs'] < config['epochs']:
        raise ConfigError(f'lr_sweep.epochs: must be at least a third of epochs ({config["epochs"]}), got '
                          f'{sweep["epochs"]}: shorter sweeps favour fast starters over deep networks')
    for key, least in (('seeds', 2), ('rates', 3)):
        if key in sweep and len(sweep[key]) < least:
            raise ConfigError(f'lr_sweep.{key}: needs at least {least}, got {sweep[key]!r}')


def _check_run(config: Dict[str, Any]) -> None:
    for key in ('epochs', 'batch_size', 'base_resolution'):
        _positive_int(config, key)
    seeds = config.get('seeds')
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool)
                                                           for s in seeds):
        raise ConfigError(f'seeds: must be a non-empty list of whole numbers, got {seeds!r}')
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f'seeds: must not repeat a seed, got {seeds!r}')
    if not re.match(DEVICE_PATTERN, str(config.get('device', 'auto'))):
        raise ConfigError(f'device: must be auto, cpu or cuda[:N], got {config["device"]!r}')
    if config.get('recipe', 'fast') not in RECIPES:
        raise ConfigError(f'recipe: must be one of {", ".join(sorted(RECIPES))}, got {config["recipe"]!r}')


def _check_phis(search: Dict[str, Any]) -> None:
    """The search's phi: the candidates' phi among the fitted ones, fractional phi sorted, held-out phi beyond."""
    phis = search['phis']
    search_phi = search.get('search_phi', 1)
    if search_phi not in range(1, phis + 1):
        raise ConfigError(f'search.search_phi: must be one of the fitted phi 1..{phis} (its found member is the chosen '
                          f'candidate), got {search_phi!r}')
    fractional = search.get('fractional_phis')
    if fractional is not None:
        if not fractional:
            raise ConfigError('search.fractional_phis: must not be empty (leave the key out for none)')
        if any(b <= a for a, b in zip(fractional, fractional[1:])):
            raise ConfigError(f'search.fractional_phis: must be sorted, each above the one before, got {fractional}')
        if fractional[0] <= 0 or any(float(f).is_integer() for f in fractional):
            raise ConfigError(f'search.fractional_phis: must be above 0 and not whole numbers (phi = 1..{phis} are '
                              f'trained with every seed already), got {fractional}')
    top = max([phis] + list(fractional or []))
    hold = search.get('hold_out_phi')
    if hold is not None and hold <= top:
        raise ConfigError(f'search.hold_out_phi: must lie above the fitted range (phi <= {top:g}: search.phis and '
                          f'search.fractional_phis), got {hold}')


def _check_search(config: Dict[str, Any]) -> None:
    search = config.get('search')
    if not search:
        return
    if config.get('backbone', DEFAULT_BACKBONE) != DEFAULT_BACKBONE:
        raise ConfigError(f'backbone: the coefficient search runs on {DEFAULT_BACKBONE} only (its grid surrounds '
                          f'the paper\'s EfficientNet coefficients and its families are compared with the paper\'s), '
                          f'got {config["backbone"]!r}; design_space samples any backbone')
    for axis, spec in search['grid'].items():
        low, high, step = spec
        if not (1.0 <= low <= high <= 4.0 and step > 0):
            raise ConfigError(f'search.grid.{axis}: [low, high, step] needs 1 <= low <= high <= 4 and step > 0, '
                              f'got {spec}')
    _check_phis(search)
    halving = search.get('halving')
    epochs = search.get('epochs') or config['epochs']
    if halving and halving['epochs'] >= epochs:
        raise ConfigError(f'search.halving.epochs: must be below the candidates\' epochs ({epochs}: search.epochs, '
                          f'else epochs), got {halving["epochs"]}')


def _check_design(config: Dict[str, Any]) -> None:
    design = config.get('design_space')
    if not design:
        return
    regime = design.get('regime')
    if isinstance(regime, bool) or not isinstance(regime, (int, float)) or not regime > 1:
        raise ConfigError(f'design_space.regime: must be a number above 1 (the samples\' MACs as a multiple of '
                          f'B0\'s: 1 is B0 itself, 2 is phi = 1\'s compute), got {regime!r}')
    samples = design.get('samples')
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < MIN_DESIGN_SAMPLES:
        raise ConfigError(f'design_space.samples: needs at least {MIN_DESIGN_SAMPLES} (the share regression\'s 6 '
                          f'terms and 3 residual degrees of freedom), got {samples!r}')


def _check_variants(config: Dict[str, Any]) -> None:
    variants = config.get('variants')
    if (config.get('search') or config.get('design_space')) and not variants:
        if config.get('flop_match'):
            raise ConfigError('flop_match: needs variants (the search matches its own families)')
        return
    if not isinstance(variants, list) or not variants:
        raise ConfigError('variants: must be a non-empty list of registered names or custom (depth, width, '
                          'resolution) mappings')
    names = set()
    for i, entry in enumerate(variants):
        spec = entry_spec(i, entry, config.get('backbone', DEFAULT_BACKBONE))
        if spec['name'] in names:
            raise ConfigError(f'variants[{i}]: name {spec["name"]!r} appears twice')
        names.add(spec['name'])
        try:
            round_resolution(spec['resolution'], config['base_resolution'])
        except ValueError as e:
            raise ConfigError(f'variants[{i}] ({spec["name"]}): resolution: {e}') from e
    for block in flop_match_blocks(config):
        if block['target'] not in names:
            raise ConfigError(f'flop_match.target: must be one of the configured variants, got {block["target"]!r}')
        bad = [a for a in block['axes'] if a not in SCALING_AXES]
        if bad:
            raise ConfigError(f'flop_match.axes: allowed {list(SCALING_AXES)}, got {bad}')


def flop_match_blocks(config: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The config's ``flop_match`` as a list of ``{'target', 'axes', 'names': {axis: variant name}}``: one mapping
    names its variants ``effscale_{axis}_matched``; a list (one per compound target) ``{target}_{axis}_matched``."""
    match = config.get('flop_match')
    if not match:
        return []
    single = not isinstance(match, list)
    blocks = [match] if single else match
    return [dict(target=b.get('target'), axes=list(b.get('axes', SCALING_AXES)),
                 names={a: f'effscale_{a}_matched' if single else f'{b.get("target")}_{a}_matched'
                        for a in b.get('axes', SCALING_AXES)}) for b in blocks]


def check_config(config: Dict[str, Any]) -> None:
    """Raise :class:`ConfigError` for the first value a run would fail on. Reads the config only: registers nothing,
    builds nothing, writes nothing (the Snakefile calls it while it parses)."""
    _check_data(config)
    _check_run(config)
    _check_sweep(config)
    _check_variants(config)
    _check_search(config)
    _check_design(config)
