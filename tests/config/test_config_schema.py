"""`snakemake --config key=value` overrides: typed by the config schema, and a wrong value refused in one line.

Snakemake parses a top-level ``--config`` value as int, float, True/False or string, but the items of a list or a
mapping stay strings (``seeds=[0,1,2]`` gives ``['0', '1', '2']``), which the schema then refused.
"""
import copy
import shutil
import subprocess

import pytest
import yaml

from conftest import BIN, ROOT, cli_env
from effscale_timm.config import ConfigError, coerce_overrides, validate_config

SCHEMA_PATH = ROOT / 'workflow/schemas/config.schema.yaml'
SCHEMA = yaml.safe_load(SCHEMA_PATH.read_text())
BASE = yaml.safe_load((ROOT / 'config.yaml').read_text())


def overrides(*entries):
    """The config that `snakemake --config ENTRIES` gives on top of config.yaml, parsed by Snakemake itself."""
    from snakemake.cli import parse_config
    from snakemake.utils import update_config

    config = copy.deepcopy(BASE)
    update_config(config, parse_config(list(entries)))
    return config


def test_snakemake_parses_list_items_as_strings():
    """The reason for coercion: if Snakemake ever types list items itself, coerce_overrides has nothing to do."""
    assert overrides('seeds=[0,1,2]')['seeds'] == ['0', '1', '2']
    assert overrides('epochs=7')['epochs'] == 7


def test_list_of_integers_is_coerced():
    config = overrides('seeds=[0,1,2]')
    assert coerce_overrides(config, SCHEMA)['seeds'] == [0, 1, 2]
    assert config['seeds'] == ['0', '1', '2']  # the input is left as it was


def test_custom_variant_multipliers_are_numbers_and_names_stay_strings():
    config = overrides('variants=[effscale_b0, {name: x_custom, depth: 1.2, width: 2, resolution: .5e1}]')
    assert coerce_overrides(config, SCHEMA)['variants'] == [
        'effscale_b0', {'name': 'x_custom', 'depth': 1.2, 'width': 2, 'resolution': 5.0}]
    # A name that reads as a number is still a name (refused later as an unknown variant, not turned into 123).
    config = dict(BASE, variants=['123', {'name': '7', 'depth': '1'}])
    assert coerce_overrides(config, SCHEMA)['variants'] == ['123', {'name': '7', 'depth': 1}]


@pytest.mark.parametrize('key, text, value', [
    ('deterministic', 'true', True), ('compile', 'False', False), ('hflip', 'TRUE', True),
    ('lr', '1e-3', 0.001), ('lr', '-2', -2), ('val_fraction', '0.25', 0.25), ('lr', 'null', None),
    ('max_train_samples', '100', 100), ('max_train_samples', '~', None), ('epochs', '+3', 3),
])
def test_scalars_are_typed_by_the_schema(key, text, value):
    coerced = coerce_overrides(dict(BASE, **{key: text}), SCHEMA)[key]
    assert coerced == value and type(coerced) is type(value)


@pytest.mark.parametrize('key, text', [
    ('epochs', '3.0'), ('epochs', 'three'), ('lr', 'nan'), ('lr', 'inf'), ('lr', '1_000'), ('deterministic', 'yes'),
    ('deterministic', '1'), ('device', 'cuda:0'), ('dataset_root', 'null'), ('dataset_root', '42'),
    ('recipe', 'fast'), ('seeds', '0'),
])
def test_what_does_not_read_as_the_wanted_type_is_left_alone(key, text):
    assert coerce_overrides(dict(BASE, **{key: text}), SCHEMA)[key] == text


def test_nested_flop_match_and_typed_values_are_kept():
    config = overrides('flop_match={target: effscale_compound_b0, axes: [depth, width]}')
    assert coerce_overrides(config, SCHEMA) == config
    full = yaml.safe_load((ROOT / 'config/full.yaml').read_text())
    assert coerce_overrides(full, SCHEMA) == full


def test_validate_fills_defaults_as_snakemake_does():
    from snakemake.utils import validate

    for config in (BASE, yaml.safe_load((ROOT / 'config/full.yaml').read_text())):
        ours, theirs = copy.deepcopy(config), copy.deepcopy(config)
        assert validate_config(ours, SCHEMA_PATH) is ours  # in place, like Snakemake's validate
        validate(theirs, str(SCHEMA_PATH))
        assert ours == theirs and ours['threads'] == config['threads'] and ours['val_fraction'] == 0.1


def test_validate_coerces_in_place():
    config = overrides('seeds=[0,1,2]', 'deterministic=true', 'variants=[{name: x_custom, depth: 1.2}]')
    validate_config(config, SCHEMA_PATH)
    assert config['seeds'] == [0, 1, 2] and config['deterministic'] is True
    assert config['variants'] == [{'name': 'x_custom', 'depth': 1.2}] and config['hflip'] is True


@pytest.mark.parametrize('entries, line', [
    (['seeds=[0,x]'], "seeds[1]: 'x' is not of type 'integer'"),
    (['epochs=three'], "epochs: 'three' is not of type 'integer'"),
    (['epochs=0'], 'epochs: 0 is less than the minimum of 1'),
    (['variants=[{name: x_custom, width: two}]'], "variants[0].width: 'two' is not of type 'number'"),
    (['flop_match={target: effscale_b0, axes: [hieght]}'],
     "flop_match.axes[0]: 'hieght' is not one of ['depth', 'width', 'resolution']"),
    (['devise=cpu'], "Additional properties are not allowed ('devise' was unexpected)"),
    (['seeds=[1,1]'], 'seeds: [1, 1] has non-unique elements'),
    (['deterministic=yes'], "deterministic: 'yes' is not of type 'boolean'"),
    (['equivalence_margin=-0.5'], 'equivalence_margin: -0.5 is less than the minimum of 0'),
    (['equivalence_margin=wide'], "equivalence_margin: 'wide' is not of type 'number'"),
    (['budget_check=0'], 'budget_check: 0 is less than the minimum of 2'),
    (['lr_sweep={epochs: 2, seeds: []}'], 'lr_sweep.seeds: [] is too short'),
    (['lr_sweep={epochs: 2, rates: []}'], 'lr_sweep.rates: [] is too short'),
])
def test_a_wrong_value_is_one_line_naming_the_key(entries, line):
    with pytest.raises(ConfigError) as e:
        validate_config(overrides(*entries), SCHEMA_PATH)
    assert str(e.value) == line


def test_a_missing_key_is_named():
    config = copy.deepcopy(BASE)
    del config['seeds']
    with pytest.raises(ConfigError, match=r"^'seeds' is a required property$"):
        validate_config(config, SCHEMA)


@pytest.fixture
def repo_copy(tmp_path):
    """The workflow and its configs in a fresh directory, as a user would run it."""
    for name in ('Snakefile', 'config.yaml'):
        shutil.copy2(ROOT / name, tmp_path / name)
    for name in ('workflow', 'config', 'envs'):
        shutil.copytree(ROOT / name, tmp_path / name)
    return tmp_path


def _snakemake(workdir, *args):
    return subprocess.run([str(BIN / 'snakemake'), '-n', '--cores', '1', *args], cwd=workdir, capture_output=True,
                          text=True, env=cli_env(), timeout=600)


@pytest.mark.slow
def test_cli_list_override_is_accepted_and_a_bad_one_refused_in_one_line(repo_copy):
    """Through the real CLI: three seeds train three runs per model; a bad seed stops with one line, no dump."""
    out = _snakemake(repo_copy, '--config', 'seeds=[0,1,2]')
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    assert all(f'seed={s}' in out.stdout for s in (0, 1, 2))
    assert sum(1 for line in out.stdout.splitlines() if line.strip().startswith('rule train')) == 5 * 3

    bad = _snakemake(repo_copy, '--config', 'seeds=[0,x]')
    text = bad.stdout + bad.stderr
    assert bad.returncode != 0
    assert "config error: seeds[1]: 'x' is not of type 'integer'" in text.splitlines(), text[-3000:]
    assert 'Failed validating' not in text and 'On instance' not in text
    assert not (repo_copy / 'results').exists()
