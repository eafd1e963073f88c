"""The study's configuration: semantic checks beyond the JSON schema, and the list of variants to train.

``workflow/schemas/config.schema.yaml`` checks shapes and types (Snakemake's ``validate``); :func:`check_config` adds
what a schema cannot say (a registered variant name, a resolution the network can take, a dataset path that
exists) and :func:`resolve_variants` turns the ``variants`` list (registry names or custom multipliers) and the
optional ``flop_match`` block into ``{name: spec}``. Both run before any job starts; every error names the key.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Dict, List

import yaml

from .atomic import write_json
from .data.sources import SOURCES
from .flops import count_scaled_macs, match_flops
from .models import VARIANTS, checked_spec, register_variant, resolve_variant

VARIANT_FIELDS = ('depth', 'width', 'resolution', 'dropout')
from .scaling import AXES, round_resolution
from .train.options import DEVICE_PATTERN
from .train.recipes import RECIPES

DATASETS_WITH_ROOT = ('imagefolder',)
# (number of classes, input channels) of the datasets whose shape is known before preparing them
DATASET_SHAPES = {'fashion_mnist': (10, 1), 'digits': (10, 1), 'cifar10': (10, 3), 'cifar100': (100, 3)}


class ConfigError(ValueError):
    """A configuration value is not allowed; the message names the key and what is allowed."""


def _schema_types(schema: Dict[str, Any]) -> List[str]:
    """The JSON types a (sub)schema allows; inferred from its keywords when it has no ``type``."""
    types = schema.get('type')
    if types is None:
        if 'properties' in schema or 'additionalProperties' in schema:
            return ['object']
        if 'items' in schema:
            return ['array']
        return []
    return [types] if isinstance(types, str) else list(types)


def _coerce_text(text: str, types: List[str]) -> Any:
    """A string as the integer, number, boolean or null the schema wants; unchanged when a string is allowed or it
    does not look like one (the schema then names the key and the wrong value)."""
    if 'string' in types:
        return text
    word = text.strip()
    digits = word[1:] if word[:1] in '+-' else word
    if ('integer' in types or 'number' in types) and digits.isascii() and digits.isdigit():
        return int(word)
    if 'number' in types and digits.isascii() and '_' not in word and any(c.isdigit() for c in word):
        try:
            value = float(word)
        except ValueError:
            value = None
        if value is not None and value not in (float('inf'), float('-inf')) and value == value:
            return value
    if 'boolean' in types and word.lower() in ('true', 'false'):
        return word.lower() == 'true'
    if 'null' in types and word.lower() in ('null', 'none', '~'):
        return None
    return text


def _resolve_ref(schema: Dict[str, Any], root: Dict[str, Any]) -> Dict[str, Any]:
    ref = schema.get('$ref')
    if not isinstance(ref, str) or not ref.startswith('#'):
        return schema
    node: Any = root
    for part in ref.lstrip('#').strip('/').split('/'):
        if part:
            node = node.get(part.replace('~1', '/').replace('~0', '~'), {}) if isinstance(node, dict) else {}
    return node if isinstance(node, dict) else {}


def _coerce(value: Any, schema: Any, root: Dict[str, Any]) -> Any:
    if not isinstance(schema, dict):
        return value
    schema = _resolve_ref(schema, root)
    for keyword in ('allOf', 'anyOf', 'oneOf'):
        branches = [_resolve_ref(b, root) for b in schema.get(keyword, ()) if isinstance(b, dict)]
        if not branches:
            continue
        if isinstance(value, str) and any('string' in _schema_types(b) for b in branches):
            return value  # a string is allowed as it is (e.g. a registered variant name)
        for branch in branches:
            coerced = _coerce(value, branch, root)
            if coerced is not value:
                return coerced
    types = _schema_types(schema)
    if isinstance(value, str):
        return _coerce_text(value, types)
    if isinstance(value, list) and 'array' in types and isinstance(schema.get('items'), dict):
        items = [_coerce(v, schema['items'], root) for v in value]
        return items if any(a is not b for a, b in zip(items, value)) else value
    if isinstance(value, dict) and 'object' in types:
        properties = schema.get('properties', {})
        extra = schema.get('additionalProperties')
        out = {k: _coerce(v, properties.get(k, extra), root) for k, v in value.items()}
        return out if any(out[k] is not value[k] for k in value) else value
    return value


def coerce_overrides(config: Dict[str, Any], schema: Dict[str, Any]) -> Dict[str, Any]:
    """``config`` with strings typed as the JSON schema asks, for ``snakemake --config`` overrides.

    Snakemake parses a top-level ``--config key=value`` as int, float, ``True``/``False`` or string, but the items
    of a list or mapping (``seeds=[0,1,2]``, ``variants=[{name: x, depth: 1.2}]``) stay strings. Where the schema
    wants an integer, number, boolean or null (also inside arrays, objects and ``oneOf`` branches) and the value is
    a string that reads as one (``'2'``, ``'-1.5e-3'``, ``'true'``/``'False'``, ``'null'``), it is converted. A
    string the schema allows as a string (a variant name, a path) is never touched, nor is anything that does not
    read as the wanted type: validation then refuses it naming the key. Returns a new dict; ``config`` is unchanged.
    """
    return dict(_coerce(dict(config), schema, schema))


def _error_line(error) -> str:
    """One line naming the key of a jsonschema error: ``seeds[1]: 'x' is not of type 'integer'``."""
    where = ''
    for part in error.absolute_path:
        where += f'[{part}]' if isinstance(part, int) else (f'.{part}' if where else str(part))
    message = ' '.join(error.message.split('\n'))
    return f'{where}: {message}' if where else message


def validate_config(config: Dict[str, Any], schema_path: Any) -> Dict[str, Any]:
    """Type command-line overrides (:func:`coerce_overrides`), fill the schema's defaults and validate ``config``.

    ``config`` is updated in place, as Snakemake's ``validate(config, schema, set_default=True)`` does, so that the
    workflow's ``config`` sees typed values and defaults; it is also returned. ``schema_path`` is the YAML/JSON schema
    file (or the loaded schema). A value the schema refuses raises :class:`ConfigError` with one line naming the key
    (``seeds[1]: 'x' is not of type 'integer'``), the most relevant error when there are several.
    """
    import jsonschema
    from jsonschema import validators

    if isinstance(schema_path, dict):
        schema = schema_path
    else:
        with open(schema_path) as f:
            schema = yaml.safe_load(f)
    config.update(coerce_overrides(config, schema))
    base = validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    check_properties = base.VALIDATORS['properties']

    def set_defaults(validator, properties, instance, subschema):  # Snakemake's (and jsonschema's FAQ's) recipe
        if validator.is_type(instance, 'object'):
            for key, prop in properties.items():
                if isinstance(prop, dict) and 'default' in prop:
                    instance.setdefault(key, prop['default'])
        yield from check_properties(validator, properties, instance, subschema)

    with_defaults = validators.extend(base, {'properties': set_defaults})
    error = jsonschema.exceptions.best_match(with_defaults(schema).iter_errors(config))
    if error is not None:
        raise ConfigError(_error_line(error))
    return config


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
    """One ``variants`` item as {'name', 'depth', 'width', 'resolution', 'dropout'}, checked but not registered.

    The rule is :func:`effscale_timm.models.resolve_variant`'s: a multiplier not given is the registered variant's
    own (B0's for a new name), and a registered name given other multipliers is an error.
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
        spec = checked_spec(entry['name'], *(entry.get(k) for k in VARIANT_FIELDS))
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
    if root and dataset in DATASETS_WITH_ROOT and not Path(root).is_dir():
        raise ConfigError(f'dataset_root: path {root!r} does not exist')


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
    if config.get('lr_sweep') and config.get('lr') is not None:
        raise ConfigError('lr_sweep: give either lr or lr_sweep, not both (the sweep chooses lr per variant)')
    if config.get('recipe', 'fast') not in RECIPES:
        raise ConfigError(f'recipe: must be one of {", ".join(sorted(RECIPES))}, got {config["recipe"]!r}')


def _check_search(config: Dict[str, Any]) -> None:
    search = config.get('search')
    if not search:
        return
    for axis, spec in search['grid'].items():
        low, high, step = spec
        if not (1.0 <= low <= high <= 4.0 and step > 0):
            raise ConfigError(f'search.grid.{axis}: [low, high, step] needs 1 <= low <= high <= 4 and step > 0, '
                              f'got {spec}')
    hold = search.get('hold_out_phi')
    if hold is not None and hold <= search['phis']:
        raise ConfigError(f'search.hold_out_phi: must be above search.phis ({search["phis"]}), got {hold}')


def _check_variants(config: Dict[str, Any]) -> None:
    variants = config.get('variants')
    if config.get('search') and not variants:
        if config.get('flop_match'):
            raise ConfigError('flop_match: needs variants (the search matches its own families)')
        return
    if not isinstance(variants, list) or not variants:
        raise ConfigError('variants: must be a non-empty list of registered names or custom (depth, width, '
                          'resolution) mappings')
    names = set()
    for i, entry in enumerate(variants):
        spec = _entry_spec(i, entry)
        if spec['name'] in names:
            raise ConfigError(f'variants[{i}]: name {spec["name"]!r} appears twice')
        names.add(spec['name'])
        try:
            round_resolution(spec['resolution'], config['base_resolution'])
        except ValueError as e:
            raise ConfigError(f'variants[{i}] ({spec["name"]}): resolution: {e}') from e
    match = config.get('flop_match')
    if match:
        if match.get('target') not in names:
            raise ConfigError(f'flop_match.target: must be one of the configured variants, got {match.get("target")!r}')
        bad = [a for a in match.get('axes', AXES) if a not in AXES]
        if bad:
            raise ConfigError(f'flop_match.axes: allowed {list(AXES)}, got {bad}')


def check_config(config: Dict[str, Any]) -> None:
    """Raise :class:`ConfigError` for the first value a run would fail on. Reads the config only: registers nothing,
    builds nothing, writes nothing (the Snakefile calls it while it parses)."""
    _check_data(config)
    _check_run(config)
    _check_variants(config)
    _check_search(config)


def variant_names(config: Dict[str, Any]) -> List[str]:
    """The names of every variant the study trains, in order, without building or measuring anything."""
    names = [e if isinstance(e, str) else e['name'] for e in config.get('variants') or ()]
    match = config.get('flop_match')
    return names + [f'effscale_{axis}_matched' for axis in (match.get('axes', AXES) if match else ())]


def resolve_variants(config: Dict[str, Any], cache: os.PathLike = None) -> Dict[str, Dict[str, Any]]:
    """``{name: {'depth', 'width', 'resolution', 'dropout', 'note'}}`` for every variant the study trains.

    Custom variants are registered in timm's registry. With ``flop_match: {target: NAME, axes: [...]}`` one variant
    per axis, ``effscale_{axis}_matched``, is added whose measured MACs are within
    :data:`~effscale_timm.scaling.FLOP_TOLERANCE` of NAME's at the dataset's base resolution (solved by
    :func:`effscale_timm.flops.match_flops`; cached in ``cache`` as JSON, so that cluster jobs do not solve again).
    """
    check_config(config)
    out: Dict[str, Dict[str, Any]] = {}
    for i, entry in enumerate(config.get('variants') or ()):
        spec = _entry_spec(i, entry)
        name = spec.pop('name')
        out[name] = dict(spec, note=resolve_variant(name, **spec, note='custom (config)').note)
    match = config.get('flop_match')
    if match:
        out.update(_flop_matched(config, out[match['target']], match, cache))
    return out


def _solve_flop_matches(config, target_spec, match) -> Dict[str, Dict[str, Any]]:
    """One FLOP-matched spec per axis of ``match``, at the target variant's measured MACs."""
    base = config['base_resolution']
    classes, in_chans = dataset_shape(config)
    px = round_resolution(target_spec['resolution'], base)
    target = count_scaled_macs(target_spec['depth'], target_spec['width'], px, classes, in_chans)['conv_linear']
    found = {}
    for axis in match.get('axes', AXES):
        try:
            m = match_flops(axis, target, input_size=base, num_classes=classes, in_chans=in_chans)
        except ValueError as e:
            raise ConfigError(f'flop_match: {e}') from e
        found[f'effscale_{axis}_matched'] = dict(
            depth=m.depth, width=m.width, resolution=m.resolution, dropout=0.2,
            note=f'{axis} only, FLOP-matched to {match["target"]} ({m.macs / 1e6:.1f} vs {target / 1e6:.1f} MMACs, '
                 f'{m.rel_error:+.1%})')
    return found


def _flop_matched(config, target_spec, match, cache) -> Dict[str, Dict[str, Any]]:
    """The FLOP-matched variants, from the JSON cache when they were solved before; registered in timm's registry."""
    classes, in_chans = dataset_shape(config)
    key = json.dumps([target_spec, sorted(match.get('axes', AXES)), config['base_resolution'], classes, in_chans],
                     sort_keys=True)
    cached = json.loads(Path(cache).read_text()) if cache and Path(cache).exists() else {}
    if key not in cached:
        cached[key] = _solve_flop_matches(config, target_spec, match)
        if cache:
            write_json(cache, cached, indent=1)
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
