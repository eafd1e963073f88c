"""GPU slots: which GPU a training on a multi-GPU machine uses, and how many trainings share one GPU.

Snakemake counts GPUs (the train rule's ``gpu_slots`` resource) but does not say which GPU a job may use
(snakemake/snakemake issue 281). So the train entry point takes, for each process it will run, a *slot*: an exclusive
``flock`` on ``<lock dir>/gpu<id>.slot<j>.lock`` with ``j < trainings_per_gpu``, on the least busy GPU. The kernel
drops a ``flock`` when its holder ends, however it ends (``kill -9`` and a crashed node's process included), so a
dead training never keeps a slot. While no slot is free the training waits and says so.

The lock folder is ``$EFFSCALE_GPU_LOCK_DIR``, else ``<tmp>/effscale-gpu-slots-<uid>``: one per machine and user,
shared by every study that user runs there. GPUs are named as ``CUDA_VISIBLE_DEVICES`` names them (else 0..N-1).
"""
from __future__ import annotations

import fcntl
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence

_logger = logging.getLogger(__name__)

LOCK_DIR_ENV = 'EFFSCALE_GPU_LOCK_DIR'


def lock_dir() -> Path:
    return Path(os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / f'effscale-gpu-slots-{os.getuid()}')


def visible_gpus(count: int) -> List[str]:
    """The names of the ``count`` GPUs this process sees: ``CUDA_VISIBLE_DEVICES``'s entries, else 0..count-1."""
    names = [n.strip() for n in os.environ.get('CUDA_VISIBLE_DEVICES', '').split(',') if n.strip()]
    return names[:count] if names else [str(i) for i in range(count)]


@dataclass
class Slots:
    """Slots held by this process: ``gpus`` are indices into the visible devices, ``names`` their names."""
    gpus: List[int] = field(default_factory=list)
    names: List[str] = field(default_factory=list)
    fds: List[int] = field(default_factory=list)

    def release(self) -> None:
        for fd in self.fds:
            os.close(fd)  # closing the last descriptor drops the flock
        self.fds = []


def _lock(path: Path) -> Optional[int]:
    """An open descriptor holding an exclusive flock on ``path``, or None when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f'{os.getpid()}\n'.encode())  # who holds it, for a person looking
    return fd


def _slot_paths(folder: Path, gpu: str, per_gpu: int) -> List[Path]:
    return [folder / f'gpu{gpu}.slot{j}.lock' for j in range(per_gpu)]


def _busy(folder: Path, gpu: str, per_gpu: int) -> int:
    """How many of ``gpu``'s slots other processes hold now."""
    busy = 0
    for path in _slot_paths(folder, gpu, per_gpu):
        fd = _lock(path)
        if fd is None:
            busy += 1
        else:
            os.close(fd)
    return busy


def try_take(gpus: Sequence[str], n: int, per_gpu: int, folder: Optional[Path] = None) -> Optional[Slots]:
    """One free slot on each of ``n`` different GPUs, the least busy first; None (holding nothing) when fewer than
    ``n`` GPUs have a free slot."""
    folder = Path(folder or lock_dir())
    folder.mkdir(parents=True, exist_ok=True)
    order = sorted(range(len(gpus)), key=lambda i: (_busy(folder, gpus[i], per_gpu), i))
    taken = Slots()
    for i in order:
        fd = next((fd for fd in map(_lock, _slot_paths(folder, gpus[i], per_gpu)) if fd is not None), None)
        if fd is not None:
            taken.gpus.append(i)
            taken.names.append(gpus[i])
            taken.fds.append(fd)
        if len(taken.gpus) == n:
            return taken
    taken.release()
    return None


def take(gpus: Sequence[str], n: int, per_gpu: int, folder: Optional[Path] = None, poll_s: float = 2.0) -> Slots:
    """:func:`try_take`, waiting (and saying so once) until ``n`` GPUs have a free slot."""
    if n > len(gpus):
        from ..errors import HardwareError  # here, so that the module loads alone (stdlib only) in slot holders
        raise HardwareError(f'this training needs {n} GPUs (nproc_per_node) but the machine has {len(gpus)}')
    said = False
    while True:
        slots = try_take(gpus, n, per_gpu, folder)
        if slots is not None:
            _logger.info('GPU slot(s) taken on GPU %s (%d training(s) per GPU; locks in %s)', ','.join(slots.names),
                         per_gpu, folder or lock_dir())
            return slots
        if not said:
            _logger.warning('waiting for %d free GPU slot(s): all %d slot(s) on each of GPUs %s are held (locks in '
                            '%s)', n, per_gpu, ','.join(gpus), folder or lock_dir())
            said = True
        time.sleep(poll_s)
