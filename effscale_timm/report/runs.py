"""The report's runs: the run records (:mod:`effscale_timm.files.run_record`; missing and failed runs named), each
run's measured throughput from its metrics file, and one row per variant with its profile's compute and geometry."""
from __future__ import annotations

import os
import statistics
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..files.metrics import METRICS, read_metrics
from ..files.predictions import PREDICTIONS, read_predictions
from ..files.run_record import RunRecord, is_finite, read_study_run
from ..backbones import DEFAULT_BACKBONE
from ..scaling import SCALING_AXES

ROW_KINDS = ('baseline',) + SCALING_AXES + ('compound',)  # what a row's 'axis' can be


def scaling_axis(depth: float, width: float, resolution: float, tol: float = 1e-9) -> str:
    """A row's kind (:data:`ROW_KINDS`): 'baseline' when all multipliers are 1, the axis name when only that one
    differs, else 'compound'."""
    differ = [name for name, m in zip(SCALING_AXES, (depth, width, resolution)) if abs(float(m) - 1.0) > tol]
    if not differ:
        return 'baseline'
    return differ[0] if len(differ) == 1 else 'compound'


def _damage(record: RunRecord) -> Optional[str]:
    """Why the run's own metrics or predictions file cannot be read (one line naming it), or None."""
    if record.run_dir is None:
        return None
    for path, read in ((record.run_dir / METRICS, read_metrics), (record.run_dir / PREDICTIONS, read_predictions)):
        try:
            read(path)
        except ValueError as e:
            return str(e)
    return None


def _counted(record: RunRecord) -> RunRecord:
    """A record as the study counts it: ``ok`` only when usable (:attr:`RunRecord.usable`) and its metrics and
    predictions files are readable, else failed with why."""
    if record.status == 'ok' and not record.usable:
        record.status, record.error = 'failed', 'status "ok" but no finite test and validation top-1'
    elif record.status == 'ok' and (why := _damage(record)):
        record.status, record.error = 'failed', f'its files are damaged: {why}'
    elif record.status == 'failed' and not record.error:
        record.error = 'status "failed"'
    return record


def load_runs(run_jsons: Sequence[os.PathLike],
              expected_runs: Optional[Sequence[Tuple[str, int]]] = None) -> List[RunRecord]:
    """Read the run records; add a 'missing' run for every expected (variant, seed) without one.

    A path that does not exist is a missing run (its folders name the variant and seed); a damaged record, or a
    status other than a usable 'ok', is a failed run with its reason.

    Raises:
        ValueError: two records for the same (variant, seed), runs of several datasets, or an unnamed missing path.
    """
    runs, seen = [], set()
    for path in run_jsons:
        run = _counted(read_study_run(path))
        key = (run.variant, int(run.seed))
        if key in seen:
            raise ValueError(f'two run files for {key[0]} seed {key[1]} (one is {path})')
        seen.add(key)
        runs.append(run)
    for variant, seed in expected_runs or ():
        if (variant, int(seed)) not in seen:
            seen.add((variant, int(seed)))
            runs.append(RunRecord(variant=variant, seed=int(seed), status='missing'))
    datasets = sorted({r.dataset for r in runs if r.dataset})
    if len(datasets) > 1:
        raise ValueError(f'runs of several datasets {datasets}; build one report per dataset')
    return runs


def run_speed(run: RunRecord) -> Tuple[Optional[float], Optional[float]]:
    """(training images per second, seconds per epoch) of a run: the medians over its epochs after the first
    (which holds compiling and warm-up) from its metrics file; (None, None) without one."""
    try:
        epochs = read_metrics(run.run_dir / METRICS) if run.run_dir else None
    except ValueError:
        return None, None
    if not epochs:
        return None, None
    steady = epochs[1:] or epochs
    speeds = [e['img_per_s'] for e in steady if is_finite(e.get('img_per_s'))]
    times = [e['epoch_s'] for e in steady if is_finite(e.get('epoch_s'))]
    return (statistics.median(speeds) if speeds else None), (statistics.median(times) if times else None)


_GEOMETRY_KEYS = ('base_resolution', 'px_over_base', 'stage_repeats', 'stage_channels', 'stage_feature_maps',
                  'final_feature_map', 'head_channels')


def _profile_row(profile: Dict[str, Any]) -> Dict[str, Any]:
    keys = ('variant',) + SCALING_AXES + ('input_size', 'params', 'gmacs', 'gmacs_total', 'gflops', 'mactivations') \
        + _GEOMETRY_KEYS
    return dict({k: profile.get(k) for k in keys}, backbone=profile.get('backbone') or DEFAULT_BACKBONE)


def _mean(values) -> Optional[float]:
    values = [float(v) for v in values if is_finite(v)]
    return statistics.mean(values) if values else None


def _speeds(ok: Sequence[RunRecord]) -> Dict[str, Optional[float]]:
    """Mean over seeds of each run's images per second and seconds per epoch (:func:`run_speed`)."""
    speeds = [run_speed(r) for r in ok]
    return {'img_per_s': _mean(s for s, _ in speeds), 'epoch_s': _mean(t for _, t in speeds)}


def _run_row(run: RunRecord) -> Dict[str, Any]:
    """A row for a variant that has runs but no profile: what its records say."""
    return {'variant': run.variant, 'gmacs': None, 'gmacs_total': None, 'gflops': None, 'mactivations': None,
            'backbone': run.backbone or DEFAULT_BACKBONE,
            **{k: getattr(run, k) for k in SCALING_AXES + ('input_size', 'params')}}


def summarize(runs: Sequence[RunRecord], profiles: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """One row per variant (profile order, then variants that only have runs): multipliers, axis, compute and
    geometry from the profile; over the usable seeds: test top-1 mean / sample std (ddof=1), mean validation
    top-1, final train loss and train top-1, throughput (images/s) and seconds per epoch, the images' native size;
    ok / failed / missing counts."""
    rows: Dict[str, Dict[str, Any]] = {}
    for prof in profiles:
        rows.setdefault(prof['variant'], _profile_row(prof))
    for run in runs:
        rows.setdefault(run.variant, _run_row(run))
    out = []
    for variant, row in rows.items():
        mine = sorted((r for r in runs if r.variant == variant), key=lambda r: r.seed)
        ok = [r for r in mine if r.status == 'ok']
        top1 = [float(r.test_top1) for r in ok]
        known = all(is_finite(row.get(k)) for k in SCALING_AXES)
        row.update(
            axis=scaling_axis(row['depth'], row['width'], row['resolution']) if known else None,
            runs_ok=ok, seeds_ok=[r.seed for r in ok], top1=top1, n_ok=len(top1),
            n_failed=sum(r.status == 'failed' for r in mine), n_missing=sum(r.status == 'missing' for r in mine),
            failures=[(r.seed, r.error) for r in mine if r.status == 'failed'],
            mean=statistics.mean(top1) if top1 else None,
            std=statistics.stdev(top1) if len(top1) >= 2 else None,
            val_mean=_mean(r.final_val_top1 for r in ok),
            n_val=sum(is_finite(r.final_val_top1) for r in ok),
            train_loss_mean=_mean(r.final_train_loss for r in ok),
            train_top1_mean=_mean(r.final_train_top1 for r in ok),
            native_size=next((r.native_size for r in mine if is_finite(r.native_size)), None),
            **_speeds(ok),
        )
        out.append(row)
    return out
