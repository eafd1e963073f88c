"""Scaling arithmetic for EfficientNet variants: compound coefficients, resolution rounding, argument checks and
FLOP matching by measured multiply-adds.

Paper: `EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks` - https://arxiv.org/abs/1905.11946
(Tan & Le, 2019), section 3.3: depth d = alpha^phi, width w = beta^phi, resolution r = gamma^phi.

Resolution rounding lives here and only here: a variant's input size is ``round(r * base / 4) * 4`` pixels, never
below :data:`MIN_RESOLUTION`. Multiples of 4 reproduce every resolution of the paper's Table 2 exactly at base 224
(240, 260, 300, 380, 456, 528, 600) and keep the first two stride-2 feature maps even at small bases.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real
from typing import Callable, Dict, Optional, Tuple

ALPHA, BETA, GAMMA = 1.2, 1.1, 1.15
RESOLUTION_DIVISOR = 4
MIN_RESOLUTION = 32  # the network's total stride: below it the last stage sees a map smaller than one stride
MAX_MULTIPLIER = 16.0  # a sanity bound on depth and width multipliers (B7 is depth 3.1, width 2.0)
FLOP_TOLERANCE = 0.05


def check_multiplier(name: str, value, low: float = 0.0, high: float = MAX_MULTIPLIER) -> float:
    """Return ``value`` as a float, or raise ``ValueError`` naming the argument and the allowed range."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f'{name} must be a number in ({low:g}, {high:g}], got {value!r} ({type(value).__name__})')
    value = float(value)
    if not math.isfinite(value) or not low < value <= high:
        raise ValueError(f'{name} must be a number in ({low:g}, {high:g}], got {value!r}')
    return value


def check_resolution(name: str, pixels) -> int:
    """Return ``pixels`` as an int, or raise ``ValueError`` if it is not a whole number >= MIN_RESOLUTION."""
    if isinstance(pixels, bool) or not isinstance(pixels, Real) or not math.isfinite(float(pixels)) \
            or float(pixels) != int(pixels) or int(pixels) < MIN_RESOLUTION:
        raise ValueError(
            f'{name} must be a whole number of pixels >= {MIN_RESOLUTION} (the network\'s total stride), '
            f'got {pixels!r}')
    return int(pixels)


def round_resolution(r: float, base: int = 224) -> int:
    """The input size in pixels of resolution multiplier ``r`` at base resolution ``base``.

    Args:
        r: resolution multiplier (> 0).
        base: the unscaled input size: 224 on ImageNet, the dataset's own size on small data.

    Returns:
        ``round(r * base / 4) * 4``; raises ``ValueError`` if that is below :data:`MIN_RESOLUTION`.
    """
    r = check_multiplier('resolution', r)
    if isinstance(base, bool) or not isinstance(base, Real) or not math.isfinite(float(base)) \
            or float(base) != int(base) or int(base) <= 0:
        raise ValueError(f'base_resolution must be a positive whole number of pixels, got {base!r}')
    base = int(base)
    pixels = int(round(r * base / RESOLUTION_DIVISOR)) * RESOLUTION_DIVISOR
    if pixels < MIN_RESOLUTION:
        raise ValueError(
            f'resolution {r:g} x base {base} = {r * base:.1f} px is below the network\'s minimum input of '
            f'{MIN_RESOLUTION} px; use resolution >= {MIN_RESOLUTION / base:.3g} at this base')
    return pixels


def compound(phi: float, alpha: float = ALPHA, beta: float = BETA, gamma: float = GAMMA) -> Tuple[float, float, float]:
    """Compound scaling coefficients (depth, width, resolution) = (alpha^phi, beta^phi, gamma^phi).

    Args:
        phi: the compound coefficient (>= 0; phi = 1 roughly doubles FLOPs).
        alpha: depth base (paper: 1.2).
        beta: width base (paper: 1.1).
        gamma: resolution base (paper: 1.15).
    """
    if isinstance(phi, bool) or not isinstance(phi, Real) or not math.isfinite(float(phi)) or not 0 <= phi <= 16:
        raise ValueError(f'phi must be a number in [0, 16], got {phi!r}')
    for name, value in (('alpha', alpha), ('beta', beta), ('gamma', gamma)):
        check_multiplier(name, value, low=0.0, high=4.0)
    return alpha ** phi, beta ** phi, gamma ** phi


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


AXES = ('depth', 'width', 'resolution')


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
        base: registered variant to scale from.
        input_size: the base resolution in pixels the base variant's resolution multiplier applies to.
        num_classes: classifier size used for counting.
        in_chans: input channels used for counting.
        tolerance: the allowed relative error (default 5%).
        max_multiplier: the largest multiplier tried.
        count: MAC counter ``count(depth, width, pixels) -> macs``; defaults to fvcore on the built network.

    Returns:
        A :class:`FlopMatch` with the multipliers and the measured MACs.

    Raises:
        ValueError: unknown axis, bad target, or no multiplier on this axis lands within the tolerance.
    """
    from .models import variant_spec  # local: models imports this module
    if axis not in AXES:
        raise ValueError(f'axis must be one of {AXES}, got {axis!r}')
    target_macs = check_multiplier('target_macs', target_macs, high=1e15)
    spec = variant_spec(base)
    input_size = check_resolution('input_size', input_size)
    if count is None:
        from .flops import count_scaled_macs

        def count(d, w, px):
            return count_scaled_macs(d, w, px, num_classes=num_classes, in_chans=in_chans)['conv_linear']

    measured: Dict[Tuple[float, float, int], float] = {}

    def at(m: float) -> Tuple[float, float, float, int, float]:
        d, w, r = spec.depth, spec.width, spec.resolution
        if axis == 'depth':
            d = m
        elif axis == 'width':
            w = m
        else:
            r = m
        px = round_resolution(r, input_size)
        key = (d, w, px)
        if key not in measured:
            measured[key] = float(count(d, w, px))
        return d, w, r, px, measured[key]

    lo = MIN_RESOLUTION / input_size if axis == 'resolution' else 0.05
    lo, hi = max(lo, 1e-3), max_multiplier
    best = None
    for _ in range(40):
        mid = math.sqrt(lo * hi)
        d, w, r, px, macs = at(mid)
        if best is None or abs(macs / target_macs - 1) < abs(best.macs / best.target_macs - 1):
            best = FlopMatch(axis, d, w, r, px, macs, target_macs)
        if abs(macs / target_macs - 1) <= tolerance / 4 or hi / lo < 1.0005:
            break
        if macs < target_macs:
            lo = mid
        else:
            hi = mid
    for m in (lo, hi):  # the bracket's ends, when a step function left mid on the wrong side
        d, w, r, px, macs = at(m)
        if abs(macs / target_macs - 1) < abs(best.macs / best.target_macs - 1):
            best = FlopMatch(axis, d, w, r, px, macs, target_macs)
    if abs(best.rel_error) > tolerance:
        raise ValueError(
            f'cannot match {target_macs / 1e9:.4g} GMACs within ±{tolerance:.0%} by scaling {axis} of {base} at '
            f'base {input_size} px: the closest network ({axis}={getattr(best, axis):.4g}, {best.input_size} px) '
            f'measures {best.macs / 1e9:.4g} GMACs ({best.rel_error:+.1%})')
    return best
