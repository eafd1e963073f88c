"""The study's numbers as tidy tables for pandas: ``runs.csv`` (one row per variant and seed) and ``epochs.csv``
(one row per epoch of every run), written with pandas from the run records (:mod:`effscale_timm.files.run_record`),
their ``metrics.csv`` files and the variants' profiles.

Everything the Markdown report condenses is here unrounded, failed and missing runs included (their ``status`` and
``error`` say so, their numbers are empty), so a reader can redo any table or figure::

    import pandas as pd
    runs = pd.read_csv('reports/runs.csv')
    runs[runs.status == 'ok'].groupby('variant').test_top1.agg(['mean', 'std', 'count'])

The report writes them for the study (:mod:`effscale_timm.report.stage`); :func:`write_run_tables` is the one writer,
for any stage with run records (the coefficient search, a design-space study).
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..atomic import write_atomic
from ..files.metrics import METRIC_FIELDS, METRICS, read_metrics
from ..files.run_record import RunRecord, is_finite
from ..backbones import DEFAULT_BACKBONE, get_backbone
from ..scaling import SCALING_AXES
from .runs import run_speed, scaling_axis

RUN_COLUMNS = [
    'variant', 'seed', 'status', 'error', 'dataset', 'axis', 'depth', 'width', 'resolution', 'depth_as_built',
    'width_as_built', 'resolution_as_built', 'input_px', 'native_px', 'base_resolution', 'stage_repeats',
    'head_channels', 'final_feature_map', 'gmacs', 'gmacs_total', 'mactivations', 'params', 'recipe', 'lr',
    'lr_source', 'batch_size', 'micro_batch', 'epochs', 'train_top1', 'train_loss', 'val_top1', 'val_loss',
    'best_val_top1', 'test_top1', 'test_loss', 'test_samples', 'wall_time_s', 'img_per_s', 'epoch_s', 'device',
    'processes', 'compiled', 'compile_s', 'run_dir']
RUN_INTS = ['seed', 'input_px', 'native_px', 'base_resolution', 'head_channels', 'params', 'batch_size', 'micro_batch',
            'epochs', 'test_samples', 'processes']
EPOCH_KEYS = ['variant', 'seed', 'status', 'axis']  # the run columns each row of epochs.csv repeats


def _as_built(profile: Dict[str, Any]) -> Dict[str, Any]:
    """The network as built (effective multipliers, geometry, compute) from a profile (``effscale profile``)."""
    repeats, head, fm = profile.get('stage_repeats'), profile.get('head_channels'), profile.get('final_feature_map')
    backbone = get_backbone(profile.get('backbone') or DEFAULT_BACKBONE)  # ratios to the backbone's own base
    return {'depth_as_built': sum(repeats) / sum(backbone.stage_repeats(1.0)) if repeats else None,
            'width_as_built': head / backbone.stage_channels(1.0)[-1] if is_finite(head) else None,
            'resolution_as_built': profile.get('px_over_base'), 'base_resolution': profile.get('base_resolution'),
            'stage_repeats': ','.join(map(str, repeats)) if repeats else None, 'head_channels': head,
            'final_feature_map': f'{fm[0]}x{fm[1]}' if fm else None,
            **{k: profile.get(k) for k in ('gmacs', 'gmacs_total', 'mactivations')}}


def _last_epoch(epochs: Optional[List[Dict[str, Any]]]) -> Dict[str, Any]:
    return epochs[-1] if epochs else {}


def run_row(run: RunRecord, profile: Optional[Dict[str, Any]] = None,
            epochs: Optional[List[Dict[str, Any]]] = None) -> Dict[str, Any]:
    """One row of ``runs.csv``: the record, the network as built from its variant's profile, the last epoch's
    validation loss and the run's speed (median images/s and s/epoch after the first epoch)."""
    known = all(is_finite(getattr(run, k)) for k in SCALING_AXES)
    speed, epoch_s = run_speed(run)
    row = {k: getattr(run, k) for k in ('variant', 'seed', 'status', 'error', 'dataset', 'depth', 'width',
                                        'resolution', 'params', 'recipe', 'lr', 'lr_source', 'batch_size',
                                        'micro_batch', 'epochs', 'best_val_top1', 'test_top1', 'test_loss',
                                        'test_samples', 'wall_time_s', 'processes', 'compiled', 'compile_s')}
    row.update(axis=scaling_axis(run.depth, run.width, run.resolution) if known else None,
               input_px=run.input_size, native_px=run.native_size, train_top1=run.final_train_top1,
               train_loss=run.final_train_loss, val_top1=run.final_val_top1,
               val_loss=_last_epoch(epochs).get('val_loss'), img_per_s=speed, epoch_s=epoch_s,
               device=run.hardware, run_dir=str(run.run_dir) if run.run_dir else None, **_as_built(profile or {}))
    return row


def _epochs(run: RunRecord) -> List[Dict[str, Any]]:
    """The run's epochs; none for a run without a readable metrics file (a missing run, or one whose file is damaged:
    its row in runs.csv says why)."""
    if run.run_dir is None:
        return []
    try:
        return read_metrics(run.run_dir / METRICS)
    except ValueError:
        return []


def run_tables(records: Sequence[RunRecord], profiles: Sequence[Dict[str, Any]] = ()):
    """``(runs, epochs)`` as pandas DataFrames: one row per record (in the order given) with :data:`RUN_COLUMNS`,
    and one row per epoch of every run that has a metrics file, with the run's :data:`EPOCH_KEYS` and
    :data:`~effscale_timm.files.metrics.METRIC_FIELDS`."""
    import pandas as pd

    by_variant = {p['variant']: p for p in profiles}
    runs, epochs = [], []
    for run in records:
        mine = _epochs(run)
        row = run_row(run, by_variant.get(run.variant), mine)
        runs.append(row)
        epochs += [{**{k: row[k] for k in EPOCH_KEYS}, **epoch} for epoch in mine]
    runs_df = pd.DataFrame(runs, columns=RUN_COLUMNS)
    epochs_df = pd.DataFrame(epochs, columns=EPOCH_KEYS + METRIC_FIELDS)
    for frame, ints in ((runs_df, RUN_INTS), (epochs_df, ['seed', 'epoch', 'micro_batch'])):
        for column in ints:
            frame[column] = frame[column].astype('Int64')  # whole numbers stay whole beside empty cells
    return runs_df, epochs_df


def _write_csv(frame, path: os.PathLike) -> Path:
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return write_atomic(path, buf.getvalue().encode())


def write_run_tables(records: Sequence[RunRecord], runs_csv: os.PathLike, epochs_csv: os.PathLike,
                     profiles: Sequence[Dict[str, Any]] = ()) -> Tuple[Any, Any]:
    """Write :func:`run_tables` as ``runs_csv`` and ``epochs_csv`` (atomically); returns the two DataFrames.

    Args:
        records: run records as read by :func:`effscale_timm.files.run_record.read_study_run` (their ``path`` locates
            each run's ``metrics.csv``); missing and failed runs get a row with their status.
        profiles: the variants' profile dicts (``effscale profile``), for the network as built and its compute.
    """
    runs, epochs = run_tables(records, profiles)
    _write_csv(runs, runs_csv)
    _write_csv(epochs, epochs_csv)
    return runs, epochs
