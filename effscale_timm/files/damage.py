"""One line for a damaged file: which file, what is wrong with it, and what to do.

Every reader in :mod:`effscale_timm.files` (and the prepared-data and checkpoint readers) raises
:class:`DamagedFileError` for a file that is missing, truncated, random bytes, empty or of the wrong kind, instead of
letting a ``zipfile``, ``pickle`` or ``json`` traceback through. ``effscale <stage>`` prints it as one line.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, TypeVar

import numpy as np

from ..errors import EffscaleError

# Snakemake 9 does not remake a deleted file whose downstream results are up to date; --forcerun FILE does (and
# reruns what depends on it), whether the file is damaged or deleted.
REMAKE = 'run the same command again with --forcerun and this file, which remakes it and what depends on it'
MISSING = 'run the step that writes it (the pipeline does, with the same command)'
T = TypeVar('T')


class DamagedFileError(EffscaleError, ValueError):
    """A file a stage reads is missing, truncated, corrupt or not what it should be; the message names it."""


def damaged(path: os.PathLike, what: str, remedy: str = REMAKE) -> DamagedFileError:
    """The error for ``path``: ``'<path>: <what>; <remedy>'``."""
    return DamagedFileError(f'{path}: {what}; {remedy}')


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f'{type(error).__name__}: {text[0]}' if text else type(error).__name__


def read_checked(path: os.PathLike, kind: str, load: Callable[[Path], T], remedy: str = REMAKE) -> T:
    """``load(path)`` with any damage turned into one :class:`DamagedFileError` naming the file: a missing file, an
    empty one, or any error while parsing it (``load`` should only parse: whatever it raises is the file's fault)."""
    path = Path(path)
    if not path.exists():
        raise damaged(path, f'no such {kind}', MISSING)
    if path.is_file() and path.stat().st_size == 0:
        raise damaged(path, f'an empty {kind}', remedy)
    try:
        return load(path)
    except DamagedFileError:
        raise
    except Exception as e:  # noqa: BLE001 - zipfile, pickle, json, unicode, OSError...: the file is damaged
        raise damaged(path, f'not a readable {kind} ({_first_line(e)})', remedy) from None


def read_json_object(path: os.PathLike, kind: str, required: Sequence[str] = (), remedy: str = REMAKE) -> Dict[str, Any]:
    """A JSON object from ``path`` holding the ``required`` keys, or one :class:`DamagedFileError` naming the file."""
    data = read_checked(path, kind, lambda p: json.loads(p.read_text()), remedy)
    if not isinstance(data, dict):
        raise damaged(path, f'not a {kind} (a JSON {type(data).__name__}, not an object)', remedy)
    lacking = [k for k in required if k not in data]
    if lacking:
        raise damaged(path, f'not a {kind} (lacks {", ".join(lacking)})', remedy)
    return data


def npz_arrays(path: os.PathLike, keys: Optional[Sequence[str]] = None) -> Dict[str, np.ndarray]:
    """The arrays of an ``.npz`` (``keys`` only, those it has), no pickles; the file is closed even when it is not an
    ``.npz`` (``np.load`` leaves it open then)."""
    with open(path, 'rb') as f, np.load(f, allow_pickle=False) as z:
        return {k: z[k] for k in (keys if keys is not None else z.files) if k in z.files}
