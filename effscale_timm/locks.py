"""Recovering from a Snakemake run that was killed: its directory locks are removed when their owner is dead.

Snakemake refuses a second invocation in a directory while a first one holds the locks in ``.snakemake/locks`` (that
is wanted: two runs never write the same files). A run killed by SIGKILL or a power loss leaves its locks behind,
and the same command is then refused until ``snakemake --unlock``. The workflow records the PID of the Snakemake
process that takes the locks; :func:`clear_stale_locks` removes the locks only when that process is gone.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from .atomic import write_atomic

_logger = logging.getLogger(__name__)

OWNER_FILE = 'effscale-lock-owner.pid'


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


def clear_stale_locks(state_dir: os.PathLike = '.snakemake', pid: int = None) -> bool:
    """Remove Snakemake's locks when the process that took them is dead; record ``pid`` as the new owner.

    Args:
        state_dir: Snakemake's state folder (``.snakemake`` in the working directory).
        pid: the current Snakemake process.

    Returns:
        True when stale locks were removed.
    """
    state_dir = Path(state_dir)
    pid = pid or os.getpid()
    locks = list((state_dir / 'locks').glob('*.lock')) if (state_dir / 'locks').is_dir() else []
    owner_file = state_dir / OWNER_FILE
    removed = False
    if locks:
        try:
            owner = int(owner_file.read_text().strip())
        except (OSError, ValueError):
            return False  # locks of unknown origin: leave them to Snakemake
        if owner != pid and _alive_snakemake(owner):
            return False  # a live run holds them: Snakemake will refuse this one
        for lock in locks:
            lock.unlink(missing_ok=True)
        _logger.warning('removed the locks of a Snakemake run (pid %d) that is no longer running; resuming', owner)
        removed = True
    write_atomic(owner_file, f'{pid}\n'.encode())
    return removed
