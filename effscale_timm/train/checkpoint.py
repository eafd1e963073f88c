"""Atomic, checksummed training checkpoints.

Each epoch writes ``last.pt`` through a temporary file, ``fsync`` and ``os.replace``, after moving the previous
``last.pt`` to ``prev.pt``. The file starts with a header holding the SHA-256 of the payload (one file, one atomic
rename: a kill at any moment leaves either the old or the new checkpoint), so :func:`load_latest` detects a
truncated or corrupt checkpoint and falls back to the previous good one, or starts over with a warning, instead of
using it.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
from pathlib import Path
from typing import Any, Dict, Optional

import torch

from ..atomic import write_atomic

_logger = logging.getLogger(__name__)

MAGIC = b'EFFSCALE-CKPT-1 sha256='
HEADER_LEN = len(MAGIC) + 64 + 1


def save_checkpoint(folder: os.PathLike, state: Dict[str, Any]) -> Path:
    """Write ``state`` as ``folder/last.pt`` atomically, keeping the previous one as ``prev.pt``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(state, buf)
    payload = buf.getvalue()
    last = folder / 'last.pt'
    if last.exists():
        os.replace(last, folder / 'prev.pt')
    write_atomic(last, MAGIC + hashlib.sha256(payload).hexdigest().encode() + b'\n' + payload)
    return last


def read_checkpoint(path: Path) -> Optional[Dict[str, Any]]:
    """The state in ``path``, or None (with a warning) when it is missing, truncated or corrupt."""
    if not path.exists():
        return None
    data = path.read_bytes()
    payload = data[HEADER_LEN:]
    if not data.startswith(MAGIC) or data[HEADER_LEN - 65:HEADER_LEN - 1].decode(errors='replace') != \
            hashlib.sha256(payload).hexdigest():
        _logger.warning('checkpoint %s is corrupt or truncated (checksum mismatch); not using it', path)
        return None
    try:
        return torch.load(io.BytesIO(payload), map_location='cpu', weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unreadable checkpoint is skipped, never used
        _logger.warning('checkpoint %s cannot be read (%s); not using it', path, e)
        return None


def load_latest(folder: os.PathLike) -> Optional[Dict[str, Any]]:
    """The newest good checkpoint in ``folder`` (``last.pt``, else ``prev.pt``), or None to start over."""
    folder = Path(folder)
    for name in ('last.pt', 'prev.pt'):
        state = read_checkpoint(folder / name)
        if state is not None:
            if name == 'prev.pt':
                _logger.warning('resuming from the previous good checkpoint %s', folder / name)
            return state
    if any(folder.glob('*.pt')):
        _logger.warning('no usable checkpoint in %s; starting over', folder)
    return None
