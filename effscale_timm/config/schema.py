"""The config's types and defaults: command-line strings typed as the JSON schema asks, the schema's defaults filled
in, and one line naming the key of the first value the schema refuses.

``workflow/schemas/config.schema.yaml`` holds the shapes, types and defaults (Snakemake's ``validate``);
:mod:`effscale_timm.config.checks` adds what a schema cannot say.
"""
from __future__ import annotations

from typing import Any, Dict, List

import yaml

from ..errors import ConfigError


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
