"""A run's ``test_predictions.npz``: the predicted and the true class of every test image, in the fixed test order
(empty for a failed run), so that runs can be compared image by image."""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Tuple

import numpy as np

from ..atomic import write_atomic
from .damage import damaged, npz_arrays, read_checked

PREDICTIONS = 'test_predictions.npz'


def write_predictions(path: os.PathLike, pred: np.ndarray, label: np.ndarray) -> None:
    """Write int64 ``pred`` and ``label`` (atomically)."""
    buf = io.BytesIO()
    np.savez(buf, pred=np.asarray(pred, np.int64), label=np.asarray(label, np.int64))
    write_atomic(path, buf.getvalue())


def _load(path: Path) -> Tuple[np.ndarray, np.ndarray]:
    data = npz_arrays(path, ('pred', 'label'))
    return data['pred'], data['label']


def read_predictions(path: os.PathLike) -> Tuple[np.ndarray, np.ndarray]:
    """(pred, label) of a predictions file.

    Raises:
        DamagedFileError: the file is missing, empty, not an ``.npz``, lacks ``pred``/``label``, or their shapes
            differ.
    """
    pred, label = read_checked(path, 'predictions file', _load)
    if pred.shape != label.shape or pred.ndim != 1:
        raise damaged(path, f'pred {pred.shape} and label {label.shape} are not two equal 1-d arrays')
    return pred, label
