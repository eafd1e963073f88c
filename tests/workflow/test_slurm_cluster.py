"""A tiny study through a real SLURM: `snakemake --executor slurm` with profiles/slurm against a one-node cluster
(tests/slurm/cluster.sh: munge, mariadb, slurmdbd, slurmctld, slurmd, two fake GPUs), brought up for this module and
taken down by PID at its end, also when a test fails. It runs as root on Debian (as in CI; the script installs the
packages with apt-get) and is skipped elsewhere with the script's reason.

What a cluster user relies on, checked against the scheduler itself: the jobs are submitted, tracked to completion
through the plugin's sacct queries (slurmdbd records them) and give the table of a local run of the same config; a
training that asks for GPUs sees the ones SLURM assigned; a training cancelled with scancel after its first epoch
checkpoint resumes from that checkpoint when the same command is run again.

The profile is profiles/slurm as shipped, with two changes for this test only: the training asks for `gpu: 2` (the
study trains on the CPU, so its own request is 0 GPUs) and one thread, like the local run it is compared with. They
go into a copy of the profile: `--set-resources` on the command line would replace the profile's whole
`set-resources` (partition, memory, CPUs per GPU) rather than add to it. The prepared dataset is copied in beforehand
(as in tests/test_slurm_profile.py), so the study's jobs are the training, the profile, the CAM and the report.

snakemake-executor-plugin-slurm 2.8.0 reads sacct's `CANCELLED by <uid>` as a job still running, so after a scancel
of its job Snakemake waits for it; the user's way out, which this test takes, is Ctrl-C (Snakemake then cancels its
other jobs and releases its locks) and the same command again.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, SNAKEMAKE, cli_env, untimed
from effscale_timm.data.prepared import checksum_path

pytestmark = pytest.mark.slow

CLUSTER = ROOT / 'tests/slurm/cluster.sh'
EPOCHS = 6  # about a second each: long enough to be cancelled after the first checkpoint, before the last
TINY = dict(dataset='digits', variants=['effscale_b0'], seeds=[0], epochs=EPOCHS, recipe='fast', batch_size=32,
            device='cpu', base_resolution=32, max_train_samples=64, max_eval_samples=32, hflip=False, threads=1,
            deterministic=True)
TRAIN_LOG = 'logs/train/digits/effscale_b0/seed0.log'
SUBMITTED = re.compile(r'has been submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/rule_(\w+)/')


def _slurm_env(state: Path) -> dict:
    """The tests' environment, talking to the test cluster (no SLURM variables of an enclosing job)."""
    env = {k: v for k, v in cli_env().items() if not k.startswith(('SLURM_', 'SBATCH_', 'SRUN_'))}
    env['SLURM_CONF'] = str(state / 'slurm.conf')
    return env


@pytest.fixture(scope='module')
def cluster(tmp_path_factory):
    """The state folder of a running one-node cluster; down at the end of the module, whatever happened."""
    check = subprocess.run([str(CLUSTER), 'check'], capture_output=True, text=True)
    if check.returncode != 0:
        pytest.skip(f'no test SLURM cluster here: {check.stdout.strip() or check.stderr.strip()}')
    state = Path(os.environ.get('EFFSCALE_SLURM_STATE') or tmp_path_factory.mktemp('slurm'))
    try:
        up = subprocess.run([str(CLUSTER), 'up', str(state)], capture_output=True, text=True, timeout=900)
        assert up.returncode == 0, f'the test cluster did not come up:\n{up.stderr[-4000:]}'
        yield state
    finally:
        down = subprocess.run([str(CLUSTER), 'down', str(state)], capture_output=True, text=True, timeout=300)
        assert down.returncode == 0, f'the test cluster did not go down:\n{down.stderr[-3000:]}'


def _workdir(path: Path, digits_npz: Path) -> Path:
    """A working directory with the tiny config and the prepared dataset already in place."""
    prepared = path / 'results/data/digits.npz'
    prepared.parent.mkdir(parents=True)
    shutil.copy(digits_npz, prepared)
    shutil.copy(checksum_path(digits_npz), checksum_path(prepared))
    (path / 'test_config.yaml').write_text(yaml.safe_dump(TINY, sort_keys=False))
    return path


@pytest.fixture(scope='module')
def local_study(tmp_path_factory, digits_npz):
    """The tiny study run locally (no SLURM), to compare with."""
    work = _workdir(tmp_path_factory.mktemp('local'), digits_npz)
    cmd = [SNAKEMAKE, '-s', str(ROOT / 'Snakefile'), '-d', str(work), '--cores', '2', '--configfile',
           str(work / 'test_config.yaml')]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=cli_env(), timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return work


def _test_profile(folder: Path) -> Path:
    """profiles/slurm as shipped, with the training asking for two GPUs and one thread (see the module's doc)."""
    profile = yaml.safe_load((ROOT / 'profiles/slurm/config.yaml').read_text())
    profile['set-resources']['train'] = dict(profile['set-resources']['train'], gpu=2)
    profile['set-threads']['train'] = 1
    folder.mkdir()
    (folder / 'config.yaml').write_text(yaml.safe_dump(profile, sort_keys=False))
    return folder


def _wait(condition, proc, seconds, what):
    """Poll ``condition`` until it is true; fail when ``proc`` ends first or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert proc.poll() is None, f'Snakemake ended (exit {proc.returncode}) before {what}'
        assert time.monotonic() < deadline, f'no {what} within {seconds} s'
        time.sleep(0.2)


def submitted(log: str) -> list:
    """[(SLURM job id, rule)] in the order Snakemake submitted them."""
    return SUBMITTED.findall(log)


def sacct(job_ids, env) -> dict:
    """{job id: (state, allocated TRES)} as slurmdbd recorded them."""
    out = subprocess.run(['sacct', '-X', '-n', '-P', '--format=JobIDRaw,State,AllocTRES', '-j', ','.join(job_ids)],
                         capture_output=True, text=True, env=env, check=True).stdout
    return {row.split('|')[0]: tuple(row.split('|')[1:]) for row in out.split('\n') if row}


def _cancel_training_then_interrupt(cmd, work, env):
    """Run ``cmd``; once the training wrote its first epoch checkpoint, scancel its job, and when sacct shows it
    cancelled, interrupt Snakemake as a user would (SIGINT). Returns Snakemake's output and the cancelled job id."""
    log_path = work / 'first_run.log'
    with open(log_path, 'w') as log:
        # SIGINT as a terminal delivers it: a job started in the background (`setsid make test &`, as .ci/run does)
        # inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler: Snakemake would not stop.
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            _wait(lambda: any(work.glob('results/ckpt/*/last.pt')), proc, 300, 'a first epoch checkpoint')
            train = [job for job, rule in submitted(log_path.read_text()) if rule == 'train']
            assert len(train) == 1, log_path.read_text()[-3000:]
            subprocess.run(['scancel', train[0]], env=env, check=True)
            _wait(lambda: sacct(train, env).get(train[0], ('',))[0].startswith('CANCELLED'), proc, 60,
                  f'job {train[0]} cancelled in sacct')
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert not (work / 'results/runs/digits/effscale_b0/seed0/final.json').exists(), \
        'the training finished before its job was cancelled: nothing is left to resume'
    return log_path.read_text(), train[0]


@pytest.fixture(scope='module')
def slurm_study(cluster, tmp_path_factory, digits_npz):
    """The tiny study through SLURM: the first command is interrupted after its training's job was cancelled, the
    same command then finishes the study."""
    work = _workdir(tmp_path_factory.mktemp('slurm_study'), digits_npz)
    env = _slurm_env(cluster)
    cmd = [SNAKEMAKE, '-s', str(ROOT / 'Snakefile'), '-d', str(work), '--configfile', str(work / 'test_config.yaml'),
           '--workflow-profile', str(_test_profile(work / 'profile')),
           '--slurm-init-seconds-before-status-checks', '1', '--verbose']
    first, cancelled = _cancel_training_then_interrupt(cmd, work, env)
    second = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    output = second.stdout + second.stderr
    (work / 'second_run.log').write_text(output)
    assert second.returncode == 0, output[-5000:]
    jobs = submitted(output)
    return dict(work=work, env=env, first=first, second=output, cancelled=cancelled, jobs=jobs,
                sacct=sacct([job for job, _ in jobs] + [cancelled], env))


def test_the_jobs_are_submitted_and_tracked_to_completion_through_sacct(slurm_study):
    jobs, states = slurm_study['jobs'], slurm_study['sacct']
    rules = sorted(rule for _, rule in jobs)
    assert {'train', 'cam', 'report'} <= set(rules) <= {'train', 'cam', 'report', 'profile'}, rules
    assert len(rules) == len(set(rules)), f'a job was submitted twice: {jobs}'
    for job, rule in jobs:
        assert states[job][0] == 'COMPLETED', f'{rule} (SLURM job {job}): {states[job]}'
    output = slurm_study['second']
    assert 'command=sacct' in output and 'command=squeue' not in output  # the plugin's status queries
    assert output.count('Finished jobid') == len(jobs) + 1  # each job noticed as finished, and the local `all`


def test_the_table_is_the_one_of_a_local_run(slurm_study, local_study):
    """The same config gives the same Table 1; only what is measured in time (the line with the training wall time and
    hardware, the columns of training speed) may differ."""
    def table(work):
        return untimed((work / 'reports/table1.md').read_text())

    assert table(slurm_study['work']) == table(local_study)
    finals = [json.loads((w / 'results/runs/digits/effscale_b0/seed0/final.json').read_text())
              for w in (slurm_study['work'], local_study)]
    assert finals[0]['test_top1'] == finals[1]['test_top1'] and finals[0]['status'] == 'ok'


def test_a_gpu_training_sees_the_gpus_slurm_assigned(slurm_study):
    train = [job for job, rule in slurm_study['jobs'] if rule == 'train'][0]
    assert 'gres/gpu=2' in slurm_study['sacct'][train][1], slurm_study['sacct'][train]
    log = (slurm_study['work'] / TRAIN_LOG).read_text()
    line = re.search(r'SLURM job (\d+): GPUs (\S+), CUDA_VISIBLE_DEVICES=(\S+)', log)
    assert line, log[-2000:]
    job, gpus, visible = line.groups()
    assert job == train
    assert len(gpus.split(',')) == 2 and visible.split(',') == gpus.split(','), line.group(0)


def test_a_training_cancelled_with_scancel_resumes_from_its_checkpoint_with_the_same_command(slurm_study):
    state = slurm_study['sacct'][slurm_study['cancelled']][0]
    assert state.startswith('CANCELLED'), state
    log = (slurm_study['work'] / TRAIN_LOG).read_text()
    resumed = re.search(r'resuming effscale_b0 from epoch (\d+)', log)
    assert resumed and 1 <= int(resumed.group(1)) < EPOCHS, log[-2000:]
    metrics = (slurm_study['work'] / 'results/runs/digits/effscale_b0/seed0/metrics.csv').read_text()
    assert len(metrics.strip().splitlines()) == EPOCHS + 1  # a header and every epoch, the resumed ones included
