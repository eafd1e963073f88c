"""Atomic file writes: a reader (or a rerun after a kill) sees the old file or the whole new one, never a part."""
from __future__ import annotations

import json
import os
from pathlib import Path


def write_atomic(path: os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder, ``fsync`` and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
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
