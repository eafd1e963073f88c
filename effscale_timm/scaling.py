"""Scaling arithmetic for EfficientNet variants: compound coefficients, resolution rounding and argument checks.

Pure arithmetic: this module never builds a network (FLOP matching, which measures networks, is in
:mod:`effscale_timm.flops`).

Paper: `EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks` - https://arxiv.org/abs/1905.11946
(Tan & Le, 2019), section 3.3: depth d = alpha^phi, width w = beta^phi, resolution r = gamma^phi.

Resolution rounding lives here and only here: a variant's input size is ``round(r * base / 4) * 4`` pixels, never
below :data:`MIN_RESOLUTION`. Multiples of 4 reproduce every resolution of the paper's Table 2 exactly at base 224
(240, 260, 300, 380, 456, 528, 600) and keep the first two stride-2 feature maps even at small bases.
"""
from __future__ import annotations

import math
from numbers import Real
from typing import NamedTuple, Tuple


class Coefficients(NamedTuple):
    """Compound-scaling bases: depth alpha, width beta, resolution gamma (per unit of phi)."""
    alpha: float
    beta: float
    gamma: float


PAPER_COEFFICIENTS = Coefficients(1.2, 1.1, 1.15)  # the paper's grid-search result on ImageNet (section 3.3)
RESOLUTION_DIVISOR = 4
MIN_RESOLUTION = 32  # the network's total stride: below it the last stage sees a map smaller than one stride
MAX_MULTIPLIER = 16.0  # a sanity bound on depth and width multipliers (B7 is depth 3.1, width 2.0)
FLOP_TOLERANCE = 0.05  # the one tolerance: compute counts as matched within +/- 5% of measured MACs
SCALING_AXES = ('depth', 'width', 'resolution')  # the three multipliers, in this order everywhere
SPEC_FIELDS = SCALING_AXES + ('dropout',)  # what defines a variant of a backbone: its multipliers and its dropout
VARIANT_FIELDS = SPEC_FIELDS + ('backbone',)  # ... and which backbone it scales (effscale_timm.backbones)


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


def compound(phi: float, alpha: float = PAPER_COEFFICIENTS.alpha, beta: float = PAPER_COEFFICIENTS.beta,
             gamma: float = PAPER_COEFFICIENTS.gamma) -> Tuple[float, float, float]:
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
