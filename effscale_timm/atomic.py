"""Atomic file writes: a reader (or a rerun after a kill) sees the old file or the whole new one, never a part.

A writer killed mid-write (SIGKILL, a lost node) leaves its temporary file ``.<name>.<pid>.tmp`` behind; the next
write to the same path removes those of writers that are no longer alive, so a resumed job leaves no debris.
"""
from __future__ import annotations

import json
import os
from pathlib import Path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def remove_dead_temporaries(path: os.PathLike) -> list:
    """Remove ``path``'s temporary files left by writers that died; return the removed paths."""
    path = Path(path)
    removed = []
    for tmp in path.parent.glob(f'.{path.name}.*.tmp'):
        pid = tmp.name[len(path.name) + 2:-len('.tmp')]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def write_atomic(path: os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder, ``fsync`` and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_temporaries(path)
    tmp = path.with_name(f'.{path.name}.{os.getpid()}.tmp')
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


def read_json(path: os.PathLike):
    """The JSON value in ``path`` (the counterpart of :func:`write_json`)."""
    return json.loads(Path(path).read_text())
