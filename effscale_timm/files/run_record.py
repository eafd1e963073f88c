"""A run's record, ``final.json``: one typed dataclass (:class:`RunRecord`), one writer (:func:`write_run`) and one
reader (:func:`read_run`), and the one rule for a run that counts (:attr:`RunRecord.usable`).

The engine writes a record at the end of every run (failed runs included); the report, the search, the learning-rate
sweep and the benchmarks read records and nothing else of ``final.json``. A record's ``status`` is ``ok`` (the run
finished and was tested), ``failed`` (it stopped: a NaN loss, a damaged record) or ``missing`` (no record where the
study expects one).
"""
from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ..atomic import write_json
from .damage import damaged, read_json_object

FINAL = 'final.json'
STATUSES = ('ok', 'failed', 'missing')
_SEED_DIR = re.compile(r'^seed(\d+)$')


@dataclass
class RunRecord:
    """What one training run of one variant and seed produced (accuracies in percent)."""
    variant: str
    seed: int
    status: str  # one of STATUSES
    error: Optional[str] = None
    dataset: Optional[str] = None
    test_top1: Optional[float] = None
    test_loss: Optional[float] = None
    test_samples: Optional[int] = None
    best_val_top1: Optional[float] = None
    final_val_top1: Optional[float] = None
    final_val_loss: Optional[float] = None  # the last epoch's validation cross-entropy (nats)
    final_train_loss: Optional[float] = None
    final_train_top1: Optional[float] = None
    epochs: Optional[int] = None
    wall_time_s: Optional[float] = None
    hardware: Optional[str] = None
    backbone: Optional[str] = None
    depth: Optional[float] = None
    width: Optional[float] = None
    resolution: Optional[float] = None
    input_size: Optional[int] = None
    native_size: Optional[int] = None
    params: Optional[int] = None
    recipe: Optional[str] = None
    batch_size: Optional[int] = None
    micro_batch: Optional[int] = None
    lr: Optional[float] = None
    lr_source: Optional[str] = None
    run_key: Optional[str] = None
    processes: Optional[int] = None
    compiled: Optional[bool] = None
    compile_s: Optional[float] = None
    max_train_samples: Optional[int] = None
    max_eval_samples: Optional[int] = None
    path: Optional[str] = field(default=None, compare=False, metadata={'stored': False})  # where it was read

    @property
    def usable(self) -> bool:
        """The one rule for a run that counts: it finished (``ok``) with a finite test and validation top-1."""
        return self.status == 'ok' and is_finite(self.test_top1) and is_finite(self.final_val_top1)

    @property
    def run_dir(self) -> Optional[Path]:
        """The folder the record was read from (beside it: metrics.csv, test_predictions.npz, model.pt)."""
        return Path(self.path).parent if self.path else None

    def to_json(self) -> Dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.metadata.get('stored', True)}


def is_finite(value) -> bool:
    """A real number that is not NaN or infinite (booleans are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


_FIELDS = {f.name for f in dataclasses.fields(RunRecord) if f.metadata.get('stored', True)}


def record_path(run_dir: os.PathLike) -> Path:
    """The record of the run whose outputs are in ``run_dir``."""
    return Path(run_dir) / FINAL


def write_run(run_dir: os.PathLike, record: RunRecord) -> Path:
    """Write ``record`` as ``run_dir/final.json`` (atomically)."""
    if record.status not in STATUSES:
        raise ValueError(f'run status must be one of {STATUSES}, got {record.status!r}')
    return write_json(record_path(run_dir), record.to_json(), default=float)


def variant_seed_of(path: os.PathLike) -> Tuple[Optional[str], Optional[int]]:
    """(variant, seed) from a record path ``.../{variant}/seed{n}/final.json``; Nones for another shape."""
    path = Path(path)
    match = _SEED_DIR.match(path.parent.name)
    return (path.parent.parent.name, int(match.group(1))) if match else (None, None)


def read_run(path: os.PathLike) -> RunRecord:
    """The record in ``path``.

    Raises:
        DamagedFileError: the file is missing, empty, not JSON, or not a run record (no variant, seed or status, or
            an unknown status).
    """
    data = read_json_object(path, 'run record', ('variant', 'seed', 'status'))
    if data['status'] not in STATUSES:
        raise damaged(path, f'not a run record (status {data["status"]!r} is not one of {", ".join(STATUSES)})')
    return RunRecord(**{k: v for k, v in data.items() if k in _FIELDS}, path=str(path))


def read_study_run(path: os.PathLike) -> RunRecord:
    """A record as a study counts it: a missing file is a ``missing`` run and a damaged one a ``failed`` run whose
    error says why (the variant and seed from the path), so that one bad file costs one run, not the report.

    Raises:
        ValueError: the path does not name ``{variant}/seed{n}/final.json`` and the file cannot say it either.
    """
    variant, seed = variant_seed_of(path)
    if not Path(path).exists():
        status, error = 'missing', None
    else:
        try:
            return read_run(path)
        except ValueError as e:
            status, error = 'failed', str(e)
    if variant is None:
        raise ValueError(f'{path}: no run record there, and its path does not name {{variant}}/seed{{n}}/{FINAL}')
    return RunRecord(variant=variant, seed=seed, status=status, error=error, path=str(path))


def usable_runs(records: Iterable[RunRecord]) -> List[RunRecord]:
    """The records that count (:attr:`RunRecord.usable`), in the order given."""
    return [r for r in records if r.usable]
