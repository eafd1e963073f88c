"""Stale-lock recovery (effscale_timm.locks): a killed Snakemake run's locks are cleared on the next run; a live run's,
or another host's, never are."""
import socket
import subprocess
import sys
import time
from pathlib import Path

from effscale_timm.locks import OWNER_FILE, clear_stale_locks


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
