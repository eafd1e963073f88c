"""The trained-model file ``model.pt``: written by training, read by Grad-CAM (and by users).

A ``torch.save``d dict: variant, status, spec (depth, width, resolution, dropout), num_classes, in_chans,
base_resolution, input_size, mean, std, classes, model_args (the other ``timm.create_model`` arguments it was built
with that change its outputs, e.g. the paper recipe's ``bn_eps``) and state_dict (the EMA weights when the recipe
keeps an EMA). It is written for failed runs too (their last weights), so downstream rules find their input.
``timm.models.load_checkpoint`` and ``timm.create_model(variant, pretrained=True,
pretrained_cfg_overlay=dict(file='model.pt', num_classes=N), num_classes=N, ...)`` read it too; the Hub-ready folder
beside it is :mod:`~effscale_timm.files.hub_folder`.
"""
from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path
from typing import Any, Dict, Sequence, Tuple

import timm
import torch
from torch import nn

from ..atomic import write_atomic
from ..models import VariantSpec, resolve_variant
from .damage import damaged, read_checked

MODEL_FILE = 'model.pt'  # its name in a run's output folder
BUILD_ARGS = ('bn_eps', 'bn_momentum')  # build arguments a recipe may set (bn_eps changes the outputs)
MODEL_KEYS = ('variant', 'spec', 'num_classes', 'in_chans', 'base_resolution', 'input_size', 'state_dict')


def save_trained_model(path: os.PathLike, model: nn.Module, variant: str, spec: VariantSpec, status: str,
                       base_resolution: int, mean: Sequence[float], std: Sequence[float],
                       classes: Sequence[str]) -> Path:
    """Write ``model`` (built by ``timm.create_model(variant, ...)``) and what rebuilds it, atomically."""
    cfg = model.pretrained_cfg
    in_chans, input_size = cfg['input_size'][0], cfg['input_size'][-1]
    build = {k: v for k, v in getattr(model, '_model_args', {}).items() if k in BUILD_ARGS}  # timm's create_model
    buf = io.BytesIO()
    torch.save({'variant': variant, 'status': status, 'spec': dataclasses.asdict(spec),
                'num_classes': model.num_classes, 'in_chans': int(in_chans), 'base_resolution': int(base_resolution),
                'input_size': int(input_size), 'mean': list(mean), 'std': list(std),
                'classes': [str(c) for c in classes], 'model_args': build,
                'state_dict': {k: v.detach().cpu() for k, v in model.state_dict().items()}}, buf)
    return write_atomic(path, buf.getvalue())


def load_trained_model(path: os.PathLike, device: str = 'cpu') -> Tuple[nn.Module, Dict[str, Any]]:
    """Rebuild a trained model from its ``model.pt`` and load its weights.

    A variant unknown to this process is registered from its spec first.

    Returns:
        ``(model in eval mode on device, meta)``, meta being the dict without ``state_dict``.

    Raises:
        DamagedFileError: the file is missing, empty, not a ``torch.save`` file (truncated, random bytes), lacks the
            keys above, or its weights do not fit the network it names.
        ValueError: the name is registered here with different multipliers.
    """
    ckpt = read_checked(path, 'trained-model file', lambda p: torch.load(p, map_location=device, weights_only=True))
    missing = [k for k in MODEL_KEYS if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise damaged(path, f'not an effscale trained-model file (lacks {", ".join(missing)})')
    name, spec = ckpt['variant'], ckpt['spec']
    try:
        resolve_variant(name, spec['depth'], spec['width'], spec['resolution'], spec.get('dropout'),
                        backbone=spec.get('backbone'))
    except ValueError as e:
        raise ValueError(f'{path}: variant {name!r} was trained as {spec}, but {e}') from e
    model = timm.create_model(name, **ckpt.get('model_args', {}), num_classes=ckpt['num_classes'],
                              in_chans=ckpt['in_chans'], base_resolution=ckpt['base_resolution'])
    try:
        model.load_state_dict(ckpt['state_dict'])
    except RuntimeError as e:
        raise damaged(path, f'weights that do not fit {name} ({str(e).splitlines()[0]})') from None
    meta = {k: v for k, v in ckpt.items() if k != 'state_dict'}
    return model.to(device).eval(), meta
