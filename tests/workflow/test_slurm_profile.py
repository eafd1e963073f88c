"""The SLURM profile through the real `snakemake --workflow-profile profiles/slurm` CLI and the real
snakemake-executor-plugin-slurm, with fake SLURM commands first on PATH: the fake `sbatch` records its argv and hands
out job ids, the fake `sacct` reports every job FAILED, so Snakemake stops after the first status check. What is
checked is what a cluster would receive: a training asks for its GPUs (the rule's own count, not a number written in
the profile), CPUs per GPU, one node and one task (torchrun inside the job spawns the workers), on the GPU partition,
with the config's time limit and memory (train_runtime_min, train_mem_mb: set in one place, not in the profile); a CPU
rule asks for no GPU. The one-task rule holds from plugin 2.7.1 on (2.7.0 and earlier turn a GPU job without `tasks`
into --ntasks-per-gpu=1: plugin issues #316, #459), so pyproject.toml requires at least that version.
tests/test_slurm_cluster.py runs a study on a real one-node SLURM."""
import json
import os
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, SNAKEMAKE, cli_env
from effscale_timm.data.prepared import checksum_path

pytestmark = pytest.mark.slow  # starts processes or runs Snakemake: `make test`, not `make test-fast`

TRAIN_FINAL = 'results/runs/digits/effscale_b0/seed0/final.json'
PROFILE_JSON = 'results/profile/digits/effscale_b0.json'  # a CPU rule with no inputs: submitted beside the train job
TINY = dict(dataset='digits', variants=['effscale_b0'], seeds=[0], epochs=1, recipe='fast', batch_size=64,
            device='cuda', base_resolution=32, max_train_samples=64, max_eval_samples=32, threads=2,
            train_runtime_min=45, train_mem_mb=12000)  # a training job's time limit and memory: set here only

# sbatch (called through a shell with --parsable): record argv, print a job id. sacct: FAILED for every job id
# handed out (the status query), nothing for the account guess and the failure-reason queries. scontrol: the two
# values the plugin reads. sinfo/squeue/sacctmgr/sshare/scancel: present, silent.
FAKE_SBATCH = '''
import json, os, sys
log = os.environ['FAKE_SLURM_DIR']
with open(os.path.join(log, 'ids'), 'a+') as f:
    f.seek(0)
    job_id = 1000 + len(f.read().split())
    f.write(f'{job_id}\\n')
with open(os.path.join(log, 'sbatch.jsonl'), 'a') as f:
    f.write(json.dumps({'id': job_id, 'argv': sys.argv[1:], 'stdin': '' if sys.stdin.isatty() else sys.stdin.read()})
            + '\\n')
print(job_id)
'''
FAKE_SACCT = '''
import os, sys
if any(a.startswith('--format=JobIdRaw') for a in sys.argv):
    path = os.path.join(os.environ['FAKE_SLURM_DIR'], 'ids')
    for job_id in (open(path).read().split() if os.path.exists(path) else []):
        print(f'{job_id}|FAILED')
'''
FAKE_SCONTROL = '''
print('MinJobAge               = 300 sec')
print('MaxArraySize            = 1001')
'''


def _fake_slurm(bin_dir: Path):
    bin_dir.mkdir()
    scripts = dict(sbatch=FAKE_SBATCH, sacct=FAKE_SACCT, scontrol=FAKE_SCONTROL)
    for name in ('sbatch', 'sacct', 'scontrol', 'squeue', 'sinfo', 'sacctmgr', 'sshare', 'scancel'):
        path = bin_dir / name
        path.write_text(f'#!{sys.executable}\n' + textwrap.dedent(scripts.get(name, '')))
        path.chmod(0o755)


def _start(tmp_path, digits_npz, **config):
    """Start snakemake with the SLURM profile against fake SLURM commands (in the background)."""
    work = tmp_path / 'work'
    prepared = work / 'results/data/digits.npz'  # prepared beforehand: the train job is ready at once
    prepared.parent.mkdir(parents=True)
    shutil.copy(digits_npz, prepared)
    shutil.copy(checksum_path(digits_npz), checksum_path(prepared))
    config_file = work / 'test_config.yaml'
    config_file.write_text(yaml.safe_dump(dict(TINY, **config), sort_keys=False))
    _fake_slurm(tmp_path / 'bin')
    env = {k: v for k, v in cli_env().items() if not k.startswith(('SLURM_', 'SBATCH_', 'SRUN_'))}
    env.update(PATH=f'{tmp_path / "bin"}{os.pathsep}{env["PATH"]}', FAKE_SLURM_DIR=str(tmp_path))
    cmd = [SNAKEMAKE, '-s', str(ROOT / 'Snakefile'), '-d', str(work),
           '--workflow-profile', str(ROOT / 'profiles/slurm'), '--configfile', str(config_file), '--retries', '0',
           '--latency-wait', '1',
           '--slurm-init-seconds-before-status-checks', '1', TRAIN_FINAL, PROFILE_JSON]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _submitted(tmp_path, proc):
    """{rule: sbatch argv} of what a finished run submitted."""
    out, err = proc.communicate(timeout=120)
    log = out[-3000:] + err[-6000:]
    records = tmp_path / 'sbatch.jsonl'
    assert records.exists(), f'nothing was submitted:\n{log}'
    assert proc.returncode != 0 and 'FAILED' in log, log  # the fake sacct failed the jobs: nothing ran
    by_rule = {}
    for line in records.read_text().splitlines():
        argv = json.loads(line)['argv']
        comment = argv[argv.index('--comment') + 1]
        by_rule[comment.split('_wildcards_')[0].removeprefix('rule_')] = argv
    assert set(by_rule) == {'train', 'profile'}, (by_rule, log)
    return by_rule


@pytest.fixture(scope='module')
def submitted(tmp_path_factory, digits_npz):
    """submitted(n): {rule: sbatch argv} of a run whose trainings use n GPUs. The runs (one per count) start side by
    side, most of each is importing and parsing the workflow."""
    counts = [1, 2]
    dirs = {n: tmp_path_factory.mktemp(f'slurm_gpu{n}') for n in counts}
    procs = {n: _start(dirs[n], digits_npz, **({'nproc_per_node': n} if n > 1 else {})) for n in counts}
    yield lambda n: _submitted(dirs[n], procs[n])
    for proc in procs.values():
        proc.kill()
        proc.wait()


def flags(argv):
    """sbatch's options as {flag: value} ('--x=v' and '-x v' both; a bare flag maps to True), --wrap left out."""
    out, i = {}, 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith('--wrap'):
            i += 1 if '=' in arg else 2
            continue
        if '=' in arg and arg.startswith('--'):
            key, value = arg.split('=', 1)
            out[key] = value
        elif arg.startswith('-') and i + 1 < len(argv) and not argv[i + 1].startswith('-'):
            out[arg] = argv[i + 1]
            i += 1
        else:
            out[arg] = True
        i += 1
    return out


def _shown(argv):
    return 'sbatch ' + shlex.join(a for a in argv if not a.startswith('--wrap'))


def _check_train(argv, gpus):
    train, shown = flags(argv), _shown(argv)
    wrap = next(a for a in argv if a.startswith('--wrap'))
    assert train.get('--gpus') == str(gpus), shown  # the rule's own count: 2.8.0 emits --gpus=N for `gpu: N`
    assert '--gres' not in train, shown
    assert train.get('--cpus-per-gpu') == '8' and '--cpus-per-task' not in train, shown
    # one task: 2.8.0 gives a GPU job no --ntasks at all (SLURM's default: one task per node) and turns a `tasks`
    # resource into --ntasks-per-gpu, which would start the training once per GPU
    assert train.get('--ntasks', '1') == '1' and train.get('-n', '1') == '1', shown
    assert '--ntasks-per-gpu' not in train and '--ntasks-per-node' not in train, shown
    assert train.get('--nodes') == '1', shown
    assert train.get('-p') == 'gpu', shown
    assert train.get('--mem') == '12000' and train.get('-t') == '45', shown  # the config's, not overridden
    assert '--executor slurm-jobstep' in wrap and '--allowed-rules train' in wrap, shown  # one job step, this rule


def _check_cpu_rule(argv):
    cpu, shown = flags(argv), _shown(argv)
    assert not any(k in cpu for k in ('--gpus', '--gres', '--cpus-per-gpu', '--ntasks-per-gpu')), shown
    assert cpu.get('-p') == 'cpu' and cpu.get('--ntasks') == '1', shown
    assert cpu.get('--cpus-per-task') == '1', shown  # the profile rule's threads: 1


def test_one_gpu_training_is_submitted_as_one_task_with_its_gpu(submitted):
    by_rule = submitted(1)
    _check_train(by_rule['train'], gpus=1)
    _check_cpu_rule(by_rule['profile'])
    for rule, argv in by_rule.items():
        print(f'{rule}: {_shown(argv)}')


def test_two_gpu_training_asks_for_two_gpus_in_one_task(submitted):
    by_rule = submitted(2)
    _check_train(by_rule['train'], gpus=2)  # not the profile's number, not two tasks of one GPU each
    _check_cpu_rule(by_rule['profile'])
    print(f'train: {_shown(by_rule["train"])}')


def test_the_plugin_version_that_gives_one_task_is_required():
    """pyproject.toml asks for plugin >= 2.7.1, and the version installed here (constraints.txt's) is one."""
    import importlib.metadata
    import tomllib

    from packaging.requirements import Requirement
    from packaging.version import Version

    extras = tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']['optional-dependencies']['pipeline']
    plugin = next(Requirement(r) for r in extras if Requirement(r).name == 'snakemake-executor-plugin-slurm')
    assert plugin.specifier and not plugin.specifier.contains('2.7.0') and plugin.specifier.contains('2.7.1'), plugin
    assert Version(importlib.metadata.version(plugin.name)) in plugin.specifier
