"""The one atomic write (effscale_timm.atomic) every output goes through: a kill leaves the old file or the new one,
and a killed writer's debris is removed by the next write."""
import os
import socket
import subprocess

import pytest

from effscale_timm.atomic import temporary_path, write_atomic


def test_interrupted_write_leaves_no_partial_file(tmp_path, monkeypatch):
    """Every output (prepared data, checkpoints, results, report) goes through one atomic write."""
    target = tmp_path / 'table1.md'
    write_atomic(target, b'old table')

    def killed(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, 'fsync', killed)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, b'half of a new tab')
    assert target.read_bytes() == b'old table' and list(tmp_path.iterdir()) == [target]


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    """SIGKILL mid-write cannot clean up; the resumed job's next write of the same file removes the debris of dead
    writers on this host and leaves a live writer's temporary file alone, and another host's (a shared filesystem,
    where that host's PIDs mean nothing here), even with the PID of a dead process of this one."""
    dead = subprocess.Popen(['true'])
    dead.wait()
    target = tmp_path / 'last.pt'
    stale = temporary_path(target, pid=dead.pid)
    busy = temporary_path(target, pid=os.getppid())
    other_host = temporary_path(target, pid=dead.pid, host='login-b.example.org')
    for path, data in ((stale, b'half a checkpoint'), (busy, b'being written'), (other_host, b'written elsewhere')):
        path.write_bytes(data)
    write_atomic(target, b'new')
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, busy.name, other_host.name])
    assert stale.name == f'.last.pt.{socket.gethostname()}.{dead.pid}.tmp'
