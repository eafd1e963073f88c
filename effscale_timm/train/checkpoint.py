"""Atomic, checksummed training checkpoints.

Each epoch writes ``last.pt`` through a temporary file, ``fsync`` and ``os.replace``, after moving the previous
``last.pt`` to ``prev.pt``; a SHA-256 beside each file lets :func:`load_latest` detect a truncated or corrupt
checkpoint and fall back to the previous good one (or start over, with a warning) instead of using it.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
from pathlib import Path
from typing import Any, Dict, Optional

import torch

_logger = logging.getLogger(__name__)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f'.{path.name}.{os.getpid()}.tmp')
    with open(tmp, 'wb') as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_checkpoint(folder: os.PathLike, state: Dict[str, Any]) -> Path:
    """Write ``state`` as ``folder/last.pt`` atomically, keeping the previous one as ``prev.pt``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    last, prev = folder / 'last.pt', folder / 'prev.pt'
    if last.exists() and _sum_path(last).exists():
        os.replace(last, prev)
        os.replace(_sum_path(last), _sum_path(prev))
    atomic_write_bytes(last, data)
    atomic_write_bytes(_sum_path(last), _digest(data).encode())
    return last


def _sum_path(path: Path) -> Path:
    return path.with_name(path.name + '.sha256')


def _load_verified(path: Path) -> Optional[Dict[str, Any]]:
    if not path.exists():
        return None
    sums = _sum_path(path)
    data = path.read_bytes()
    if not sums.exists() or sums.read_text().strip() != _digest(data):
        _logger.warning('checkpoint %s is corrupt or truncated (checksum mismatch); not using it', path)
        return None
    try:
        return torch.load(io.BytesIO(data), map_location='cpu', weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unreadable checkpoint is skipped, never used
        _logger.warning('checkpoint %s cannot be read (%s); not using it', path, e)
        return None


def load_latest(folder: os.PathLike) -> Optional[Dict[str, Any]]:
    """The newest good checkpoint in ``folder`` (``last.pt``, else ``prev.pt``), or None to start over."""
    folder = Path(folder)
    for name in ('last.pt', 'prev.pt'):
        state = _load_verified(folder / name)
        if state is not None:
            if name == 'prev.pt':
                _logger.warning('resuming from the previous good checkpoint %s', folder / name)
            return state
    if any(folder.glob('*.pt')):
        _logger.warning('no usable checkpoint in %s; starting over', folder)
    return None
