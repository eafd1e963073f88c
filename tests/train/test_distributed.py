"""One training over two processes (torchrun, gloo on the CPU), as `effscale train --nproc-per-node 2` runs it on two
GPUs: the same updates as one process at the same global batch, one writer, a killed rank ends the whole job, and the
same command resumes every rank from the last checkpoint.

Tolerance: per-epoch train loss within 1e-3 (relative) and train top-1 within 2 images of one process at the same
global batch with micro-batch = the per-rank batch (the same batch-norm batches); measured equal to 4 decimals.
Stochastic depth and dropout are off, since each rank draws its own masks. Validation is not compared: batch-norm
running statistics move once per update per rank (averaged over ranks before evaluating, as timm does) but once per
micro-batch in one process, which after 3 short epochs changes validation accuracy by far more than any tolerance
worth stating.
"""
import csv
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import cli_env

pytestmark = pytest.mark.slow  # starts processes or runs Snakemake: `make test`, not `make test-fast`

ARGS = ['--variant', 'x_ddp', '--depth', '1', '--width', '0.5', '--resolution', '1', '--dropout', '0', '--drop-path',
        '0', '--epochs', '3', '--batch-size', '64', '--device', 'cpu', '--threads', '1', '--no-hflip',
        '--max-train-samples', '640', '--max-eval-samples', '256']


def _train(data, out, *extra, env=None, **popen):
    cmd = [sys.executable, '-m', 'effscale_timm.cli', 'train', *ARGS, '--data', str(data), '--out-dir', str(out),
           '--ckpt-root', str(out / 'ckpt'), *extra]
    return subprocess.Popen(cmd, env=env or cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            **popen)


def _finish(proc, timeout=600):
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def _rows(folder):
    with open(folder / 'metrics.csv') as f:
        return list(csv.DictReader(f))


def _workers(tag):
    """{rank: pid} of the live processes whose environment carries ``tag`` and a torchrun RANK."""
    found = {}
    for proc in Path('/proc').iterdir():
        try:
            env = dict(e.split('=', 1) for e in (proc / 'environ').read_text().split('\0') if '=' in e)
        except (OSError, ValueError):
            continue
        if env.get('EFFSCALE_TEST_RUN') == tag and 'RANK' in env and 'LOCAL_RANK' in env:
            found[int(env['RANK'])] = int(proc.name)
    return found


@pytest.fixture(scope='module')
def runs(digits_npz, tmp_path_factory):
    """Two processes, one process (micro-batch 32), and two processes killed (rank 1, SIGKILL) after the first
    epoch's checkpoint and run again by the same command."""
    root = tmp_path_factory.mktemp('ddp')
    two = _finish(_train(digits_npz, root / 'two', '--nproc-per-node', '2'))
    one = _finish(_train(digits_npz, root / 'one', '--micro-batch', '32'))
    tag = uuid.uuid4().hex
    env = dict(cli_env(), EFFSCALE_TEST_RUN=tag)
    killed_dir = root / 'killed'
    proc = _train(digits_npz, killed_dir, '--nproc-per-node', '2', env=env, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not list(killed_dir.glob('ckpt/*/last.pt')):
        time.sleep(0.05)
    workers = _workers(tag)
    assert proc.poll() is None and set(workers) == {0, 1}, 'the job ended before its first checkpoint'
    os.kill(workers[1], signal.SIGKILL)
    killed = _finish(proc, timeout=120)
    left = _workers(tag)
    os.killpg(proc.pid, signal.SIGKILL) if left else None
    resumed = _finish(_train(digits_npz, killed_dir, '--nproc-per-node', '2', env=env))
    return dict(root=root, two=two, one=one, killed=killed, left=left, resumed=resumed)


def test_two_processes_make_the_same_updates_as_one_at_the_same_global_batch(runs):
    root = runs['root']
    assert runs['two'][0] == 0 and runs['one'][0] == 0, runs['two'][1][-3000:] + runs['one'][1][-3000:]
    two, one = _rows(root / 'two'), _rows(root / 'one')
    assert len(two) == len(one) == 3
    for a, b in zip(two, one):
        assert float(a['train_loss']) == pytest.approx(float(b['train_loss']), rel=1e-3), (a, b)
        assert abs(float(a['train_top1']) - float(b['train_top1'])) <= 2 * 100 / 640, (a, b)
        assert a['micro_batch'] == '32'
    final = (root / 'two' / 'final.json').read_text()
    assert '"processes": 2' in final and '"status": "ok"' in final


def test_a_killed_rank_ends_the_whole_job(runs):
    code, out = runs['killed']
    assert code != 0, out[-3000:]
    assert not runs['left'], f'workers still running after rank 1 was killed: {runs["left"]}'
    assert 'Signals.SIGKILL' in out or 'exitcode  : -9' in out, out[-3000:]


def test_the_same_command_resumes_every_rank_and_finishes_as_if_never_killed(runs):
    code, out = runs['resumed']
    assert code == 0, out[-3000:]
    assert 'resuming x_ddp from epoch' in out
    resumed, whole = _rows(runs['root'] / 'killed'), _rows(runs['root'] / 'two')
    assert [r['epoch'] for r in resumed] == ['1', '2', '3']
    for a, b in zip(resumed, whole):
        assert float(a['train_loss']) == pytest.approx(float(b['train_loss']), rel=1e-4), (a, b)
        assert a['val_top1'] == b['val_top1'], (a, b)
