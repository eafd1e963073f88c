"""The report's runs: ``final.json`` files (missing and failed ones named), their ``metrics.csv`` and
convergence, and one row per variant with its profile's compute and geometry."""
from __future__ import annotations

import csv
import json
import math
import os
import re
import statistics
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

AXES = ('baseline', 'depth', 'width', 'resolution', 'compound')
SINGLE_AXES = ('depth', 'width', 'resolution')
CONVERGENCE_WINDOW = 3  # epochs at the end of a run whose best validation top-1 is compared with all earlier ones
CONVERGENCE_MARGIN = 0.5  # percentage points
PREDICTIONS = 'test_predictions.npz'
METRICS = 'metrics.csv'
_SEED_DIR = re.compile(r'^seed(\d+)$')
_TRAINING_FIELDS = (('final_train_loss', 'train_loss'), ('final_train_top1', 'train_top1'),
                    ('final_val_top1', 'val_top1'))


def scaling_axis(depth: float, width: float, resolution: float, tol: float = 1e-9) -> str:
    """'baseline' when all multipliers are 1, the axis name when only that one differs, else 'compound'."""
    differ = [name for name, m in zip(SINGLE_AXES, (depth, width, resolution)) if abs(float(m) - 1.0) > tol]
    if not differ:
        return 'baseline'
    return differ[0] if len(differ) == 1 else 'compound'


def _from_path(path: Path) -> Tuple[Optional[str], Optional[int]]:
    """(variant, seed) from ``.../{variant}/seed{n}/final.json``, or Nones when the path has another shape."""
    match = _SEED_DIR.match(path.parent.name)
    if not match:
        return None, None
    return path.parent.parent.name, int(match.group(1))


def is_finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _read_run(path: Path) -> Dict[str, Any]:
    variant, seed = _from_path(path)
    if not path.exists():
        return {'variant': variant, 'seed': seed, 'status': 'missing', 'error': None, 'path': str(path)}
    try:
        run = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        return {'variant': variant, 'seed': seed, 'status': 'failed', 'error': f'unreadable final.json: {err}',
                'path': str(path)}
    run = dict(run, path=str(path))
    run.setdefault('variant', variant)
    run.setdefault('seed', seed)
    if run.get('status') == 'ok' and not is_finite_number(run.get('test_top1')):
        run.update(status='failed', error='status "ok" but no finite test_top1')
    elif run.get('status') != 'ok':
        run.update(status='failed', error=run.get('error') or f'status {run.get("status")!r}')
    return _add_training_fields(run, path.parent / METRICS)


def load_runs(run_jsons: Sequence[os.PathLike],
              expected_runs: Optional[Sequence[Tuple[str, int]]] = None) -> List[Dict[str, Any]]:
    """Read ``final.json`` files; add a 'missing' run for every expected (variant, seed) without one.

    A path that does not exist is a missing run when its folders name the variant and seed
    (``{variant}/seed{n}/final.json``); an unreadable file or a status other than 'ok' is a failed run.

    Raises:
        ValueError: two files for the same (variant, seed), runs of several datasets, or an unnamed missing path.
    """
    runs, seen = [], set()
    for path in run_jsons:
        run = _read_run(Path(path))
        if run['variant'] is None or run['seed'] is None:
            raise ValueError(f'{path}: no variant and seed in the file, and its path does not name '
                             f'{{variant}}/seed{{n}}/final.json')
        key = (run['variant'], int(run['seed']))
        if key in seen:
            raise ValueError(f'two run files for {key[0]} seed {key[1]} (one is {path})')
        seen.add(key)
        runs.append(run)
    for variant, seed in expected_runs or ():
        if (variant, int(seed)) not in seen:
            seen.add((variant, int(seed)))
            runs.append({'variant': variant, 'seed': int(seed), 'status': 'missing', 'error': None, 'path': None})
    datasets = sorted({r['dataset'] for r in runs if r.get('dataset')})
    if len(datasets) > 1:
        raise ValueError(f'runs of several datasets {datasets}; build one report per dataset')
    return runs


def read_metrics(path: os.PathLike) -> Optional[List[Dict[str, float]]]:
    """The epochs of a run's ``metrics.csv`` in epoch order (numeric columns as floats, blanks as None), or None
    when the file is absent or unreadable."""
    try:
        with open(path, newline='') as f:
            rows = list(csv.DictReader(f))
    except (OSError, csv.Error, UnicodeDecodeError):
        return None

    def number(text):
        try:
            value = float(text)
        except (TypeError, ValueError):
            return None
        return value if math.isfinite(value) else None

    epochs = [{k: number(v) for k, v in row.items() if k is not None} for row in rows]
    return sorted(epochs, key=lambda r: r.get('epoch') if r.get('epoch') is not None else math.inf)


def convergence(val_top1: Sequence[float], window: int = CONVERGENCE_WINDOW,
                margin: float = CONVERGENCE_MARGIN) -> str:
    """'converged', 'not converged' or 'too short' for one run's validation top-1 per epoch (percent).

    Rule: with fewer than ``window + 1`` epochs there is nothing to compare ('too short'); otherwise the run is not
    converged when the best of its last ``window`` epochs exceeds the best of all earlier epochs by more than
    ``margin`` points (validation accuracy still rising at the end).
    """
    values = [float(v) for v in val_top1 if is_finite_number(v)]
    if len(values) < window + 1:
        return 'too short'
    return 'not converged' if max(values[-window:]) > max(values[:-window]) + margin else 'converged'


def _add_training_fields(run: Dict[str, Any], metrics_path: Path) -> Dict[str, Any]:
    """Final train loss / train top-1 / validation top-1 (final.json's, else metrics.csv's last epoch) and the
    run's convergence status ('no metrics' without a metrics.csv)."""
    epochs = read_metrics(metrics_path)
    last = epochs[-1] if epochs else {}
    for final_key, column in _TRAINING_FIELDS:
        if not is_finite_number(run.get(final_key)):
            run[final_key] = last.get(column)
    run['convergence'] = convergence([e.get('val_top1') for e in epochs]) if epochs else 'no metrics'
    return run


_GEOMETRY_KEYS = ('base_resolution', 'px_over_base', 'stage_repeats', 'stage_channels', 'stage_feature_maps',
                  'final_feature_map', 'head_channels')


def _profile_row(profile: Dict[str, Any]) -> Dict[str, Any]:
    keys = ('variant', 'depth', 'width', 'resolution', 'input_size', 'params', 'gmacs', 'gmacs_total',
            'gflops') + _GEOMETRY_KEYS
    return {k: profile.get(k) for k in keys}


def _mean(values) -> Optional[float]:
    values = [float(v) for v in values if is_finite_number(v)]
    return statistics.mean(values) if values else None


def summarize(runs: Sequence[Dict[str, Any]], profiles: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """One row per variant (profile order, then variants that only have runs): multipliers, axis, compute and
    geometry from the profile; over the finished seeds: test top-1 mean / sample std (ddof=1), mean validation
    top-1, final train loss and train top-1, convergence; ok / failed / missing counts."""
    rows: Dict[str, Dict[str, Any]] = {}
    for prof in profiles:
        rows.setdefault(prof['variant'], _profile_row(prof))
    for run in runs:
        if run['variant'] not in rows:
            rows[run['variant']] = {'variant': run['variant'], 'gmacs': None, 'gmacs_total': None, 'gflops': None,
                                    **{k: run.get(k) for k in ('depth', 'width', 'resolution', 'input_size',
                                                               'params')}}
    out = []
    for variant, row in rows.items():
        mine = sorted((r for r in runs if r['variant'] == variant), key=lambda r: r['seed'])
        ok = [r for r in mine if r['status'] == 'ok']
        top1 = [float(r['test_top1']) for r in ok]
        known = all(is_finite_number(row.get(k)) for k in SINGLE_AXES)
        row.update(
            axis=scaling_axis(row['depth'], row['width'], row['resolution']) if known else None,
            runs_ok=ok, seeds_ok=[r['seed'] for r in ok], top1=top1, n_ok=len(top1),
            n_failed=sum(r['status'] == 'failed' for r in mine), n_missing=sum(r['status'] == 'missing' for r in mine),
            failures=[(r['seed'], r.get('error')) for r in mine if r['status'] == 'failed'],
            mean=statistics.mean(top1) if top1 else None,
            std=statistics.stdev(top1) if len(top1) >= 2 else None,
            val_mean=_mean(r.get('final_val_top1') for r in ok),
            n_val=sum(is_finite_number(r.get('final_val_top1')) for r in ok),
            train_loss_mean=_mean(r.get('final_train_loss') for r in ok),
            train_top1_mean=_mean(r.get('final_train_top1') for r in ok),
            convergence=[r.get('convergence', 'no metrics') for r in ok],
        )
        out.append(row)
    return out
