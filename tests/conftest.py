"""Shared fixtures and helpers: a prepared real dataset (scikit-learn digits), and the `effscale` and `snakemake` command
lines run as a user would."""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SNAKEMAKE = str(BIN / 'snakemake')


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


def snakemake(workdir, *args, config=None, check=True, timeout=900):
    cmd = [SNAKEMAKE, '-s', str(ROOT / 'Snakefile'), '-d', str(workdir), '--cores', '2', *args]
    if config is not None:
        path = Path(workdir) / 'test_config.yaml'
        Path(workdir).mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        cmd += ['--configfile', str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=cli_env(), timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f'snakemake {args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}')
    return proc


def job_counts(output: str):
    """{rule: count} from Snakemake's 'Job stats' table."""
    block = output.split('Job stats:')[-1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r'^(\w+)\s+(\d+)$', block, re.M) if m.group(1) != 'total'}


TIMED = ('train img/s', 'train s/epoch')  # Table 1's columns measured in time (they differ between two equal runs)


def untimed(text: str):
    """The lines of a report's Markdown with the cells of its timed columns (:data:`TIMED`) blanked and the line that
    gives the training wall time and hardware ("Runs: ...") left out: what two runs of one config must share."""
    lines, timed = [], set()
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip('|').split('|')] if line.startswith('|') else None
        if cells and any(c.startswith(TIMED) for c in cells):
            timed = {i for i, c in enumerate(cells) if c.startswith(TIMED)}
        timed = timed if cells else set()
        if not line.startswith('Runs:'):
            lines.append(' | '.join('(timed)' if i in timed else c for i, c in enumerate(cells)) if cells else line)
    return lines


DAMAGE = ('truncated', 'random', 'empty', 'wrong_kind')  # the ways the fault-injection tests damage a file


def damaged_bytes(good: bytes, how: str, other: bytes) -> bytes:
    """``good`` damaged ``how`` (one of :data:`DAMAGE`): cut to its first half, random bytes of its length, empty,
    or ``other`` (a well-formed file of another kind)."""
    if how == 'truncated':
        return good[:len(good) // 2]
    if how == 'random':
        return np.random.default_rng(0).bytes(len(good))
    return {'empty': b'', 'wrong_kind': other}[how]
