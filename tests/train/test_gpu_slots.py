"""GPU ids on a multi-GPU machine, with a fake device list: each training takes a slot lock on the least busy GPU,
at most trainings_per_gpu per GPU, and a killed holder's slot is free again at once."""
import signal
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, cli_env
from effscale_timm.train import gpu_slots, launch
from effscale_timm.train.options import RunConfig

HOLD = '''
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location('gpu_slots', 'effscale_timm/train/gpu_slots.py')  # stdlib only: fast
module = sys.modules['gpu_slots'] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
slots = module.try_take(sys.argv[1].split(','), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
print(','.join(slots.names) if slots else 'none', flush=True)
time.sleep(600)
'''


def _holder(tmp_path, gpus='0,1', n=1, per_gpu=2):
    """A process that takes ``n`` slots and holds them; returns (process, the GPUs it got)."""
    proc = subprocess.Popen([sys.executable, '-c', HOLD, gpus, str(n), str(per_gpu), str(tmp_path)],
                            stdout=subprocess.PIPE, text=True, env=cli_env(), cwd=ROOT)
    return proc, proc.stdout.readline().strip()


@pytest.fixture
def holders():
    procs = []
    yield procs
    for p in procs:
        p.kill()
        p.wait()
        p.stdout.close()


def test_trainings_spread_over_the_gpus_and_wait_when_every_slot_is_held(tmp_path, holders):
    got = []
    for _ in range(4):
        proc, gpus = _holder(tmp_path)
        holders.append(proc)
        got.append(gpus)
    assert got == ['0', '1', '0', '1']  # least busy GPU first; two trainings per GPU
    assert gpu_slots.try_take(['0', '1'], 1, 2, tmp_path) is None  # all four slots held


def test_a_killed_trainings_slot_is_free_again(tmp_path, holders):
    for _ in range(4):
        holders.append(_holder(tmp_path)[0])
    holders[1].send_signal(signal.SIGKILL)  # held a slot on GPU 1; no clean-up runs
    holders[1].wait()
    slots = gpu_slots.try_take(['0', '1'], 1, 2, tmp_path)
    assert slots is not None and slots.names == ['1']
    slots.release()


def test_a_multi_gpu_training_gets_distinct_gpus(tmp_path, holders):
    proc, gpus = _holder(tmp_path, gpus='0,1,2', n=2, per_gpu=1)
    holders.append(proc)
    assert sorted(gpus.split(',')) == ['0', '1']
    assert gpu_slots.try_take(['0', '1', '2'], 2, 1, tmp_path) is None  # only GPU 2 is free
    with pytest.raises(RuntimeError, match='needs 4 GPUs'):
        gpu_slots.take(['0', '1', '2'], 4, 1, tmp_path)


def test_the_entry_point_trains_on_the_gpu_whose_slot_it_took(tmp_path, monkeypatch):
    """The entry point's own path, on a fake machine of 3 GPUs that CUDA_VISIBLE_DEVICES names 4,5,6."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 3)
    monkeypatch.setenv('CUDA_VISIBLE_DEVICES', '4,5,6')
    monkeypatch.setenv(gpu_slots.LOCK_DIR_ENV, str(tmp_path))
    monkeypatch.delenv('SLURM_JOB_ID', raising=False)
    cfg = RunConfig(variant='effscale_b0', data='d.npz', out_dir='o', device='cuda')
    first, second = launch._slots(cfg), launch._slots(cfg)
    assert (first.gpus, first.names, second.gpus, second.names) == ([0], ['4'], [1], ['5'])
    assert (tmp_path / 'gpu4.slot0.lock').exists()
    assert launch._slots(RunConfig(variant='effscale_b0', data='d.npz', out_dir='o', device='cuda:2')) is None
    monkeypatch.setenv('SLURM_JOB_ID', '7')  # SLURM's allocation already gives the job its GPUs
    assert launch._slots(cfg) is None
    first.release()
    second.release()
