"""A variant's profile (``effscale profile``): its parameters, multiply-adds, activations, latency and geometry as
built, one JSON object. Written by the profile stage, read by the report."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict

from ..atomic import write_atomic
from .damage import read_json_object

PROFILE_KEYS = ('variant', 'depth', 'width', 'resolution', 'input_size', 'params', 'gmacs')


def write_profile(path: os.PathLike, profile: Dict[str, Any]) -> Path:
    """Write ``profile`` as JSON (atomically); NaN is refused so that every number reads back."""
    return write_atomic(path, (json.dumps(profile, indent=2, allow_nan=False) + '\n').encode())


def read_profile(path: os.PathLike) -> Dict[str, Any]:
    """A profile written by :func:`write_profile`.

    Raises:
        DamagedFileError: the file is missing, empty, not JSON, or lacks the profile's keys.
    """
    return read_json_object(path, 'profile', PROFILE_KEYS)
