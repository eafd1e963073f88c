"""Shared fixtures: a prepared real dataset (scikit-learn digits) and a helper to run the `effscale` CLI."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def cli_env():
    env = dict(os.environ)
    env['PATH'] = f'{BIN}{os.pathsep}{env.get("PATH", "")}'
    env['PYTHONPATH'] = f'{ROOT}{os.pathsep}{env.get("PYTHONPATH", "")}'
    env.setdefault('OMP_NUM_THREADS', '2')
    return env


def effscale(*args, check=True, **kwargs):
    """Run `effscale ARGS` as a user would; returns the CompletedProcess."""
    proc = subprocess.run([sys.executable, '-m', 'effscale_timm.cli', *map(str, args)], capture_output=True,
                          text=True, env=cli_env(), **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError(f'effscale {args} failed ({proc.returncode}):\n{proc.stderr[-3000:]}')
    return proc


@pytest.fixture(scope='session')
def digits_npz(tmp_path_factory):
    """scikit-learn's real digits, prepared once per session."""
    from effscale_timm.data.prepared import prepare
    return prepare('digits', tmp_path_factory.mktemp('data') / 'digits.npz')


@pytest.fixture(scope='module')
def one_thread():
    """One intra-op thread for in-process model work: on a shared 2-core machine two OpenMP threads spin-wait for
    each other when another process holds a core (measured: 4x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
