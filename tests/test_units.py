"""In-process unit tests: the config's semantic checks, stale-lock recovery and checkpoint fallback.

What a user relies on: a bad config is refused before any job starts with a message naming the key; a killed
Snakemake run's locks are cleared on the next run but a live run's, or another host's, never are; a resumed run uses
the newest checkpoint that is intact and starts over (rather than crashing or using a corrupt file) when there is none.
"""
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import effscale_timm
from effscale_timm.config import ConfigError, check_config
from effscale_timm.locks import OWNER_FILE, clear_stale_locks
from effscale_timm.train.checkpoint import load_latest, save_checkpoint


# --- check_config ---------------------------------------------------------------------------------------------------

def valid_config(**changes):
    """A config every check accepts: a registered name and a custom (new-name) variant, 32 px base."""
    config = {
        'dataset': 'digits', 'seeds': [0, 1], 'epochs': 2, 'batch_size': 16, 'base_resolution': 32,
        'device': 'cpu', 'recipe': 'fast',
        'variants': ['effscale_b0', {'name': 'unittest_custom', 'depth': 1.2, 'width': 0.75}],
        'flop_match': {'target': 'effscale_b0', 'axes': ['depth', 'width']},
    }
    config.update(changes)
    return config


def test_valid_config_passes_and_registers_nothing():
    check_config(valid_config())
    check_config(valid_config(dataset='imagefolder', dataset_root='.', flop_match=None, device='cuda:1'))
    assert 'unittest_custom' not in effscale_timm.VARIANTS  # the Snakefile calls it while parsing: reads only


@pytest.mark.parametrize('changes, message', [
    (dict(dataset='mnist'), r"^dataset: must be one of .*got 'mnist'"),
    (dict(dataset='imagefolder'), r'^dataset_root: required for dataset imagefolder'),
    (dict(dataset='imagefolder', dataset_root='/no/such/folder'), r"^dataset_root: path '/no/such/folder'"),
    (dict(epochs=0), r'^epochs: must be a positive whole number, got 0'),
    (dict(epochs=-3), r'^epochs: must be a positive whole number'),
    (dict(epochs=True), r'^epochs: must be a positive whole number'),
    (dict(batch_size=0), r'^batch_size: must be a positive whole number'),
    (dict(seeds=[0, 1, 0]), r'^seeds: must not repeat a seed'),
    (dict(seeds=[]), r'^seeds: must be a non-empty list'),
    (dict(variants=['effscale_b0', 'effscale_nope']), r"^variants\[1\]: unknown variant 'effscale_nope'"),
    (dict(variants=['effscale_b0', 'effscale_b0']), r"^variants\[1\]: name 'effscale_b0' appears twice"),
    (dict(variants=[{'name': 'effscale_b0', 'depth': 2.0}]), r"^variants\[0\]: variant 'effscale_b0' is already"),
    (dict(variants=[{'name': 'unittest_bad', 'depth': -1}]), r'^variants\[0\]: depth must be'),
    (dict(variants=['effscale_b0', {'name': 'unittest_small', 'resolution': 0.5}]),
     r"^variants\[1\] \(unittest_small\): resolution: .*below the network's minimum input of 32 px"),
    (dict(device='gpu'), r"^device: must be auto, cpu or cuda\[:N\], got 'gpu'"),
    (dict(recipe='magic'), r"^recipe: must be one of"),
    (dict(flop_match={'target': 'effscale_b7'}), r"^flop_match.target: must be one of the configured variants, "
                                                 r"got 'effscale_b7'"),
    (dict(flop_match={'target': 'effscale_b0', 'axes': ['depth', 'height']}), r"^flop_match.axes: .*\['height'\]"),
], ids=lambda v: str(v)[:60])
def test_each_bad_value_is_a_config_error_naming_its_key(changes, message):
    with pytest.raises(ConfigError, match=message):
        check_config(valid_config(**changes))


# --- clear_stale_locks ----------------------------------------------------------------------------------------------

def _state_with_locks(tmp_path, owner, host=None):
    """A ``.snakemake`` folder holding two locks; ``owner`` (a pid, or None for no owner file) on ``host`` (this one)
    recorded as owner."""
    state = tmp_path / '.snakemake'
    (state / 'locks').mkdir(parents=True)
    for name in ('0.input.lock', '0.output.lock'):
        (state / 'locks' / name).write_text('/some/file\n')
    if owner is not None:
        (state / OWNER_FILE).write_text(f'{host or socket.gethostname()} {owner}\n')
    return state


def _locks(state):
    return sorted(p.name for p in (state / 'locks').glob('*.lock'))


def _started(argv, word):
    """Start ``argv`` and wait until its command line (``/proc/PID/cmdline``, empty for a moment after the start)
    shows ``word``, so that the lock check sees the program as it runs."""
    proc = subprocess.Popen(argv)
    cmdline = Path(f'/proc/{proc.pid}/cmdline')
    deadline = time.monotonic() + 30
    while cmdline.parent.exists() and word not in cmdline.read_bytes():
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f'{argv} did not start within 30 s')
        time.sleep(0.01)
    return proc


def _dead_pid():
    proc = subprocess.Popen([sys.executable, '-c', 'pass'])
    proc.wait()
    return proc.pid


def test_locks_of_a_dead_owner_are_removed_and_the_new_owner_recorded(tmp_path):
    state = _state_with_locks(tmp_path, _dead_pid())
    assert clear_stale_locks(state, pid=4242) is True
    assert _locks(state) == []
    assert (state / OWNER_FILE).read_text().split() == [socket.gethostname(), '4242']


def test_locks_of_a_live_snakemake_run_are_kept(tmp_path):
    live = _started([sys.executable, '-c', 'import time; time.sleep(30)', 'snakemake'], b'snakemake')
    try:
        state = _state_with_locks(tmp_path, live.pid)
        assert clear_stale_locks(state, pid=4242) is False
        assert _locks(state) == ['0.input.lock', '0.output.lock']
        assert (state / OWNER_FILE).read_text().split() == [socket.gethostname(), str(live.pid)]  # the live run's
    finally:
        live.kill()
        live.wait()


def test_locks_of_a_live_process_that_is_not_snakemake_are_stale(tmp_path):
    """The recorded pid was reused by another program: the run that took the locks is gone."""
    other = _started([sys.executable, '-c', 'import time; time.sleep(30)'], b'sleep')
    try:
        state = _state_with_locks(tmp_path, other.pid)
        assert clear_stale_locks(state, pid=4242) is True and _locks(state) == []
    finally:
        other.kill()
        other.wait()


def test_locks_without_an_owner_file_are_left_alone(tmp_path):
    state = _state_with_locks(tmp_path, None)
    assert clear_stale_locks(state, pid=4242) is False
    assert _locks(state) == ['0.input.lock', '0.output.lock'] and not (state / OWNER_FILE).exists()


def test_locks_of_another_host_survive_the_sweep_and_the_warning_says_how_to_unlock(tmp_path, caplog):
    """Two login nodes on a shared filesystem: host B cannot see host A's processes, so A's locks stay, even with
    the PID of a process that is dead here."""
    state = _state_with_locks(tmp_path, _dead_pid(), host='login-a.example.org')
    owner = (state / OWNER_FILE).read_text()
    assert clear_stale_locks(state, pid=4242, host='login-b.example.org') is False
    assert _locks(state) == ['0.input.lock', '0.output.lock'] and (state / OWNER_FILE).read_text() == owner
    assert 'host login-a.example.org' in caplog.text and 'snakemake --unlock' in caplog.text
    # the same record, swept from the host that wrote it: the dead owner's locks go
    assert clear_stale_locks(state, pid=4242, host='login-a.example.org') is True and _locks(state) == []


def test_an_owner_record_without_a_host_is_an_unknown_owner(tmp_path):
    """A record in the old form (a PID alone) may come from any host: its locks are left to Snakemake."""
    state = _state_with_locks(tmp_path, None)
    (state / OWNER_FILE).write_text(f'{_dead_pid()}\n')
    assert clear_stale_locks(state, pid=4242) is False and len(_locks(state)) == 2


def test_no_locks_records_the_owner(tmp_path):
    state = tmp_path / '.snakemake'
    assert clear_stale_locks(state, pid=4242) is False
    assert (state / OWNER_FILE).read_text() == f'{socket.gethostname()} 4242\n'


# --- load_latest ----------------------------------------------------------------------------------------------------

def _two_checkpoints(folder):
    """Epoch 1 then epoch 2 saved: prev.pt holds epoch 1, last.pt epoch 2."""
    save_checkpoint(folder, {'epoch': 1, 'weights': torch.full((3,), 1.0)})
    save_checkpoint(folder, {'epoch': 2, 'weights': torch.full((3,), 2.0)})
    assert sorted(p.name for p in folder.iterdir()) == ['last.pt', 'prev.pt']


def _corrupt(path, truncate=False):
    data = bytearray(path.read_bytes())
    if truncate:
        del data[len(data) // 2:]
    else:
        data[-10] ^= 0xFF
    path.write_bytes(bytes(data))


def test_last_good_checkpoint_is_used(tmp_path):
    _two_checkpoints(tmp_path)
    state = load_latest(tmp_path)
    assert state['epoch'] == 2 and torch.equal(state['weights'], torch.full((3,), 2.0))


@pytest.mark.parametrize('truncate', [False, True], ids=['flipped-byte', 'truncated'])
def test_corrupt_last_falls_back_to_prev(tmp_path, caplog, truncate):
    _two_checkpoints(tmp_path)
    _corrupt(tmp_path / 'last.pt', truncate)
    state = load_latest(tmp_path)
    assert state['epoch'] == 1 and torch.equal(state['weights'], torch.full((3,), 1.0))
    assert 'last.pt is corrupt or truncated' in caplog.text and 'previous good checkpoint' in caplog.text


def test_both_corrupt_starts_over(tmp_path, caplog):
    _two_checkpoints(tmp_path)
    _corrupt(tmp_path / 'last.pt')
    _corrupt(tmp_path / 'prev.pt', truncate=True)
    assert load_latest(tmp_path) is None
    assert 'no usable checkpoint' in caplog.text


def test_empty_or_missing_folder_starts_over(tmp_path):
    assert load_latest(tmp_path) is None
    assert load_latest(tmp_path / 'never-made') is None
