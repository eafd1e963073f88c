"""Recovering from a Snakemake run that was killed: its directory locks are removed when their owner is dead.

Snakemake refuses a second invocation in a directory while a first one holds the locks in ``.snakemake/locks`` (that
is wanted: two runs never write the same files). A run killed by SIGKILL or a power loss leaves its locks behind,
and the same command is then refused until ``snakemake --unlock``. The workflow records the host and PID of the
Snakemake process that takes the locks; :func:`clear_stale_locks` removes the locks only when that process is gone.
A PID can only be checked on its own host: on a filesystem shared by several machines (two login nodes), the locks
of a run on another host are never removed, whether that run is alive or not; the warning says how to unlock them
by hand.
"""
from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Optional, Tuple

from .atomic import write_atomic

_logger = logging.getLogger(__name__)

OWNER_FILE = 'effscale-lock-owner.pid'  # one line: "<host> <pid>"


def _alive_snakemake(pid: int) -> bool:
    try:
        cmdline = Path(f'/proc/{pid}/cmdline').read_bytes()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True  # no /proc (macOS): alive is enough
    return b'snakemake' in cmdline


def read_owner(owner_file: os.PathLike) -> Optional[Tuple[str, int]]:
    """(host, pid) recorded in ``owner_file``, or None when it is missing or not in that form (an unknown owner)."""
    try:
        host, pid = Path(owner_file).read_text().split()
        return host, int(pid)
    except (OSError, ValueError):
        return None


def clear_stale_locks(state_dir: os.PathLike = '.snakemake', pid: int = None, host: str = None) -> bool:
    """Remove Snakemake's locks when the process that took them, on this host, is dead; record this run as owner.

    Args:
        state_dir: Snakemake's state folder (``.snakemake`` in the working directory).
        pid: the current Snakemake process.
        host: this machine's name (``socket.gethostname()``).

    Returns:
        True when stale locks were removed.
    """
    state_dir = Path(state_dir)
    pid, host = pid or os.getpid(), host or socket.gethostname()
    locks = list((state_dir / 'locks').glob('*.lock')) if (state_dir / 'locks').is_dir() else []
    owner_file = state_dir / OWNER_FILE
    removed = False
    if locks:
        owner = read_owner(owner_file)
        if owner is None:
            return False  # locks of unknown origin: leave them to Snakemake
        if owner[0] != host:
            _logger.warning('%s holds the locks of a Snakemake run on host %s (pid %d), whose process cannot be '
                            'checked from %s: they are kept. If that run has ended, run `snakemake --unlock` in this '
                            'directory (or remove %s).', state_dir.resolve(), owner[0], owner[1], host,
                            state_dir.resolve() / 'locks')
            return False
        if owner[1] != pid and _alive_snakemake(owner[1]):
            return False  # a live run holds them: Snakemake will refuse this one
        for lock in locks:
            lock.unlink(missing_ok=True)
        _logger.warning('removed the locks of a Snakemake run (pid %d) that is no longer running; resuming', owner[1])
        removed = True
    write_atomic(owner_file, f'{host} {pid}\n'.encode())
    return removed
