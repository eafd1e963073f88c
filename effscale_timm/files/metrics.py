"""A run's ``metrics.csv``: one row per epoch, rewritten (atomically) after every epoch, so a killed run keeps the
epochs it finished."""
from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ..atomic import write_atomic
from .damage import damaged, read_checked

METRICS = 'metrics.csv'
METRIC_FIELDS = ['epoch', 'train_loss', 'train_top1', 'val_loss', 'val_top1', 'lr', 'img_per_s', 'peak_mem_gib',
                 'micro_batch', 'epoch_s']


def write_metrics(path: os.PathLike, rows: Sequence[Dict[str, Any]]) -> None:
    """Write the epochs' rows (dicts with :data:`METRIC_FIELDS`) as CSV."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=METRIC_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, buf.getvalue().encode())


def _number(text) -> Optional[float]:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _rows(path: Path) -> List[Dict[str, str]]:
    with open(path, newline='') as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != METRIC_FIELDS:
            raise ValueError(f'columns {reader.fieldnames[:4] if reader.fieldnames else None}... are not the '
                             f'metrics columns')
        rows = list(reader)
    ragged = [i + 2 for i, row in enumerate(rows) if None in row.values() or None in row]
    if ragged:
        raise ValueError(f'line {ragged[0]} has the wrong number of fields (cut short?)')
    return rows


def read_metrics(path: os.PathLike) -> List[Dict[str, Optional[float]]]:
    """The epochs of a ``metrics.csv`` in epoch order (numeric columns as floats, blanks as None).

    Raises:
        DamagedFileError: the file is missing, empty, not this CSV (other columns, random bytes), or cut short.
    """
    rows = read_checked(path, 'metrics file', _rows)
    epochs = [{k: _number(v) for k, v in row.items()} for row in rows]
    if any(e.get('epoch') is None for e in epochs):
        raise damaged(path, 'a metrics row without an epoch number')
    return sorted(epochs, key=lambda r: r['epoch'])
