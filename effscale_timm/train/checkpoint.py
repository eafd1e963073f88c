"""Atomic, checksummed training checkpoints that plain ``torch.load`` opens.

Each epoch writes ``last.pt`` through a temporary file, ``fsync`` and ``os.replace``, after moving the previous
``last.pt`` to ``prev.pt``. A checkpoint is the file ``torch.save`` writes (a zip archive) of a dict that holds only
tensors, numbers, strings and containers, so ``torch.load('last.pt')`` opens it with its default
``weights_only=True``: ``model``, ``optimizer``, ``scheduler``, ``ema``, ``rng``, ``epoch``, ``metrics``, ...

The SHA-256 of the file's bytes is kept in the file itself, as the zip archive's comment (the last field of the
zip format, which ``torch.load`` and ``zipfile`` read past): one file and one atomic rename, so a kill at any moment
leaves either the old or the new checkpoint with its own checksum. A sidecar would need a second write, and a kill
between the two would pair a good file with another file's checksum. :func:`load_latest` recomputes the checksum:
a truncated file or a flipped byte anywhere (even one ``torch.load`` would not notice) is never used; it falls back
to the previous good checkpoint, or starts over with a warning.
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

COMMENT_PREFIX = b'effscale-ckpt sha256='
_EOCD = b'PK\x05\x06'  # the zip format's end-of-central-directory record: 22 bytes, the comment's length last
_COMMENT_LEN = len(COMMENT_PREFIX) + 64


def with_checksum(payload: bytes) -> bytes:
    """``torch.save``'s bytes with the SHA-256 of everything before the comment's length as the archive comment."""
    if payload[-22:-18] != _EOCD or payload[-2:] != b'\x00\x00':
        raise ValueError('torch.save did not end its file with an empty zip comment; cannot checksum it')
    body = payload[:-2]
    return body + _COMMENT_LEN.to_bytes(2, 'little') + COMMENT_PREFIX + hashlib.sha256(body).hexdigest().encode()


def checksum_ok(data: bytes) -> bool:
    """Whether ``data`` ends with a checksum comment that matches the bytes before it."""
    body, comment = data[:-_COMMENT_LEN - 2], data[-_COMMENT_LEN:]
    return len(data) > _COMMENT_LEN + 22 and comment.startswith(COMMENT_PREFIX) \
        and data[-_COMMENT_LEN - 2:-_COMMENT_LEN] == _COMMENT_LEN.to_bytes(2, 'little') \
        and comment[len(COMMENT_PREFIX):].decode(errors='replace') == hashlib.sha256(body).hexdigest()


def save_checkpoint(folder: os.PathLike, state: Dict[str, Any]) -> Path:
    """Write ``state`` as ``folder/last.pt`` (with its checksum) atomically, keeping the previous one as
    ``prev.pt``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(state, buf)
    data = with_checksum(buf.getvalue())
    last = folder / 'last.pt'
    if last.exists():
        os.replace(last, folder / 'prev.pt')
    write_atomic(last, data)
    return last


def read_checkpoint(path: Path) -> Optional[Dict[str, Any]]:
    """The state in ``path``, or None (with a warning) when it is missing, truncated or corrupt."""
    if not path.exists():
        return None
    data = path.read_bytes()
    if not checksum_ok(data):
        _logger.warning('checkpoint %s is corrupt or truncated (checksum mismatch); not using it', path)
        return None
    try:
        return torch.load(io.BytesIO(data), map_location='cpu', weights_only=True)
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
