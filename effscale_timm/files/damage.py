"""One line for a damaged file: which file, what is wrong with it, and what to do.

Every reader in :mod:`effscale_timm.files` (and the prepared-data and checkpoint readers) raises
:class:`DamagedFileError` for a file that is truncated, random bytes, empty or of the wrong kind, instead of letting a
``zipfile``, ``pickle`` or ``json`` traceback through. ``effscale <stage>`` prints it as one line.
"""
from __future__ import annotations

import os

from ..errors import EffscaleError

REMAKE = 'delete it and run the same command again, which remakes it'


class DamagedFileError(EffscaleError, ValueError):
    """A file a stage reads is missing, truncated, corrupt or not what it should be; the message names it."""


def damaged(path: os.PathLike, what: str, remedy: str = REMAKE) -> DamagedFileError:
    """The error for ``path``: ``'<path>: <what>; <remedy>'``."""
    return DamagedFileError(f'{path}: {what}; {remedy}')
