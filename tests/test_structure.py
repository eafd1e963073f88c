"""The package's shape, which the rest of the code relies on: imports run one way (and the training and data layers
import no pipeline stage), options are declared once and agree with the schema, one name means one thing, one rule
turns a name plus multipliers into a variant, and one module each writes and reads a run record."""
import argparse
import ast
import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, effscale
from effscale_timm.backbones import BACKBONES
from effscale_timm.data.sources import SOURCES
from effscale_timm.models import NAME_PATTERN, VARIANTS, resolve_variant
from effscale_timm.scaling import FLOP_TOLERANCE, SCALING_AXES
from effscale_timm.train.options import DEVICE_PATTERN, RunConfig, add_arguments, config_keys, config_to_args, from_args
from effscale_timm.train.recipes import RECIPES

PACKAGE = ROOT / 'effscale_timm'
SCHEMA = yaml.safe_load((ROOT / 'workflow' / 'schemas' / 'config.schema.yaml').read_text())


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix('').parts)
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _imports(path: Path, module: str):
    """Package modules imported anywhere in ``path`` (module level and inside functions)."""
    package = module if path.name == '__init__.py' else module.rsplit('.', 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split('.')
            base = base[:len(base) - node.level + 1] if node.level else []
            target = '.'.join(base + ([node.module] if node.module else []))
            for alias in node.names:
                found.add(f'{target}.{alias.name}')
            found.add(target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def import_graph():
    modules = {_module_name(p): p for p in PACKAGE.rglob('*.py')}
    return {m: {t for t in _imports(p, m) if t in modules and t != m} for m, p in modules.items()}


def cycles(graph):
    """Every module that lies on an import cycle, by depth-first search."""
    on_cycle, state = set(), {}

    def visit(node, stack):
        state[node] = 'open'
        for nxt in graph[node]:
            if state.get(nxt) == 'open':
                on_cycle.update(stack[stack.index(nxt):])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 'done'
    for node in graph:
        if node not in state:
            visit(node, [node])
    return on_cycle


def test_imports_run_one_way():
    graph = import_graph()
    assert 'effscale_timm.flops' in graph['effscale_timm.config.variants']  # the graph sees real edges
    assert cycles(graph) == set()


STAGES = ('effscale_timm.cam', 'effscale_timm.profile', 'effscale_timm.report', 'effscale_timm.search',
          'effscale_timm.cli', 'effscale_timm.config')


def test_training_and_data_import_no_pipeline_stage():
    graph = import_graph()
    for module, targets in graph.items():
        if module.startswith(('effscale_timm.train', 'effscale_timm.data')):
            bad = sorted(t for t in targets if t.startswith(STAGES))
            assert bad == [], f'{module} imports the pipeline stage(s) {bad}'


def test_no_family_hides_in_a_name_prefix_at_the_top_of_the_package():
    top = sorted(p.name for p in PACKAGE.glob('*.py'))
    assert not [name for name in top if name.startswith(('report_', 'search_'))], top
    for package in ('report', 'search', 'files', 'config', 'train', 'data'):
        assert (PACKAGE / package / '__init__.py').exists(), package


def _module_constants():
    """{NAME: [modules]} of every upper-case name assigned at a module's top level."""
    found = {}
    for path in PACKAGE.rglob('*.py'):
        for node in ast.parse(path.read_text()).body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
                node, ast.AnnAssign) else []
            for target in targets:
                names = [t.id for t in ast.walk(target) if isinstance(t, ast.Name)]
                for name in names:
                    if re.fullmatch(r'[A-Z][A-Z0-9_]*', name):
                        found.setdefault(name, []).append(_module_name(path))
    return found


def test_an_upper_case_constant_means_one_thing_across_the_package():
    twice = {name: modules for name, modules in _module_constants().items() if len(modules) > 1}
    assert twice == {}


def _string_constants(path: Path):
    """The string literals of a module that are not docstrings."""
    tree = ast.parse(path.read_text())
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                  and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and id(n) not in docstrings]


def test_the_run_record_file_is_named_by_one_module():
    naming = sorted(_module_name(p) for p in PACKAGE.rglob('*.py')
                    if any('final.json' in s for s in _string_constants(p)))
    assert naming == ['effscale_timm.files.run_record']


def test_schema_defaults_equal_the_run_configs():
    fields = {f.name: f.default for f in dataclasses.fields(RunConfig)}
    with_default = [k for k in config_keys() if 'default' in SCHEMA['properties'][k]]
    assert len(with_default) >= 8  # the check sees the schema's defaults
    for key in with_default:
        assert SCHEMA['properties'][key]['default'] == fields[key], key


def test_the_flop_tolerance_has_one_value():
    assert SCHEMA['properties']['search']['properties']['tolerance']['default'] == FLOP_TOLERANCE


def test_cycle_finder_finds_a_cycle():
    assert cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == {'a', 'b', 'c'}


def test_scaling_never_builds_networks():
    assert not {'effscale_timm.models', 'effscale_timm.flops'} & import_graph()['effscale_timm.scaling']


def test_schema_enumerations_equal_the_code():
    props = SCHEMA['properties']
    assert set(props['dataset']['enum']) == set(SOURCES)
    assert set(props['recipe']['enum']) == set(RECIPES)
    assert props['device']['pattern'] == DEVICE_PATTERN
    assert SCHEMA['$defs']['flop_match']['properties']['axes']['items']['enum'] == list(SCALING_AXES)
    assert props['backbone']['enum'] == list(BACKBONES)
    assert props['variants']['items']['oneOf'][1]['properties']['backbone']['enum'] == list(BACKBONES)
    name = props['variants']['items']['oneOf'][1]['properties']['name']['pattern']
    assert name == NAME_PATTERN


_JSON_TYPES = {bool: 'boolean', int: 'integer', float: 'number', str: 'string'}


def test_every_training_option_a_config_may_set_is_in_the_schema_with_its_type():
    import typing
    hints = typing.get_type_hints(RunConfig)
    for key in config_keys():
        assert key in SCHEMA['properties'], key
        wanted = SCHEMA['properties'][key]['type']
        base = [a for a in typing.get_args(hints[key]) if a is not type(None)] or [hints[key]]
        assert _JSON_TYPES[base[0]] in ([wanted] if isinstance(wanted, str) else wanted), key


def test_config_keys_reach_the_run_config_through_the_command_line():
    config = {'epochs': 7, 'recipe': 'seed', 'batch_size': 32, 'device': 'cpu', 'base_resolution': 48, 'lr': 0.003,
              'max_train_samples': 100, 'hflip': False, 'deterministic': True, 'workers': 0, 'seeds': [0, 1],
              'dataset': 'digits'}
    spec = {'depth': 1.5, 'width': 1.0, 'resolution': 1.25, 'dropout': 0.3}
    argv = ['--variant', 'x_custom', '--data', 'd.npz', '--out-dir', 'o'] + config_to_args(config, spec)
    cfg = from_args(add_arguments(argparse.ArgumentParser()).parse_args(argv))
    for key, value in {**config, **spec}.items():
        if key in {f.name for f in dataclasses.fields(RunConfig)}:
            assert getattr(cfg, key) == value, key
    assert cfg.compile is None and cfg.micro_batch is None  # absent keys keep RunConfig's defaults


def test_run_key_ignores_paths_and_threads_but_not_results():
    a = RunConfig(variant='effscale_b0', data='a.npz', out_dir='a', threads=1)
    b = dataclasses.replace(a, data='b.npz', out_dir='b', threads=2, ckpt_root='c', workers=0)
    assert a.key('d') == b.key('d') != a.key('e')
    assert a.key('d') != dataclasses.replace(a, lr=0.1).key('d')


def test_resolve_variant_is_one_rule():
    b2 = VARIANTS['effscale_b2']
    assert resolve_variant('effscale_b2') == b2
    assert resolve_variant('effscale_b2', depth=b2.depth) == b2  # a multiplier not given is the variant's own
    with pytest.raises(ValueError, match='already registered'):
        resolve_variant('effscale_b2', depth=2.0)
    with pytest.raises(ValueError, match='unknown variant'):
        resolve_variant('never_registered_here')
    spec = resolve_variant('structure_depth_two', depth=2.0)  # a new name: the other axes are B0's
    assert (spec.depth, spec.width, spec.resolution, spec.dropout) == (2.0, 1.0, 1.0, 0.2)


@pytest.mark.slow
def test_train_and_profile_read_partial_multipliers_alike(tmp_path):
    out = tmp_path / 'p.json'
    effscale('profile', '--variant', 'structure_cli_depth', '--depth', '2', '--no-latency', '--num-classes', '10',
             '--in-chans', '1', '--base-resolution', '32', '--out', out)
    import json
    prof = json.loads(out.read_text())
    assert (prof['depth'], prof['width'], prof['resolution']) == (2.0, 1.0, 1.0)


def _function_sizes():
    for path in PACKAGE.rglob('*.py'):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield f'{path.relative_to(ROOT)}:{node.name}', node.end_lineno - node.lineno + 1


def test_no_function_a_reader_cannot_hold_in_their_head():
    long = {name: n for name, n in _function_sizes() if n > 60}
    assert long == {}


def test_schema_name_pattern_is_a_full_match():
    assert re.match(NAME_PATTERN, 'effscale_b0') and not re.match(NAME_PATTERN, 'B0') \
        and not re.match(NAME_PATTERN, 'a-b')
