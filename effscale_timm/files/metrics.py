"""A run's ``metrics.csv``: one row per epoch, rewritten (atomically) after every epoch, so a killed run keeps the
epochs it finished."""
from __future__ import annotations

import csv
import io
import math
import os
from typing import Any, Dict, List, Optional, Sequence

from ..atomic import write_atomic

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


def read_metrics(path: os.PathLike) -> Optional[List[Dict[str, Optional[float]]]]:
    """The epochs of a ``metrics.csv`` in epoch order (numeric columns as floats, blanks as None), or None when the
    file is absent or unreadable."""
    try:
        with open(path, newline='') as f:
            rows = list(csv.DictReader(f))
    except (OSError, csv.Error, UnicodeDecodeError):
        return None
    epochs = [{k: _number(v) for k, v in row.items() if k is not None} for row in rows]
    return sorted(epochs, key=lambda r: r.get('epoch') if r.get('epoch') is not None else math.inf)
