"""The conda envs in envs/: each pins exactly what its rule's `effscale <stage>` imports, at constraints.txt's versions.

What a stage imports is found in two ways, because several imports are made only inside the function that needs
them (fvcore, grad-cam, matplotlib, scikit-learn, PIL, tqdm):

* at run time: a subprocess imports ``effscale_timm.cli`` and loads the stage as ``effscale <stage>`` does, giving
  the package modules the stage loads and its entry functions;
* statically: starting from those entry functions, the package's own functions and classes they reach (by name,
  through the package's imports) are followed, and every import of a third-party module they make, plus the
  module-level imports of every package module loaded, is what the stage imports.

A pin must then be one of those distributions, a companion in COUPLED that the stage loads at run time, or one of
effscale's own declared dependencies (pyproject.toml): the post-deploy script installs effscale without its
dependencies (envs/install-effscale.sh, tests/workflow/test_conda_deploy.py), so every env holds all of them.
"""
from __future__ import annotations

import ast
import functools
import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional, Set, Tuple

import pytest
import yaml

from conftest import ROOT, cli_env

pytestmark = pytest.mark.slow  # starts processes or runs Snakemake: `make test`, not `make test-fast`

PKG = 'effscale_timm'
CLI = f'{PKG}.cli'
ENV_DIR = ROOT / 'envs'
# Pins allowed beyond the direct imports: a companion whose version must match a pinned package. Only when the
# stage loads it at run time (timm imports torchvision in every stage).
COUPLED = {'torchvision': 'built for one torch version; unpinned, pip may pick one for another torch'}
BASE_CONDA = {'pip'}  # plus python=X.Y, checked below; effscale itself comes from the post-deploy script


def norm(name: str) -> str:
    """PEP 503 normalized distribution name."""
    return re.sub(r'[-_.]+', '-', name).lower()


def constraints() -> Dict[str, str]:
    pins = {}
    for line in (ROOT / 'constraints.txt').read_text().splitlines():
        line = line.split('#')[0].strip()
        if line:
            name, _, version = line.partition('==')
            assert version, f'constraints.txt: {line!r} is not name==version'
            pins[norm(name)] = version.strip()
    return pins


def env_spec(path: Path) -> Tuple[list, list]:
    """(conda dependencies, pip lines) of an env file."""
    spec = yaml.safe_load(path.read_text())
    conda = [d for d in spec['dependencies'] if isinstance(d, str)]
    pips = [d['pip'] for d in spec['dependencies'] if isinstance(d, dict) and 'pip' in d]
    assert len(pips) == 1, f'{path.name}: expected one pip section'
    return conda, pips[0]


def env_pins(path: Path) -> Dict[str, str]:
    return {norm(line.split('==')[0]): line.split('==')[1] for line in env_spec(path)[1]}


def project_dependencies() -> Set[str]:
    """effscale's own declared dependencies (pyproject.toml's ``dependencies``), normalized."""
    import tomllib
    declared = tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']['dependencies']
    return {norm(re.split(r'[<>=!~;\[ ]', d, maxsplit=1)[0]) for d in declared}


def stage_envs() -> Dict[str, str]:
    """{stage: env file name} from the rules: the `effscale <stage>` a rule runs and the conda env it names."""
    blocks, block = [], None
    for path in [ROOT / 'Snakefile', *sorted((ROOT / 'workflow/rules').glob('*.smk'))]:
        for line in path.read_text().splitlines() + ['']:
            if re.match(r'(local)?rule \w+:', line):
                block = [line]
                blocks.append(block)
            elif block is not None and (line.startswith((' ', '\t')) or not line.strip()):
                block.append(line)
            else:
                block = None
    stages = {}
    for block in map('\n'.join, blocks):
        rule = block.split(':')[0].split()[1]
        commands = set(re.findall(r'\beffscale ([\w-]+)', block))
        envs = re.findall(r'envs/([\w-]+\.yaml)', block)
        if not commands:
            assert not envs, f'rule {rule} has a conda env but runs no effscale stage'
            continue
        assert len(commands) == 1 and len(envs) == 1, f'rule {rule}: stages {commands}, envs {envs}'
        stage = commands.pop()
        assert stages.setdefault(stage, envs[0]) == envs[0], f'stage {stage} runs in two envs'
    return stages


# ---------------------------------------------------------------------------------------------------------- runtime

PROBE = r'''
import argparse, json, os, sys
import effscale_timm.cli as cli
stages, out = sys.argv[1].split(','), sys.argv[2]
for stage in stages:  # each stage in a fork of the process that imported what every stage imports
    pid = os.fork()
    if pid == 0:
        result = {}
        try:
            add, run = cli.STAGES[stage][1]()
            add(argparse.ArgumentParser())
            result['entries'] = [[f.__module__, f.__qualname__] for f in (add, run)]
            result['modules'] = sorted(sys.modules)
        except BaseException as e:
            result['error'] = f'{type(e).__name__}: {e}'
        with open(os.path.join(out, stage + '.json'), 'w') as f:
            json.dump(result, f)
        os._exit(0)
    os.waitpid(pid, 0)
'''


@pytest.fixture(scope='module')
def runtime(tmp_path_factory):
    """{stage: {'entries': [[module, qualname]], 'modules': [...]}} as `effscale <stage>` loads it."""
    from effscale_timm.cli import STAGES

    out = tmp_path_factory.mktemp('probe')
    proc = subprocess.run([sys.executable, '-c', PROBE, ','.join(STAGES), str(out)], capture_output=True, text=True,
                          env=cli_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = {}
    for stage in STAGES:
        data = json.loads((out / f'{stage}.json').read_text())
        assert 'error' not in data, f'loading stage {stage}: {data["error"]}'
        result[stage] = data
    return result


# ----------------------------------------------------------------------------------------------------------- static

def _module_files() -> Dict[str, Path]:
    files = {}
    for path in sorted((ROOT / PKG).rglob('*.py')):
        parts = list(path.relative_to(ROOT).with_suffix('').parts)
        if parts[-1] == '__init__':
            parts.pop()
        files['.'.join(parts)] = path
    return files


def _calls(tree) -> bool:
    """Whether evaluating ``tree`` calls something (lambdas are not entered: their body runs when called)."""
    if isinstance(tree, ast.Lambda):
        return False
    return isinstance(tree, ast.Call) or any(_calls(child) for child in ast.iter_child_nodes(tree))


def _is_main_guard(node) -> bool:
    return isinstance(node, ast.If) and "__name__" in ast.unparse(node.test) and "__main__" in ast.unparse(node.test)


class Module:
    """One package module: its definitions, what its names are bound to, and what it imports at module level."""

    def __init__(self, name: str, path: Path, modules: Set[str]):
        self.name, self.modules = name, modules
        self.package = name if path.name == '__init__.py' else name.rpartition('.')[0]
        self.tree = ast.parse(path.read_text(), str(path))
        self.defs: Dict[str, ast.AST] = {}  # name -> node whose body runs when the name is used
        self.bindings: Dict[str, Tuple[str, Optional[str]]] = {}  # local name -> (package module, attr or None)
        self.on_load = []  # module-level statements that run when the module is imported
        for node in self.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.defs[node.name] = node
                self.on_load.extend(node.decorator_list)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for t in ast.walk(target):
                        if isinstance(t, ast.Name):
                            self.defs[t.id] = node.value
                if _calls(node.value):  # `X = f()` runs f on import; `X = {'a': f}` runs nothing
                    self.on_load.append(node.value)
            elif not _is_main_guard(node):
                self.on_load.append(node)
        for node in ast.walk(self.tree):  # bindings from imports anywhere in the module (a small over-approximation)
            for local, target in self.package_imports(node):
                self.bindings[local] = target

    def _absolute(self, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ''
        base = self.package.split('.')
        base = base[:len(base) - (node.level - 1)]
        return '.'.join(base + ([node.module] if node.module else []))

    def package_imports(self, node):
        """[(local name, (package module, attr or None))] bound by an import of the package's own modules."""
        found = []
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split('.')[0] == PKG:
                    local = alias.asname or alias.name.split('.')[0]
                    found.append((local, (alias.name if alias.asname else PKG, None)))
        elif isinstance(node, ast.ImportFrom):
            module = self._absolute(node)
            if module.split('.')[0] == PKG:
                for alias in node.names:
                    sub = f'{module}.{alias.name}'
                    found.append((alias.asname or alias.name, (sub, None) if sub in self.modules else
                                  (module, alias.name)))
        return found

    @staticmethod
    def external_imports(node) -> Set[str]:
        """Third-party or stdlib module paths an import statement names."""
        if isinstance(node, ast.Import):
            return {a.name for a in node.names if a.name.split('.')[0] != PKG}
        if isinstance(node, ast.ImportFrom) and not node.level and node.module and \
                node.module.split('.')[0] != PKG:
            return {node.module}
        return set()


class Imports:
    """What a stage imports: every module path, with the package module or function that imports it."""

    def __init__(self):
        files = _module_files()
        self.modules = {name: Module(name, path, set(files)) for name, path in files.items()}

    def of_stage(self, loaded, entries) -> Dict[str, Set[str]]:
        imports: Dict[str, Set[str]] = {}
        seen_modules: Set[str] = set()
        seen_nodes: Set[Tuple[str, str]] = set()
        todo = []  # (module, name) nodes to visit

        def load(name):
            while name and name not in seen_modules and name in self.modules:
                seen_modules.add(name)
                module = self.modules[name]
                for stmt in module.on_load:
                    scan(module, stmt, f'{name} (module level)')
                name = name.rpartition('.')[0]  # importing a.b.c runs a/__init__ and a/b/__init__ first

        def note(module, node, where):
            for path in Module.external_imports(node):
                imports.setdefault(path, set()).add(where)
            for _, (target, _) in module.package_imports(node):
                load(target)

        def use(module_name, name, depth=0):
            module = self.modules.get(module_name)
            if module is None or depth > 20:
                return
            load(module_name)
            if name in module.defs:
                if (module_name, name) not in seen_nodes:
                    seen_nodes.add((module_name, name))
                    todo.append((module_name, name))
            elif name in module.bindings:
                target, attr = module.bindings[name]
                load(target)
                if attr is not None:
                    use(target, attr, depth + 1)

        def scan(module, tree, where):
            for node in ast.walk(tree):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    note(module, node, where)
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                    use(module.name, node.id)
                elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                    target = module.bindings.get(node.value.id)
                    if target and target[1] is None:  # `module.attr` of a package module
                        use(target[0], node.attr)

        for name in loaded:
            load(name)
        # `effscale` runs cli.main, whose own imports (the error types it catches) load modules in every stage;
        # its other names are every stage's loaders, so only its imports are followed.
        main = self.modules[CLI].defs.get('main')
        for node in ast.walk(main) if main is not None else ():
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                note(self.modules[CLI], node, f'{CLI}.main')
        for module_name, qualname in entries:
            use(module_name, qualname.split('.')[0])
        while todo:
            module_name, name = todo.pop()
            scan(self.modules[module_name], self.modules[module_name].defs[name], f'{module_name}.{name}')
        return imports


@functools.lru_cache(maxsize=1)
def _distributions() -> Dict[str, list]:
    return importlib.metadata.packages_distributions()


def distributions(module_paths) -> Dict[str, Set[str]]:
    """{normalized distribution: import names} of the third-party modules among ``module_paths``."""
    found: Dict[str, Set[str]] = {}
    for path in module_paths:
        top = path.split('.')[0]
        if top in sys.stdlib_module_names or top in ('__future__', '__main__', PKG):
            continue
        for dist in _distributions().get(top, []):
            found.setdefault(norm(dist), set()).add(top)
    return found


def stage_imports(runtime, stage):
    loaded = [m for m in runtime[stage]['modules'] if m.split('.')[0] == PKG]
    return Imports().of_stage(loaded, runtime[stage]['entries'])


# ------------------------------------------------------------------------------------------------------------ tests

def test_every_pin_agrees_with_constraints():
    pins = constraints()
    envs = sorted(ENV_DIR.glob('*.yaml'))
    assert envs
    for env in envs:
        conda, pip = env_spec(env)
        python = f'python={sys.version_info.major}.{sys.version_info.minor}'
        assert set(conda) == BASE_CONDA | {python}, f'{env.name}: conda dependencies {conda}'
        for line in pip:  # pins only: a path here would be resolved from .snakemake/conda/ (test_conda_deploy.py)
            name, sep, version = line.partition('==')
            assert sep and re.fullmatch(r'[A-Za-z0-9][A-Za-z0-9._-]*', name), f'{env.name}: {line!r} is not name==x'
            assert norm(name) in pins, f'{env.name}: {name} is not in constraints.txt'
            assert pins[norm(name)] == version, f'{env.name}: {line}, constraints.txt has {pins[norm(name)]}'
        names = [norm(line.split('==')[0]) for line in pip]
        assert len(names) == len(set(names)), f'{env.name}: a package is pinned twice'


def test_every_stage_has_a_rule_and_an_env():
    from effscale_timm.cli import STAGES

    stages = stage_envs()
    assert set(stages) == set(STAGES)
    assert {ENV_DIR / e for e in stages.values()} == set(ENV_DIR.glob('*.yaml'))


def test_the_import_finder_sees_lazy_imports(runtime):
    """The static half finds imports made inside functions, and only in what the stage reaches."""
    profile = stage_imports(runtime, 'profile')
    assert all(where.startswith('effscale_timm.flops.') for where in profile['fvcore.nn'])  # in a function
    prepare = stage_imports(runtime, 'prepare')
    assert {'sklearn.datasets', 'PIL'} <= set(prepare)  # one dataset loader each, reached through SOURCES
    report = stage_imports(runtime, 'report')
    assert {'matplotlib.figure'} <= set(report)
    assert not {'fvcore.nn', 'sklearn.datasets', 'pytorch_grad_cam'} & set(report)
    cam = stage_imports(runtime, 'cam')
    assert 'pytorch_grad_cam' in cam and not [p for p in cam if p.startswith('matplotlib')]  # cam_grid: report's


@pytest.mark.parametrize('stage', ['prepare', 'train', 'profile', 'cam', 'report'])
def test_env_pins_what_the_stage_imports_and_nothing_more(stage, runtime):
    env = stage_envs()[stage]
    pinned = set(env_pins(ENV_DIR / env))
    imports = stage_imports(runtime, stage)
    needed = distributions(imports)
    unmapped = sorted(p for p in imports if p.split('.')[0] not in sys.stdlib_module_names and
                      p.split('.')[0] not in ('__future__', PKG) and p.split('.')[0] not in _distributions())
    assert not unmapped, f'{stage}: no installed distribution provides {unmapped}'
    by_import: Dict[str, Set[str]] = {}
    for dist, tops in needed.items():
        for top in tops:
            by_import.setdefault(top, set()).add(dist)
    missing = {top: sorted(dists) for top, dists in by_import.items() if not dists & pinned}
    where = {top: sorted({w for p, ws in imports.items() if p.split('.')[0] == top for w in ws}) for top in missing}
    assert not missing, f'envs/{env} does not pin {missing}, imported by {where}'
    loaded = distributions(runtime[stage]['modules'])
    allowed = set(needed) | {d for d in COUPLED if d in loaded} | project_dependencies()
    assert not pinned - allowed, f'envs/{env} pins {sorted(pinned - allowed)}, which `effscale {stage}` never imports'
