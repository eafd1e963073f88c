"""Multiply-add counting with fvcore, the count the EfficientNet paper calls FLOPS.

Paper: https://arxiv.org/abs/1905.11946 counts multiply-adds with batch norm folded into the convolutions. fvcore's
total includes batch_norm (B4 lands 7% above the paper); its convolution + linear part is the paper-comparable
count. fvcore skips element-wise ops (silu, sigmoid, mul, add); :func:`count_macs` returns which it skipped.

The model must be eager (fvcore traces with ``torch.jit``; compiled modules fail) and is counted in eval mode.
"""
from __future__ import annotations

import logging
import warnings
from functools import lru_cache
from typing import Dict

import torch
from torch import nn

PAPER_COMPARABLE_OPS = ('conv', 'linear', 'addmm', 'matmul', 'bmm', 'einsum')


def _fvcore():
    """Import fvcore's FlopCountAnalysis with its import-time warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        from fvcore.nn import FlopCountAnalysis
    return FlopCountAnalysis


@torch.no_grad()
def count_macs(model: nn.Module, input_size) -> Dict[str, object]:
    """Count multiply-adds of one image through ``model`` with fvcore.

    Args:
        model: an eager module (not ``torch.compile``d).
        input_size: (C, H, W) of one input.

    Returns:
        ``{'total': MACs incl. batch norm, 'conv_linear': paper-comparable MACs, 'by_operator': {op: MACs},
        'skipped_ops': {op: count}}``.
    """
    if hasattr(model, '_orig_mod'):
        model = model._orig_mod
    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters())
        x = torch.zeros((1, *input_size), device=param.device, dtype=param.dtype)
        analysis = _fvcore()(model, x)
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings('none')
        fv_logger = logging.getLogger('fvcore')
        level = fv_logger.level
        fv_logger.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            total = float(analysis.total())
            by_op = {k: float(v) for k, v in analysis.by_operator().items()}
            skipped = dict(analysis.unsupported_ops())
        fv_logger.setLevel(level)
    finally:
        model.train(was_training)
    conv_linear = sum(v for k, v in by_op.items() if any(k.startswith(p) for p in PAPER_COMPARABLE_OPS))
    return {'total': total, 'conv_linear': conv_linear, 'by_operator': by_op, 'skipped_ops': skipped}


@lru_cache(maxsize=512)
def count_scaled_macs(depth: float, width: float, pixels: int, num_classes: int = 1000,
                      in_chans: int = 3) -> Dict[str, float]:
    """MACs of B0 scaled by (depth, width) at ``pixels`` x ``pixels``; cached per architecture."""
    from .models import scaled_efficientnet
    model = scaled_efficientnet(depth=depth, width=width, resolution=1.0, base_resolution=pixels,
                                num_classes=num_classes, in_chans=in_chans)
    counts = count_macs(model, (in_chans, pixels, pixels))
    return {'total': counts['total'], 'conv_linear': counts['conv_linear']}
