"""Multiply-add counting with fvcore, the count the EfficientNet paper calls FLOPS, and FLOP matching on one axis.

Paper: https://arxiv.org/abs/1905.11946 counts multiply-adds with batch norm folded into the convolutions. fvcore's
total includes batch_norm (B4 lands 7% above the paper); its convolution + linear part is the paper-comparable
count. fvcore skips element-wise ops (silu, sigmoid, mul, add); :func:`count_macs` returns which it skipped.

The model must be eager (fvcore traces with ``torch.jit``; compiled modules fail) and is counted in eval mode.
This module sits above :mod:`effscale_timm.models` (it builds networks to measure them); fvcore is imported only
when something is counted, so ``import effscale_timm`` stays light.
"""
from __future__ import annotations

import contextlib
import logging
import math
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Dict, Iterator, Optional, Tuple

import torch
from torch import nn

from .backbones import DEFAULT_BACKBONE
from .models import scaled_model, variant_spec
from .scaling import FLOP_TOLERANCE, SCALING_AXES, MIN_RESOLUTION, check_multiplier, check_resolution, round_resolution

PAPER_COMPARABLE_OPS = ('conv', 'linear', 'addmm', 'matmul', 'bmm', 'einsum')


@contextlib.contextmanager
def quiet_fvcore() -> Iterator[None]:
    """Silence fvcore's import-time warnings and its logger inside the block; the logger level is always restored."""
    fv_logger = logging.getLogger('fvcore')
    level = fv_logger.level
    fv_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            yield
    finally:
        fv_logger.setLevel(level)


def _analysis(cls_name: str, model: nn.Module, input_size):
    """An fvcore analysis (``FlopCountAnalysis`` or ``ActivationCountAnalysis``) of one zero image, warnings off."""
    import fvcore.nn
    param = next(model.parameters())
    x = torch.zeros((1, *input_size), device=param.device, dtype=param.dtype)
    analysis = getattr(fvcore.nn, cls_name)(model, x)
    return analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings('none')


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
    model = getattr(model, '_orig_mod', model)
    was_training = model.training
    model.eval()
    try:
        with quiet_fvcore():
            analysis = _analysis('FlopCountAnalysis', model, input_size)
            total = float(analysis.total())
            by_op = {k: float(v) for k, v in analysis.by_operator().items()}
            skipped = dict(analysis.unsupported_ops())
    finally:
        model.train(was_training)
    conv_linear = sum(v for k, v in by_op.items() if any(k.startswith(p) for p in PAPER_COMPARABLE_OPS))
    return {'total': total, 'conv_linear': conv_linear, 'by_operator': by_op, 'skipped_ops': skipped}


@torch.no_grad()
def count_activations(model: nn.Module, input_size) -> float:
    """Output elements of convolutions and linear layers for one image (fvcore ``ActivationCountAnalysis``)."""
    was_training = model.training
    model.eval()
    try:
        with quiet_fvcore():
            return float(_analysis('ActivationCountAnalysis', model, input_size).total())
    finally:
        model.train(was_training)


@lru_cache(maxsize=512)
def count_scaled_macs(depth: float, width: float, pixels: int, num_classes: int = 1000, in_chans: int = 3,
                      backbone: str = DEFAULT_BACKBONE) -> Dict[str, float]:
    """MACs of ``backbone`` scaled by (depth, width) at ``pixels`` x ``pixels``; cached per architecture."""
    model = scaled_model(backbone, depth=depth, width=width, resolution=1.0, base_resolution=pixels,
                         num_classes=num_classes, in_chans=in_chans)
    counts = count_macs(model, (in_chans, pixels, pixels))
    return {'total': counts['total'], 'conv_linear': counts['conv_linear']}


def macs_of(depth: float, width: float, pixels: int, num_classes: int = 1000, in_chans: int = 3,
            backbone: str = DEFAULT_BACKBONE) -> float:
    """The one MAC counter of a network by its (depth, width, pixels): the paper-comparable multiply-adds (fvcore,
    convolutions + linear layers) of ``backbone`` (B0 by default) scaled by ``depth`` and ``width`` at ``pixels`` x
    ``pixels``; cached per architecture (:func:`count_scaled_macs`). FLOP matching, the search's grid and family,
    and the config's FLOP-matched variants all count with it."""
    return float(count_scaled_macs(depth, width, int(pixels), num_classes, in_chans, backbone)['conv_linear'])


@dataclass(frozen=True)
class FlopMatch:
    """The outcome of :func:`match_flops`: the multipliers found and what was measured."""
    axis: str
    depth: float
    width: float
    resolution: float
    input_size: int
    macs: float
    target_macs: float

    @property
    def rel_error(self) -> float:
        return self.macs / self.target_macs - 1.0


class _AxisProbe:
    """Builds (and measures, once per distinct network) the base variant scaled to ``m`` on one axis."""

    def __init__(self, axis: str, base: str, input_size: int, target_macs: float, count: Callable[..., float]):
        self.axis, self.spec, self.input_size = axis, variant_spec(base), input_size
        self.target_macs, self.count = target_macs, count
        self.measured: Dict[Tuple[float, float, int], float] = {}

    def at(self, m: float) -> FlopMatch:
        mult = {'depth': self.spec.depth, 'width': self.spec.width, 'resolution': self.spec.resolution, self.axis: m}
        px = round_resolution(mult['resolution'], self.input_size)
        key = (mult['depth'], mult['width'], px)
        if key not in self.measured:
            self.measured[key] = float(self.count(*key))
        return FlopMatch(self.axis, mult['depth'], mult['width'], mult['resolution'], px, self.measured[key],
                         self.target_macs)


def _bisect(probe: _AxisProbe, lo: float, hi: float, tolerance: float) -> FlopMatch:
    """Geometric bisection on measured MACs; the closest network built (the bracket's ends included)."""
    best = None
    for _ in range(40):
        mid = math.sqrt(lo * hi)
        found = probe.at(mid)
        if best is None or abs(found.rel_error) < abs(best.rel_error):
            best = found
        if abs(found.rel_error) <= tolerance / 4 or hi / lo < 1.0005:
            break
        lo, hi = (mid, hi) if found.macs < probe.target_macs else (lo, mid)
    for m in (lo, hi):  # a step function (rounded repeats, channels, pixels) can leave mid on the wrong side
        found = probe.at(m)
        if abs(found.rel_error) < abs(best.rel_error):
            best = found
    return best


def match_flops(
        axis: str,
        target_macs: float,
        base: str = 'effscale_b0',
        input_size: int = 224,
        num_classes: int = 1000,
        in_chans: int = 3,
        tolerance: float = FLOP_TOLERANCE,
        max_multiplier: float = 8.0,
        count: Optional[Callable[..., float]] = None,
) -> FlopMatch:
    """Find the multiplier on one axis whose *measured* multiply-adds are within ``tolerance`` of a target.

    The other two axes keep the ``base`` variant's multipliers. Depth rounds repeats up (d = 1.1 and 1.2 build the
    same network) and small inputs change every feature map, so the search bisects over measured counts (fvcore,
    conv + linear, the paper-comparable count) and keeps the closest network it built.

    Args:
        axis: 'depth', 'width' or 'resolution'.
        target_macs: the multiply-adds to reach (e.g. a compound variant's measured count).
        base: registered variant to scale from (its backbone is the one scaled).
        input_size: the base resolution in pixels the base variant's resolution multiplier applies to.
        num_classes: classifier size used for counting.
        in_chans: input channels used for counting.
        tolerance: the allowed relative error (default :data:`~effscale_timm.scaling.FLOP_TOLERANCE`, 5%).
        max_multiplier: the largest multiplier tried.
        count: MAC counter ``count(depth, width, pixels) -> macs``; defaults to :func:`macs_of`.

    Returns:
        A :class:`FlopMatch` with the multipliers and the measured MACs.

    Raises:
        ValueError: unknown axis, bad target, or no multiplier on this axis lands within the tolerance.
    """
    if axis not in SCALING_AXES:
        raise ValueError(f'axis must be one of {SCALING_AXES}, got {axis!r}')
    target_macs = check_multiplier('target_macs', target_macs, high=1e15)
    input_size = check_resolution('input_size', input_size)
    if count is None:
        def count(d, w, px):
            return macs_of(d, w, px, num_classes, in_chans, variant_spec(base).backbone)
    probe = _AxisProbe(axis, base, input_size, target_macs, count)
    lo = MIN_RESOLUTION / input_size if axis == 'resolution' else 0.05
    best = _bisect(probe, max(lo, 1e-3), max_multiplier, tolerance)
    if abs(best.rel_error) > tolerance:
        raise ValueError(
            f'cannot match {target_macs / 1e9:.4g} GMACs within ±{tolerance:.0%} by scaling {axis} of {base} at '
            f'base {input_size} px: the closest network ({axis}={getattr(best, axis):.4g}, {best.input_size} px) '
            f'measures {best.macs / 1e9:.4g} GMACs ({best.rel_error:+.1%})')
    return best
