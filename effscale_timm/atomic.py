"""Atomic file writes: a reader (or a rerun after a kill) sees the old file or the whole new one, never a part.

A writer killed mid-write (SIGKILL, a lost node) leaves its temporary file ``.<name>.<host>.<pid>.tmp`` behind; the
next write to the same path removes those of writers on this host that are no longer alive, so a resumed job leaves
no debris. A temporary file of another host (a filesystem shared by several machines) is never removed: its writer's
PID cannot be checked from here, and it may be writing right now.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def temporary_path(path: os.PathLike, pid: int = None, host: str = None) -> Path:
    """The temporary file through which process ``pid`` (this one) on ``host`` (this one) writes ``path``."""
    path = Path(path)
    return path.with_name(f'.{path.name}.{host or socket.gethostname()}.{pid or os.getpid()}.tmp')


def remove_dead_temporaries(path: os.PathLike) -> list:
    """Remove ``path``'s temporary files left by writers on this host that died; return the removed paths."""
    path = Path(path)
    host, removed = socket.gethostname(), []
    for tmp in path.parent.glob(f'.{path.name}.*.tmp'):
        writer_host, _, pid = tmp.name[len(path.name) + 2:-len('.tmp')].rpartition('.')
        if writer_host == host and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def write_atomic(path: os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder, ``fsync`` and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_temporaries(path)
    tmp = temporary_path(path)
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_json(path: os.PathLike, data, indent: int = 2, **dumps_kwargs) -> Path:
    """Write ``data`` as JSON with a final newline, atomically (:func:`write_atomic`)."""
    return write_atomic(path, (json.dumps(data, indent=indent, **dumps_kwargs) + '\n').encode())
