"""The design-space study's samples (config ``design_space:``): many (depth, width, resolution) networks at one
compute regime, each to be trained once, so that "is a network that mixes the axes better than one that scales one
axis?" is answered by the error distributions of many cheap runs (Radosavovic et al. 2020, "Designing Network Design
Spaces", arXiv:2003.13678: a design space is compared by the empirical distribution of the errors of models sampled
from it at one compute regime, one short run each). The analysis is :mod:`effscale_timm.search.design_analysis`.

How a sample is drawn (:func:`draw_samples`):

- Its **shares of log-compute** ``(s_d, s_w, s_r)`` are drawn from Dirichlet(1, 1, 1), uniform on the simplex. With
  MACs ~ d * w**2 * r**2, ``d = T**s_d``, ``w = T**(s_w / 2)``, ``r = T**(s_r / 2)`` puts a share ``s`` of
  ``ln T`` on each axis.
- **The scale T is solved, not set to the regime R.** Built at T = R the networks measure 1.2-1.65 x R x B0's MACs at
  base 128 px (measured on 200 draws at R = 2: depth rounds every stage's repeats up, the head and depthwise layers
  do not grow as w**2), so none would be kept. For each draw, ``ln T`` is found by Newton steps on the measured
  ``ln(MACs / B0's)`` (slope 1 assumed, kept inside the bracket of values already measured; at most
  :data:`SCALE_STEPS` measurements, :func:`effscale_timm.flops.macs_of` at the base) until the MACs are within the
  tolerance of R x B0's. The shares, the direction in (ln d, 2 ln w, 2 ln r), stay those drawn.
- **Depth is snapped.** timm rounds every stage's repeats up, so any depth above 1 builds at least 23 of B0's 16
  blocks (x 1.44): a depth share of 0.05 would build the same network as one of 0.5. A nominal depth is replaced by 1
  when its built log-depth ``ln(blocks / 16)`` lies farther from ``ln d`` than 0 does, so that the width and resolution
  corners are reachable.
- **The shares analysed are the network's as built** (:func:`built_shares`): ``ln(blocks / 16)``,
  ``2 ln(w as built)`` (the geometric mean of the built channels over B0's) and ``2 ln(px / base px)``, over their
  sum. They differ from the drawn ones by the rounding of repeats, channels and pixels; both are recorded.
- A draw is **rejected** when no T lands within the tolerance (rounding jumps over it) and when it builds a network
  already drawn (:func:`effscale_timm.search.grid.network_key`); both are drawn again and counted.
- **Stratified by group, proportional allocation.** A sample is a near-single-axis *corner* when its largest built
  share is at least :data:`CORNER_SHARE`; under Dirichlet(1, 1, 1) a share exceeds 2/3 with probability (1/3)**2 and
  no two can, so :data:`CORNER_PROBABILITY` = 1/3. ``round(n / 3)`` samples are corners and the rest interior: a draw
  whose group is full is drawn again (counted). The allocation keeps rejections and rounding, which hit corners and
  interior unequally, from skewing the group sizes, and guarantees both groups 3 samples from n = 9 on.
"""
from __future__ import annotations

import logging
import math
import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..atomic import write_json
from ..backbones import DEFAULT_BACKBONE, get_backbone
from ..flops import macs_of
from ..scaling import FLOP_TOLERANCE, SCALING_AXES, round_resolution
from .family import design_member, family_dropout
from .grid import network_key, once_per_network

_logger = logging.getLogger(__name__)

CORNER_SHARE = 2 / 3  # largest share of log-compute at which a sample counts as a near-single-axis corner
CORNER_PROBABILITY = 3 * (1 - CORNER_SHARE) ** 2  # P(largest share >= 2/3) under Dirichlet(1, 1, 1): 1/3
SCALE_STEPS = 8  # measurements per draw before it is rejected: Newton steps land within ±5% in 2-4 when they can
DRAWS_PER_SAMPLE = 40  # draws allowed per sample kept before the sampler gives up (the message names the regime)
SAMPLING_RULE = ('shares of log-compute (s_d, s_w, s_r) drawn from Dirichlet(1, 1, 1); d = T^s_d (snapped to 1 '
                 'when B0\'s depth is nearer than the 23 blocks any depth above 1 builds), w = T^(s_w/2), '
                 'r = T^(s_r/2) '
                 'with T solved per draw so that the measured MACs are within the tolerance of the regime x B0\'s; '
                 'the shares analysed are those of the network as built; a draw whose scale cannot land within the '
                 'tolerance, whose network was already drawn, or whose group (corner: largest built share >= 2/3; '
                 'interior) is full is drawn again; a third of the samples are corners (their probability under '
                 'Dirichlet(1, 1, 1))')


def multipliers(shares: Sequence[float], log_scale: float,
                backbone: str = DEFAULT_BACKBONE) -> Tuple[float, float, float]:
    """(depth, width, resolution) that put ``shares`` of ``log_scale`` (= ln T) of log-compute on each axis, the
    depth snapped (:func:`snapped_depth`)."""
    s_d, s_w, s_r = (float(s) for s in shares)
    return (snapped_depth(math.exp(s_d * log_scale), backbone), math.exp(s_w * log_scale / 2),
            math.exp(s_r * log_scale / 2))


def snapped_depth(depth: float, backbone: str = DEFAULT_BACKBONE) -> float:
    """``depth``, or 1 when the base network's depth is nearer in log-depth to ``depth`` than the network ``depth``
    builds (timm rounds each stage's repeats up: for B0 any depth in (1, 1.25] builds 23 blocks, for ResNet-50 any
    depth above 1 builds at least 20 of its 16 blocks)."""
    blocks = sum(network_key(depth, 1.0, 32, backbone)[0])
    b0_blocks = sum(network_key(1.0, 1.0, 32, backbone)[0])
    return 1.0 if abs(math.log(blocks / b0_blocks) - math.log(depth)) > abs(math.log(depth)) else depth


def built_shares(depth: float, width: float, px: int, base_resolution: int,
                 backbone: str = DEFAULT_BACKBONE) -> List[float]:
    """The shares of log-compute of the network as built: ln(blocks / the base network's), 2 ln(the geometric mean
    of its channels over the base network's) and 2 ln(px / the base px), over their sum."""
    mine = network_key(depth, width, px, backbone)
    b0 = network_key(1.0, 1.0, round_resolution(1.0, base_resolution), backbone)
    logs = [math.log(sum(mine[0]) / sum(b0[0])),
            2 * float(np.mean(np.log(np.asarray(mine[1]) / np.asarray(b0[1])))),
            2 * math.log(mine[2] / b0[2])]
    total = sum(logs)
    return [max(v, 0.0) / total for v in logs] if total > 0 else [1 / 3] * 3


def is_corner(shares: Sequence[float]) -> bool:
    """Whether a sample is a near-single-axis corner: its largest share at least :data:`CORNER_SHARE`."""
    return max(shares) >= CORNER_SHARE - 1e-12


def _solve_scale(regime: float, ratio_at: Callable[[float], float], tolerance: float,
                 start: float) -> Optional[Tuple[float, float]]:
    """(ln T, measured ratio) with the ratio within ``tolerance`` of ``regime``, starting at ln T = ``start``; None
    after SCALE_STEPS measurements or when the bracket closes (rounding jumps over the tolerance)."""
    target = math.log(regime)
    low, high, x = 0.0, None, start
    for _ in range(SCALE_STEPS):
        ratio = ratio_at(x)
        if abs(ratio / regime - 1) <= tolerance:
            return x, ratio
        if ratio < regime:
            low = x
        else:
            high = x
        step = x + target - math.log(ratio)
        x = step if (high is None and step > low) or (high is not None and low < step < high) else (
            (low + high) / 2 if high is not None else 2 * x)
        if high is not None and high - low < 1e-4:
            return None
    return None


def draw_samples(regime: float, n: int, base_resolution: int, count: Callable[[float, float, int], float],
                 tolerance: float = FLOP_TOLERANCE, seed: int = 0, backbone: str = DEFAULT_BACKBONE) -> Dict[str, Any]:
    """``n`` distinct networks of ``backbone`` at ``regime`` x its base network's measured MACs (B0's by default; the
    module docstring), ``count(depth, width, px)`` measuring MACs. Each draw's Newton steps start at ln R plus the
    mean offset of the scales solved so far (rounding inflates MACs about alike for every draw), which saves
    measurements. Returns the samples file's contents
    (:func:`sample_design_space`).

    Raises:
        ValueError: regime <= 1, n < 1, or more than DRAWS_PER_SAMPLE x n draws needed (the message says how many
            were rejected and why).
    """
    if not regime > 1:
        raise ValueError(f'design_space.regime must be above 1 (B0 is 1), got {regime!r}')
    if n < 1:
        raise ValueError(f'design_space.samples must be at least 1, got {n!r}')
    b0 = float(count(1.0, 1.0, round_resolution(1.0, base_resolution)))
    rng = np.random.default_rng(seed)
    quota = {True: round(n * CORNER_PROBABILITY), False: n - round(n * CORNER_PROBABILITY)}
    members, seen, offsets, draws = {}, set(), [], 0
    rejected = {'no_scale_within_tolerance': 0, 'same_network': 0, 'group_full': 0}
    while len(members) < n:
        if draws >= DRAWS_PER_SAMPLE * n:
            raise ValueError(f'design_space: {draws} draws kept {len(members)} of {n} samples at regime {regime:g} '
                             f'(rejected: {rejected}); lower the regime\'s demands or raise the tolerance')
        draws += 1
        shares = rng.dirichlet([1.0, 1.0, 1.0])

        def ratio_at(log_scale):
            d, w, r = multipliers(shares, log_scale, backbone)
            return float(count(d, w, round_resolution(r, base_resolution))) / b0
        start = math.log(regime) + (float(np.mean(offsets)) if offsets else 0.0)
        solved = _solve_scale(regime, ratio_at, tolerance, start)
        if solved is None:
            rejected['no_scale_within_tolerance'] += 1
            continue
        offsets.append(solved[0] - math.log(regime))
        record = _record(len(members), shares, *solved, base_resolution, b0, regime, backbone)
        key = network_key(record['depth'], record['width'], record['px'], backbone)
        if key in seen:
            rejected['same_network'] += 1
            continue
        if quota[record['group'] == 'corner'] == 0:
            rejected['group_full'] += 1
            continue
        seen.add(key)
        quota[record['group'] == 'corner'] -= 1
        members[record['name']] = record
    return dict(regime=regime, samples=n, seed=seed, tolerance=tolerance, base_resolution=base_resolution,
                backbone=backbone, b0_macs=b0, draws=draws, rejected=rejected, rule=SAMPLING_RULE, members=members)


def _record(index, drawn, log_scale, ratio, base, b0, regime, backbone) -> Dict[str, Any]:
    """One sample: its multipliers, built shares and group; its dropout B0's family's at log2(regime) for
    EfficientNet-B0, else the backbone's own (timm's base model's)."""
    depth, width, resolution = multipliers(drawn, log_scale, backbone)
    px = round_resolution(resolution, base)
    shares = built_shares(depth, width, px, base, backbone)
    dropout = family_dropout(math.log2(regime)) if backbone == DEFAULT_BACKBONE \
        else get_backbone(backbone).default_dropout
    share_text = ', '.join(f'{a} {s:.2f}' for a, s in zip(SCALING_AXES, shares))
    return dict(name=design_member(index), index=index, shares=shares, drawn_shares=[float(s) for s in drawn],
                group='corner' if is_corner(shares) else 'interior', log_scale=log_scale, depth=depth, width=width,
                resolution=resolution, px=px, blocks=sum(network_key(depth, width, px, backbone)[0]),
                macs=ratio * b0, ratio=ratio, dropout=dropout, backbone=backbone,
                note=f'design-space sample {index} of {backbone} at {regime:g}x its base (built shares of '
                     f'log-compute: {share_text})')


def sample_design_space(regime: float, n: int, shape, out: os.PathLike, seed: int = 0,
                        tolerance: float = FLOP_TOLERANCE,
                        count: Optional[Callable[[float, float, int], float]] = None) -> Dict[str, Any]:
    """The design-space study's sampling step (``effscale search design-sample``): :func:`draw_samples` measured
    with :func:`effscale_timm.flops.macs_of` at the study's base, classes, channels and backbone (``shape``: a
    :class:`~effscale_timm.search.steps.StudyShape`), written to ``out``."""
    if count is None:
        def count(d, w, px):
            return macs_of(d, w, px, shape.num_classes, shape.in_chans, shape.backbone)
    result = draw_samples(regime, n, shape.base_resolution, once_per_network(count, shape.backbone), tolerance, seed,
                          shape.backbone)
    result.update(num_classes=shape.num_classes, in_chans=shape.in_chans)
    write_json(out, result)
    _logger.info('%d samples at %gx B0 from %d draws (rejected: %s)', n, regime, result['draws'], result['rejected'])
    return result
