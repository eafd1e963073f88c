"""A variant's Grad-CAM file (``.npz``): the maps of one trained model on the study's fixed test images, with the
layer they come from. Written by ``effscale cam``, drawn by the report's CAM grid."""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from ..atomic import write_atomic
from .damage import damaged, npz_arrays, read_checked


def save_cam(path: os.PathLike, result: Dict[str, Any], variant: Optional[str] = None) -> Path:
    """Write one variant of a :func:`compute_cams` result as an ``.npz`` (atomically).

    Keys: images, labels, indices, classes, variant, pred, cam, flat, target_layer (the Grad-CAM layer, the same
    for every variant of a study), target_stride (its output stride; 0 when the result does not say),
    stage_rule (how the layer was chosen; '' when the result does not say), feature_size (the layer's map at the
    variant's input), input_size, model_path, per_class, seed.
    """
    if variant is None:
        if len(result['variants']) != 1:
            raise ValueError(f'the result holds {result["variants"]}; name the variant to save')
        variant = result['variants'][0]
    buf = io.BytesIO()
    np.savez_compressed(
        buf, images=result['images'], labels=result['labels'], indices=result['indices'],
        classes=np.asarray(result['classes'], dtype=str), variant=np.asarray(variant.split('@')[0]),
        pred=result['preds'][variant], cam=result['cams'][variant], flat=result['flat'][variant],
        target_layer=np.asarray(result['target_layers'][variant]),
        target_stride=np.asarray(result.get('target_strides', {}).get(variant, 0), dtype=np.int64),
        stage_rule=np.asarray(result.get('stage_rule', '')),
        feature_size=np.asarray(result['feature_sizes'][variant], dtype=np.int64),
        input_size=np.asarray(result['input_sizes'][variant], dtype=np.int64),
        model_path=np.asarray(result['model_paths'][variant]), per_class=np.asarray(result['per_class']),
        seed=np.asarray(result['seed']))
    return write_atomic(path, buf.getvalue())


CAM_KEYS = ('images', 'labels', 'indices', 'classes', 'variant', 'pred', 'cam', 'flat', 'target_layer',
            'input_size')


def load_cam(path: os.PathLike) -> Dict[str, Any]:
    """Read a :func:`save_cam` file back: arrays as arrays, scalars and strings as Python values.

    Raises:
        DamagedFileError: the file is missing, empty, not an ``.npz`` or not a CAM file.
    """
    out = read_checked(path, 'CAM file', npz_arrays)
    lacking = [k for k in CAM_KEYS if k not in out]
    if lacking:
        raise damaged(path, f'not a CAM file (lacks {", ".join(lacking)})')
    for key in ('variant', 'target_layer', 'model_path', 'stage_rule'):
        if key in out:
            out[key] = str(out[key])
    for key in ('input_size', 'per_class', 'seed', 'target_stride'):
        if key in out:
            out[key] = int(out[key])
    out['classes'] = [str(c) for c in out['classes']]
    return out
