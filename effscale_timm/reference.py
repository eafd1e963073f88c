"""Reference numbers from the EfficientNet paper and from the seed study, shipped as package data.

Paper: `EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks` - https://arxiv.org/abs/1905.11946
(Tan & Le, 2019). Table 2 lists B0-B7, Table 7 compares single-axis and compound scaling of B0 at ~1.8B
multiply-adds. The seed study's Table 1 is the CIFAR-10 reproduction this project started from; it counts
FLOPs as 2 x multiply-adds, the paper counts multiply-adds.

The numbers live in ``reference.yaml`` next to this module (data, not code); every table carries its dataset and
the unit of each column::

    from effscale_timm.reference import reference_table
    t7 = reference_table('table7')
    t7['units']['macs_b']  # 'billions of multiply-adds per image (the paper's FLOPS)'

A reference row belongs beside one variant only: the one with its multipliers (:func:`matching_row`), or the one it
names (Table 3's compound models, whose multipliers the paper does not give); any other row whose source gives no
multipliers (the seed study's single-axis models) belongs beside none. Compute is compared only as a
ratio to each study's own B0 (:func:`compute_ratio`): the seed study counts 2 x multiply-adds at its own input size,
the paper multiply-adds at 224 px, a small-image study far fewer; the ratios are comparable, the counts are not.
"""
from __future__ import annotations

import copy
import math
from functools import lru_cache
from importlib import resources
from typing import Any, Dict, List, Optional

import yaml

from .backbones import DEFAULT_BACKBONE
from .scaling import SCALING_AXES

__all__ = ['TABLES', 'COMPARISON_TABLES', 'reference_table', 'reference_rows', 'compute_key', 'reference_baseline',
           'compute_ratio', 'compute_matched', 'matching_row']

TABLES = ('table2', 'table7', 'seed_table1', 'table3_mobilenetv2', 'table3_resnet50')
# single-axis vs compound, shown beside the report's rows of the table's backbone
COMPARISON_TABLES = ('seed_table1', 'table7', 'table3_mobilenetv2', 'table3_resnet50')
_REQUIRED_TABLE_KEYS = ('title', 'source', 'dataset', 'units', 'rows')
_REQUIRED_ROW_KEYS = {
    'table2': ('model', 'variant', 'width', 'depth', 'resolution_px', 'dropout', 'params_m', 'timm_params_m',
               'macs_b', 'top1'),
    'table7': ('method', 'axis', 'depth', 'width', 'resolution', 'macs_b', 'top1'),
    'seed_table1': ('method', 'axis', 'depth', 'width', 'resolution', 'flops_b', 'top1'),
    'table3_mobilenetv2': ('method', 'axis', 'depth', 'width', 'resolution', 'macs_b', 'top1'),
    'table3_resnet50': ('method', 'axis', 'depth', 'width', 'resolution', 'macs_b', 'top1'),
}


def _validate(data: Dict[str, Any]) -> Dict[str, Any]:
    """Check that every table has its metadata, units for its numeric columns and complete rows."""
    for name in TABLES:
        table = data.get(name)
        if not isinstance(table, dict):
            raise ValueError(f'reference.yaml: table {name!r} is missing')
        missing = [k for k in _REQUIRED_TABLE_KEYS if k not in table]
        if missing:
            raise ValueError(f'reference.yaml: table {name!r} lacks {missing}')
        for i, row in enumerate(table['rows']):
            lacking = [k for k in _REQUIRED_ROW_KEYS[name] if k not in row]
            if lacking:
                raise ValueError(f'reference.yaml: {name} row {i} lacks {lacking}')
        for key in ('top1', table.get('compute_key', 'macs_b')):
            if key not in table['units']:
                raise ValueError(f'reference.yaml: {name} gives no unit for {key!r}')
        if name in COMPARISON_TABLES and [r['axis'] for r in table['rows']].count('baseline') != 1:
            raise ValueError(f'reference.yaml: {name} needs exactly one baseline row (its own B0)')
    return data


@lru_cache(maxsize=1)
def _load() -> Dict[str, Any]:
    text = resources.files(__package__).joinpath('reference.yaml').read_text(encoding='utf-8')
    return _validate(yaml.safe_load(text))


def reference_table(name: str) -> Dict[str, Any]:
    """One reference table: ``{'title', 'source', 'dataset', 'units', 'rows', ...}``.

    Args:
        name: 'table2' (paper, B0-B7), 'table7' (paper, single-axis vs compound on ImageNet, multiply-adds) or
            'seed_table1' (seed study, CIFAR-10, FLOPs = 2 x multiply-adds).
    """
    if name not in TABLES:
        raise ValueError(f'unknown reference table {name!r}; known: {", ".join(TABLES)}')
    return copy.deepcopy(_load()[name])


def reference_rows(name: str) -> List[Dict[str, Any]]:
    """The rows of :func:`reference_table` ``name``."""
    return reference_table(name)['rows']


def compute_key(name: str) -> str:
    """The column of table ``name`` that holds compute (``macs_b`` or the seed study's ``flops_b``)."""
    return reference_table(name).get('compute_key', 'macs_b')


def reference_baseline(name: str) -> Dict[str, Any]:
    """The study's own B0 row (axis 'baseline') of a comparison table."""
    return next(r for r in reference_rows(name) if r['axis'] == 'baseline')


def compute_ratio(name: str, row: Dict[str, Any]) -> float:
    """A reference row's compute as a multiple of its own study's B0 (unit-free, so comparable across studies)."""
    key = compute_key(name)
    return row[key] / reference_baseline(name)[key]


def compute_matched(name: str, a: Dict[str, Any], b: Dict[str, Any], tolerance: float) -> bool:
    """Whether rows ``a`` and ``b`` of table ``name`` can be at the same compute within ``tolerance``, allowing for the
    source's rounding: each printed figure stands for any value within half its last digit (``compute_rounding``:
    the paper prints 1.8B and 1.9B, so its compound and resolution rows may both be 1.85B, as the paper compares
    them)."""
    key, half = compute_key(name), reference_table(name).get('compute_rounding', 0.0) / 2
    low = (a[key] - half) / (b[key] + half)
    high = (a[key] + half) / max(b[key] - half, 1e-12)
    return low <= 1 + tolerance and high >= 1 - tolerance


def table_backbone(name: str) -> str:
    """The backbone a comparison table's rows scale (EfficientNet-B0 unless the table says)."""
    return reference_table(name).get('backbone', DEFAULT_BACKBONE)


def matching_row(name: str, depth: float, width: float, resolution: float, rel_tol: float = 1e-3,
                 backbone: str = DEFAULT_BACKBONE, variant: Optional[str] = None) -> Optional[Dict[str, Any]]:
    """The row of table ``name`` whose backbone is ``backbone`` and whose multipliers are (depth, width, resolution)
    within ``rel_tol``, or which names ``variant`` as the variant built to stand for it; else None.

    Other rows whose source does not give all three multipliers match nothing: where a model sits cannot be guessed
    from its compute.
    """
    if table_backbone(name) != backbone:
        return None
    ours = (depth, width, resolution)
    for row in reference_rows(name):
        if variant is not None and row.get('variant') == variant:
            return row
        theirs = tuple(row.get(k) for k in SCALING_AXES)
        if all(t is not None for t in theirs) and all(math.isclose(float(o), float(t), rel_tol=rel_tol)
                                                      for o, t in zip(ours, theirs)):
            return row
    return None
