"""The conda envs in envs/ as Snakemake deploys them (`snakemake --sdm conda`), not as text.

Snakemake 9 (snakemake/deployment/conda.py) copies each env file to .snakemake/conda/<hash>.yaml, runs
`conda env create --file .snakemake/conda/<hash>.yaml --prefix .snakemake/conda/<hash>` from the run's working
directory, then copies the env's post-deploy script to .snakemake/conda/<hash>.post-deploy.sh and runs it inside the
new env (`source <conda>/bin/activate <env>; bash <copy>`), again from the working directory. conda installs the pip
section through a requirements file that it writes beside the env file and runs pip in that folder
(conda/env/installers/pip.py), so every path in a pip section is resolved from .snakemake/conda/; that is why
`-e ..` never installed the project. effscale is installed by the post-deploy script instead
(envs/install-effscale.sh), from EFFSCALE_ROOT, which the Snakefile exports.

Here the real Snakemake CLI deploys every env of a study that uses all six (Table 1 and the coefficient search) with
`--sdm conda --conda-create-envs-only`, against a stand-in `conda` first on PATH that does what conda does at the
points that matter: the env file's folder as pip's working directory, the pip section through a requirements file
there, run by real pip. It takes the pinned packages from this test's own environment (linked into each env, with
no package index), so it needs no network: a pin that environment lacks fails as it would offline. Where a real
`conda` exists, the same test deploys one env (the profile rule's: the others differ only in their pins, and each
downloads several GB) and runs its job in it.
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, SNAKEMAKE, cli_env

pytestmark = pytest.mark.slow  # starts processes or runs Snakemake: `make test`, not `make test-fast`

ENVS = sorted((ROOT / 'envs').glob('*.yaml'))
STUDY = dict(dataset='digits', variants=['effscale_b0'], seeds=[0], epochs=1, recipe='fast', batch_size=32,
             device='cpu', base_resolution=32, max_train_samples=64, max_eval_samples=32, threads=1,
             search=dict(grid=dict(alpha=[1.0, 1.25, 0.25], beta=[1.2, 1.4, 0.2], gamma=[1.0, 1.125, 0.125]),
                         phis=1, hold_out_phi=None))

# The stand-in conda: the commands and output Snakemake reads (snakemake/deployment/conda.py, class Conda), and
# `env create` as conda does it. Each `env create` is recorded in FAKE_CONDA_LOG.
FAKE_CONDA = '''
import json, os, subprocess, sys, sysconfig, tempfile
import yaml

args = sys.argv[1:]
if args == ['--version']:
    print('conda 25.5.1')
elif args[:2] == ['info', '--json']:
    print(json.dumps({'conda_prefix': os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      'platform': 'linux-64'}))
elif args[:2] == ['config', '--get']:
    print(json.dumps({'get': {'channel_priority': 'strict'}}))
elif args[:1] == ['clean']:
    pass  # no package cache: nothing was downloaded
elif args[:2] == ['env', 'create']:
    env_file, prefix = args[args.index('--file') + 1], args[args.index('--prefix') + 1]
    pip_workdir = os.path.dirname(os.path.abspath(env_file))  # conda: the env file's folder
    with open(os.environ['FAKE_CONDA_LOG'], 'a') as log:
        log.write(json.dumps({'file': os.path.abspath(env_file), 'prefix': os.path.abspath(prefix),
                              'cwd': os.getcwd(), 'pip_workdir': pip_workdir}) + '\\n')
    spec = yaml.safe_load(open(env_file))
    pip = [d['pip'] for d in spec['dependencies'] if isinstance(d, dict)][0]
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', prefix], check=True)
    site = subprocess.run([os.path.join(prefix, 'bin', 'python'), '-c',
                           'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                          capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(site, '_linked_test_env.pth'), 'w') as f:  # the pinned packages, without an index
        f.write(sysconfig.get_paths()['purelib'] + '\\n')
    with tempfile.NamedTemporaryFile('w', prefix='condaenv.', suffix='.requirements.txt', dir=pip_workdir,
                                     delete=False) as requirements:
        requirements.write('\\n'.join(pip))
    try:
        subprocess.run([os.path.join(prefix, 'bin', 'python'), '-m', 'pip', 'install', '-U', '-r',
                        requirements.name, '--exists-action=b'], cwd=pip_workdir, check=True)
    finally:
        os.remove(requirements.name)
else:
    sys.exit(f'fake conda: {args} is not implemented')
'''
FAKE_ACTIVATE = '''
# `source <conda>/bin/activate <env>`, as Snakemake runs a command in an env
export CONDA_PREFIX="$1"
export PATH="$1/bin:$PATH"
'''


def _fake_conda(folder: Path) -> Path:
    """A stand-in conda installation in ``folder``; returns its bin folder."""
    bin_dir = folder / 'bin'
    bin_dir.mkdir(parents=True)
    (bin_dir / 'conda').write_text(f'#!{sys.executable}\n' + textwrap.dedent(FAKE_CONDA))
    (bin_dir / 'conda').chmod(0o755)
    (bin_dir / 'activate').write_text(FAKE_ACTIVATE)
    return bin_dir


def _deploy(work: Path, env: dict, *targets) -> subprocess.CompletedProcess:
    """`snakemake --sdm conda --conda-create-envs-only` of the study in ``work``, as a user runs it."""
    work.mkdir(parents=True, exist_ok=True)
    (work / 'config.yaml').write_text(yaml.safe_dump(STUDY, sort_keys=False))
    cmd = [SNAKEMAKE, '-s', str(ROOT / 'Snakefile'), '-d', str(work), '--configfile', str(work / 'config.yaml'),
           '--cores', '1', '--sdm', 'conda', '--conda-create-envs-only', *targets]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)


def _in_env(prefix: str, conda_bin: Path, script: str, env: dict) -> subprocess.CompletedProcess:
    """Run ``script`` in the deployed env as Snakemake runs a job's command there, from an unrelated folder and
    without this test's PYTHONPATH, so that only what the env installed can be imported."""
    clean = {k: v for k, v in env.items() if k != 'PYTHONPATH'}
    return subprocess.run(['bash', '-c', f"source {conda_bin / 'activate'} '{prefix}'; cd /; {script}"],
                          capture_output=True, text=True, env=clean)


def _check_env(prefix: str, conda_bin: Path, env: dict):
    """The env runs `effscale` from its own bin folder, importing the project's code."""
    probe = _in_env(prefix, conda_bin, 'command -v effscale; python -c "import importlib.util as u; '
                                       'print(u.find_spec(\'effscale_timm\').origin)"; effscale --help', env)
    assert probe.returncode == 0, probe.stderr[-3000:]
    where, module = probe.stdout.splitlines()[:2]
    assert where == f'{prefix}/bin/effscale', probe.stdout
    assert Path(module) == ROOT / 'effscale_timm/__init__.py', probe.stdout
    assert 'usage: effscale' in probe.stdout


@pytest.fixture(scope='module')
def fake_deployment(tmp_path_factory):
    """Every env of the study deployed by the real Snakemake through the stand-in conda: (workdir, records, env)."""
    root = tmp_path_factory.mktemp('fake_conda')
    conda_bin = _fake_conda(root / 'conda')
    env = cli_env()
    env.update(PATH=f'{conda_bin}{os.pathsep}{env["PATH"]}', FAKE_CONDA_LOG=str(root / 'creates.jsonl'),
               PIP_NO_INDEX='1', PIP_NO_BUILD_ISOLATION='0')  # offline: the build backend from the linked packages
    work = root / 'work'
    out = _deploy(work, env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-6000:]
    records = [json.loads(line) for line in (root / 'creates.jsonl').read_text().splitlines()]
    return work, records, env, conda_bin


def test_every_env_file_is_deployed_where_snakemake_puts_it(fake_deployment):
    work, records, _, _ = fake_deployment
    copies = {Path(r['file']).read_text(): r for r in records}
    assert len(records) == len(ENVS) == len(copies), [r['file'] for r in records]
    for env_file in ENVS:
        record = copies.get(env_file.read_text())
        assert record, f'{env_file.name} was not deployed'
        copy = Path(record['file'])
        assert copy.parent == work / '.snakemake/conda' and copy.suffix == '.yaml', record
        assert record['pip_workdir'] == str(copy.parent) and record['cwd'] == str(work), record
        assert Path(record['prefix']) == copy.with_suffix('') and (work / '.snakemake/conda').is_dir()
        deploy_copy = copy.with_suffix('.post-deploy.sh')
        assert deploy_copy.read_text() == (ROOT / 'envs/install-effscale.sh').read_text(), env_file.name


def test_every_deployed_env_runs_the_projects_effscale(fake_deployment):
    _, records, env, conda_bin = fake_deployment
    for record in records:
        _check_env(record['prefix'], conda_bin, env)


def test_a_path_in_a_pip_section_is_resolved_from_snakemakes_copy(fake_deployment, tmp_path):
    """The reason for the post-deploy script: the former `-e ..` fails where Snakemake puts the env file."""
    _, _, env, _ = fake_deployment
    broken = tmp_path / 'envs'
    shutil.copytree(ROOT / 'envs', broken, symlinks=True)
    for env_file in broken.glob('*.yaml'):
        spec = yaml.safe_load(env_file.read_text())
        next(d for d in spec['dependencies'] if isinstance(d, dict))['pip'].append('-e ..')
        env_file.write_text(yaml.safe_dump(spec))
    project = tmp_path / 'project'  # the project with the pip sections of before
    shutil.copytree(ROOT, project, ignore=shutil.ignore_patterns('.git', '.venv', 'envs', '.snakemake', 'results'),
                    symlinks=True)
    shutil.copytree(broken, project / 'envs', symlinks=True)
    (tmp_path / 'config.yaml').write_text(yaml.safe_dump(dict(STUDY, search=None)))
    out = subprocess.run([SNAKEMAKE, '-s', str(project / 'Snakefile'), '-d', str(tmp_path / 'work'), '--cores', '1',
                          '--configfile', str(tmp_path / 'config.yaml'), '--sdm', 'conda',
                          '--conda-create-envs-only', 'results/profile/digits/effscale_b0.json'],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode != 0
    assert 'does not appear to be a Python project' in out.stdout + out.stderr, (out.stdout + out.stderr)[-3000:]


def test_the_post_deploy_script_says_what_is_missing(tmp_path):
    out = subprocess.run(['bash', str(ROOT / 'envs/install-effscale.sh')], capture_output=True, text=True,
                         env={k: v for k, v in os.environ.items() if k != 'EFFSCALE_ROOT'}, cwd=tmp_path)
    assert out.returncode == 1 and "EFFSCALE_ROOT='' is not the effscale project" in out.stderr


def test_every_env_has_a_post_deploy_script_and_pins_what_effscale_needs():
    """effscale is installed without dependencies: each env pins every one of them."""
    import tomllib

    needed = {d.split('>')[0].split('=')[0].strip().lower() for d in
              tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']['dependencies']}
    for env_file in ENVS:
        hook = env_file.with_suffix('.post-deploy.sh')
        assert hook.resolve() == (ROOT / 'envs/install-effscale.sh').resolve(), f'{hook.name} is not the script'
        spec = yaml.safe_load(env_file.read_text())
        pins = {line.split('==')[0].lower() for d in spec['dependencies'] if isinstance(d, dict) for line in d['pip']}
        assert needed <= pins, f'{env_file.name} does not pin {sorted(needed - pins)}'


@pytest.mark.skipif(shutil.which('conda') is None, reason='conda is not installed here: the stand-in conda above '
                                                          'deploys every env; this one would deploy with real conda')
def test_real_conda_creates_an_env_and_runs_a_job_in_it(tmp_path):
    env = cli_env()
    target = 'results/profile/digits/effscale_b0.json'
    out = _deploy(tmp_path / 'work', env, target)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-6000:]
    run = subprocess.run([SNAKEMAKE, '-s', str(ROOT / 'Snakefile'), '-d', str(tmp_path / 'work'), '--configfile',
                          str(tmp_path / 'work/config.yaml'), '--cores', '1', '--sdm', 'conda', target],
                         capture_output=True, text=True, env=env, timeout=1800)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]
    info = json.loads(subprocess.run(['conda', 'info', '--json'], capture_output=True, text=True).stdout)
    prefix = next(p for p in (tmp_path / 'work/.snakemake/conda').iterdir() if p.is_dir() and (p / 'bin').is_dir())
    _check_env(str(prefix), Path(info['conda_prefix']) / 'bin', env)
