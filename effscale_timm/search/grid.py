"""The search's grid: (alpha, beta, gamma) triples at phi = 1, their names, and the filter that keeps those whose
*measured* multiply-adds are about twice B0's.

Paper: `EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks` - https://arxiv.org/abs/1905.11946
(Tan & Le, 2019), section 3.3. Compound scaling is two steps:

1. Fix phi = 1 (about twice B0's compute) and grid-search depth alpha, width beta and resolution gamma under
   ``alpha * beta**2 * gamma**2 ~ 2`` (the paper found alpha = 1.2, beta = 1.1, gamma = 1.15 on ImageNet).
2. Fix alpha, beta, gamma and raise phi: depth alpha**phi, width beta**phi, resolution gamma**phi
   (:func:`effscale_timm.search.family.family`).

The constraint is checked on *measured* multiply-adds, not on the formula (:func:`filter_by_measured_macs`): repeats
round up (timm rounds ``ceil(repeats * depth)``, so depth 1.2 turns B0's 16 blocks into 23), channels round to
multiples of 8 and pixels to multiples of 4, and at small inputs the last feature maps jump from 1x1 to 2x2, so the
formula can be far off the network actually built.

No training and no files here: the workflow's steps (:mod:`effscale_timm.search.steps`) call these functions and the
training runs score the candidates (:mod:`effscale_timm.search.choice`).
"""
from __future__ import annotations

import math
import re
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from ..flops import macs_of
from ..backbones import DEFAULT_BACKBONE, get_backbone
from ..models import NAME_PATTERN
from ..scaling import FLOP_TOLERANCE, SCALING_AXES, compound, round_resolution

__all__ = ['DEFAULT_GRID', 'grid', 'candidate_name', 'parse_candidate_name', 'candidate_phi', 'is_candidate',
           'network_key', 'scaled_axes', 'once_per_network', 'filter_by_measured_macs']

Range = Tuple[float, float, float]  # (low, high, step), both ends included
# The default grid: around the paper's (1.2, 1.1, 1.15), every value >= 1 (no axis shrinks), step 0.05:
# 9 x 7 x 7 = 441 triples before the MAC filter, which keeps those near 2x B0 (each kept one costs trainings).
DEFAULT_GRID: Dict[str, Range] = {'alpha': (1.0, 1.4, 0.05), 'beta': (1.0, 1.3, 0.05), 'gamma': (1.0, 1.3, 0.05)}
_DECIMALS = 4  # grid values are rounded to 4 decimals (no float drift: 1.15, never 1.1500000000000001)


def _axis_values(name: str, spec: Range) -> List[float]:
    """``low, low + step, ..., high`` (``high`` included when the steps reach it), each rounded to 4 decimals."""
    try:
        low, high, step = (float(v) for v in spec)
    except (TypeError, ValueError) as e:
        raise ValueError(f'{name} must be (low, high, step), got {spec!r}') from e
    if not (math.isfinite(low) and math.isfinite(high) and math.isfinite(step)) or not 1.0 <= low <= high <= 4.0 \
            or step <= 0:
        raise ValueError(f'{name} = (low, high, step) needs 1 <= low <= high <= 4 and step > 0, got {spec!r}')
    n = int(math.floor((high - low) / step + 1e-9))
    return [round(low + i * step, _DECIMALS) for i in range(n + 1)]


def grid(alpha: Range = DEFAULT_GRID['alpha'], beta: Range = DEFAULT_GRID['beta'],
         gamma: Range = DEFAULT_GRID['gamma']) -> List[Tuple[float, float, float]]:
    """Every (alpha, beta, gamma) of the product grid, in lexicographic order (alpha slowest, gamma fastest).

    Each argument is ``(low, high, step)`` with ``1 <= low <= high <= 4``: the values ``low + i * step`` up to
    ``high`` (included when reached), rounded to 4 decimals. Nothing is filtered here: the compute constraint is
    checked on measured MACs by :func:`filter_by_measured_macs`.
    """
    axes = [_axis_values(n, s) for n, s in (('alpha', alpha), ('beta', beta), ('gamma', gamma))]
    return [(a, b, g) for a in axes[0] for b in axes[1] for g in axes[2]]


def _code(value: float) -> str:
    """1.2 -> '120', 1.15 -> '115', 1.125 -> '1125': the integer digit, then at least two decimals."""
    text = f'{value:.{_DECIMALS}f}'.rstrip('0')
    whole, _, frac = text.partition('.')
    return whole + frac.ljust(2, '0')


def candidate_name(alpha: float, beta: float, gamma: float, prefix: str = 'effscale', phi: float = 1.0) -> str:
    """A registry-safe variant name for a candidate: ``candidate_name(1.2, 1.1, 1.15) == 'effscale_a120_b110_g115'``;
    a candidate built at another phi says so: ``candidate_name(1.2, 1.1, 1.15, phi=2) ==
    'effscale_s2_a120_b110_g115'`` (depth 1.2**2, width 1.1**2, resolution 1.15**2).

    Each coefficient (in [1, 10), at most 4 decimals) is written as its integer digit followed by its decimals,
    at least two (1.125 -> ``1125``), so :func:`parse_candidate_name` and :func:`candidate_phi` read it back exactly.
    """
    for n, v in (('alpha', alpha), ('beta', beta), ('gamma', gamma)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 1.0 <= v < 10.0 \
                or abs(round(v, _DECIMALS) - v) > 1e-9:
            raise ValueError(f'{n} must be a number in [1, 10) with at most {_DECIMALS} decimals, got {v!r}')
    at = '' if float(phi) == 1.0 else f'_s{f"{float(phi):g}".replace(".", "p")}'
    name = f'{prefix}{at}_a{_code(alpha)}_b{_code(beta)}_g{_code(gamma)}'
    if not re.match(NAME_PATTERN, name):
        raise ValueError(f'candidate name {name!r} does not match {NAME_PATTERN}; use a lower-case prefix')
    return name


_NAME_RE = re.compile(r'_a(\d+)_b(\d+)_g(\d+)$')
_PHI_RE = re.compile(r'_s(\d+(?:p\d+)?)_a\d+_b\d+_g\d+$')


def parse_candidate_name(name: str) -> Optional[Tuple[float, float, float]]:
    """(alpha, beta, gamma) of a :func:`candidate_name`, or ``None`` if ``name`` is not one."""
    m = _NAME_RE.search(name)
    return tuple(float(f'{d[0]}.{d[1:]}') for d in m.groups()) if m else None


def candidate_phi(name: str) -> float:
    """The phi a :func:`candidate_name` is built at (1 unless the name says ``_s{phi}``)."""
    m = _PHI_RE.search(name)
    return float(m.group(1).replace('p', '.')) if m else 1.0


def is_candidate(name: str) -> bool:
    """Whether ``name`` is a search candidate (:func:`candidate_name`)."""
    return parse_candidate_name(name) is not None


def network_key(depth: float, width: float, px: int, backbone: str = DEFAULT_BACKBONE) -> Tuple:
    """What the built network is (:meth:`effscale_timm.backbones.base.Backbone.network_key`): blocks per stage
    (rounded up), channels of the stem, each stage and the head, and the input pixels. Two candidates with one key
    are one network. Within one backbone, so the backbone's name (the first element of its key) is left out:
    ``(blocks_per_stage, channels, px)``, in the order of :data:`effscale_timm.scaling.SCALING_AXES`."""
    return get_backbone(backbone).network_key(depth, width, px)[1:]


def scaled_axes(depth: float, width: float, px: int, base_resolution: int) -> Tuple[str, ...]:
    """The axes along which the network built from (depth, width, px) differs from B0 at ``base_resolution``: more
    blocks (depth), more channels (width), more pixels (resolution). One or none: a single-axis network, whatever its
    coefficients say (beta = 1.02 builds B0's channels)."""
    mine, b0 = network_key(depth, width, px), network_key(1.0, 1.0, round_resolution(1.0, base_resolution))
    return tuple(axis for axis, a, b in zip(SCALING_AXES, mine, b0) if a != b)


def _distinct(records: List[Dict[str, Any]], target_ratio: float) -> List[Dict[str, Any]]:
    """One record per network, in the grid order of each network's first candidate. Its representative is the
    candidate whose formula ``(alpha * beta**2 * gamma**2)**phi`` is closest to ``target_ratio`` (ties: grid order):
    the triple whose family, once rounding matters less at larger phi, comes closest to the compute it aims at. This is
    a tie-break the data cannot make (the triples build one network here); the others' names (grid order) are listed
    under ``same_network`` and the report names them."""
    groups: Dict[Tuple, List[Dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(network_key(r['depth'], r['width'], r['px']), []).append(r)
    out = []
    for members in groups.values():
        best = min(members, key=lambda r: abs(r['nominal'] ** r['phi'] / target_ratio - 1))
        out.append(dict(best, same_network=[r['name'] for r in members if r is not best]))
    return out


def once_per_network(count: Callable[[float, float, int], float],
                     backbone: str = DEFAULT_BACKBONE) -> Callable[[float, float, int], float]:
    """``count``, called once per :func:`network_key` of ``backbone`` (depth 1.35 and 1.4 are one network of B0,
    counted once)."""
    seen: Dict[Tuple, float] = {}

    def counted(depth, width, px):
        key = network_key(depth, width, px, backbone)
        if key not in seen:
            seen[key] = float(count(depth, width, px))
        return seen[key]
    return counted


def _measure(alpha, beta, gamma, base, count, b0_macs, phi=1.0) -> Dict[str, Any]:
    """One candidate at ``phi``: depth alpha**phi, width beta**phi, resolution gamma**phi, its pixels, MACs, ratio to
    B0 and the axes its built network scales (:func:`scaled_axes`)."""
    depth, width, resolution = compound(phi, alpha, beta, gamma)
    px = round_resolution(resolution, base)
    macs = float(count(depth, width, px))
    axes = scaled_axes(depth, width, px, base)
    return dict(name=candidate_name(alpha, beta, gamma, phi=phi), alpha=alpha, beta=beta, gamma=gamma, phi=phi,
                depth=depth, width=width, resolution=resolution, px=px, macs=macs, ratio=macs / b0_macs,
                nominal=alpha * beta ** 2 * gamma ** 2, scaled_axes=list(axes), single_axis=len(axes) <= 1)


def _none_fits(candidates, closest, target_ratio, tolerance, base) -> str:
    """The error message when no candidate fits: the grid's extent and the closest candidate."""
    extent = ', '.join(f'{n} {min(c[i] for c in candidates):g}..{max(c[i] for c in candidates):g}'
                       for i, n in enumerate(('alpha', 'beta', 'gamma')))
    return (f'no candidate of the grid ({len(candidates)} triples: {extent}) measures within ±{tolerance:.0%} of '
            f'{target_ratio:g}x B0\'s MACs at base {base} px and phi = {closest["phi"]:g}; the closest is '
            f'alpha={closest["alpha"]:g}, beta={closest["beta"]:g}, gamma={closest["gamma"]:g} ({closest["px"]} px) '
            f'at ratio {closest["ratio"]:.3f} ({closest["rel_error"]:+.1%}); widen the grid or the tolerance')


def filter_by_measured_macs(
        candidates: Iterable[Tuple[float, float, float]],
        base_resolution: int,
        num_classes: int,
        in_chans: int,
        target_ratio: Optional[float] = None,
        tolerance: float = FLOP_TOLERANCE,
        count: Optional[Callable[[float, float, int], float]] = None,
        phi: float = 1.0,
) -> Dict[str, Any]:
    """The candidates whose measured MACs at ``phi`` are within ``tolerance`` of ``target_ratio`` (default
    ``2**phi``) x B0's.

    Each candidate is built at depth alpha**phi, width beta**phi and ``round_resolution(gamma**phi, base_resolution)``
    pixels (at phi = 2 rounding separates triples that build one network at phi = 1) and
    counted (fvcore conv + linear multiply-adds, the paper's FLOPS, cached per network by
    :func:`effscale_timm.flops.count_scaled_macs`); B0 is counted at ``round_resolution(1, base_resolution)``.
    A candidate is kept when ``|ratio / target_ratio - 1| <= tolerance``, ratio = its MACs / B0's MACs.
    Candidates that build the same network (:func:`network_key`: repeats round up, channels to 8, pixels to 4, so
    e.g. every alpha in 1.05..1.25 gives the same blocks at phi = 1) cannot be told apart by training it: it is
    counted and kept once, represented by the triple whose (alpha * beta**2 * gamma**2)**phi is closest to
    target_ratio (:func:`_distinct`). A record says which axes its built network scales (``scaled_axes``) and
    whether that is one or none (``single_axis``: such a candidate is a single-axis network, never a compound one).

    Args:
        count: ``count(depth, width, pixels) -> MACs``, for tests; defaults to fvcore at ``num_classes``/``in_chans``.

    Returns:
        ``{'kept': [record, ...] (one per network, grid order), 'closest_rejected': record or None, 'b0_macs',
        'target_ratio', 'tolerance', 'base_resolution', 'num_classes', 'in_chans', 'n_candidates',
        'n_within_tolerance' (duplicates included)}``; a record has name, alpha, beta, gamma, depth, width,
        phi, resolution, px, macs, ratio, rel_error (ratio / target_ratio - 1), nominal (alpha * beta^2 *
        gamma^2), scaled_axes, single_axis and, when kept, same_network.

    Raises:
        ValueError: no candidates, or none within the tolerance (the message names the grid's extent and the
            closest candidate with its measured ratio).
    """
    candidates = [tuple(float(v) for v in c) for c in candidates]
    target_ratio = 2.0 ** float(phi) if target_ratio is None else float(target_ratio)
    if not candidates:
        raise ValueError('filter_by_measured_macs: no candidates (an empty grid)')
    if count is None:
        def count(d, w, px):
            return macs_of(d, w, px, num_classes, in_chans)
    count = once_per_network(count)
    b0_macs = float(count(1.0, 1.0, round_resolution(1.0, base_resolution)))
    records = [_measure(a, b, g, base_resolution, count, b0_macs, float(phi)) for a, b, g in candidates]
    for r in records:
        r['rel_error'] = r['ratio'] / target_ratio - 1.0
    kept = [r for r in records if abs(r['rel_error']) <= tolerance]
    rejected = [r for r in records if abs(r['rel_error']) > tolerance]
    closest = min(rejected, key=lambda r: abs(r['rel_error'])) if rejected else None
    if not kept:
        raise ValueError(_none_fits(candidates, closest, target_ratio, tolerance, base_resolution))
    return dict(kept=_distinct(kept, target_ratio), closest_rejected=closest, b0_macs=b0_macs,
                target_ratio=target_ratio, tolerance=tolerance, base_resolution=base_resolution,
                num_classes=num_classes, in_chans=in_chans, n_candidates=len(candidates),
                n_within_tolerance=len(kept), phi=float(phi))
