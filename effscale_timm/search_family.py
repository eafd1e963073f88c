"""The search's family: the names of the variants the search trains and their multipliers.

Candidates (:func:`effscale_timm.search.candidate_name`) and the paper's family are arithmetic; the found family
reads its coefficients from the ``choose`` output and the FLOP-matched single-axis variants read their solved
multipliers from the ``match`` outputs, so that the workflow and a user by hand agree on every network.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from .atomic import read_json
from .flops import count_scaled_macs
from .models import VARIANTS
from .scaling import compound, round_resolution
from .search import family, family_dropout, parse_candidate_name

PAPER = (1.2, 1.1, 1.15)  # the paper's alpha, beta, gamma (ImageNet)
B0 = 'effscale_b0'
FOUND_PREFIX, PAPER_PREFIX = 'effscale_search', 'effscale_paper'
MAX_MATCH_MULTIPLIER = 32.0  # one axis alone may need far more than 8x to reach phi = 4's compute
_MEMBER = re.compile(r'^effscale_(search|paper|depth_matched|width_matched|resolution_matched)_phi(\d+)$')
STRATEGIES = ('compound_found', 'compound_paper', 'depth', 'width', 'resolution')


def strategy_member(strategy: str, phi: int) -> str:
    """The variant trained for ``strategy`` at ``phi`` (phi = 0 is B0 for every strategy)."""
    if phi == 0:
        return B0
    if strategy == 'compound_found':
        return f'{FOUND_PREFIX}_phi{phi}'
    if strategy == 'compound_paper':
        return f'{PAPER_PREFIX}_phi{phi}'
    return f'effscale_{strategy}_matched_phi{phi}'


def member_names(phis: Sequence[int], retrain_phi1: bool = False) -> List[str]:
    """Every family variant the workflow trains at these phis, B0 first. The found family's phi = 1 member is the
    chosen candidate itself, trained again only when the candidates had other epochs (``retrain_phi1``)."""
    names = [B0]
    for phi in phis:
        names += [strategy_member(s, phi) for s in STRATEGIES
                  if not (s == 'compound_found' and phi == 1 and not retrain_phi1)]
    return names


def member_spec(name: str, chosen: Optional[os.PathLike] = None,
                match_dir: Optional[os.PathLike] = None) -> Optional[Dict[str, Any]]:
    """``{depth, width, resolution, dropout, note}`` of a search candidate, family member or B0; None otherwise.

    Candidates and the paper's family are arithmetic; the found family reads the coefficients from ``chosen``
    (the ``choose`` output) and the FLOP-matched variants their solved multipliers from ``match_dir/phi{k}.json``.
    """
    coefficients = parse_candidate_name(name)
    if coefficients:
        depth, width, resolution = compound(1.0, *coefficients)
        return dict(depth=depth, width=width, resolution=resolution, dropout=family_dropout(1),
                    note=f'search candidate alpha={coefficients[0]:g}, beta={coefficients[1]:g}, '
                         f'gamma={coefficients[2]:g} at phi=1')
    m = _MEMBER.match(name)
    if m is None:
        return dict(depth=1.0, width=1.0, resolution=1.0, dropout=VARIANTS[B0].dropout, note='B0') \
            if name == B0 else None
    kind, phi = m.group(1), int(m.group(2))
    if kind == 'paper':
        return family(*PAPER, [phi], prefix=PAPER_PREFIX)[name]
    if kind == 'search':
        c = read_json(chosen)
        return family(c['alpha'], c['beta'], c['gamma'], [phi], prefix=FOUND_PREFIX)[name]
    spec = read_json(Path(match_dir) / f'phi{phi}.json')['members'][name]
    return {k: spec[k] for k in ('depth', 'width', 'resolution', 'dropout', 'note')}


def macs_of(spec: Dict[str, Any], base: int, num_classes: int, in_chans: int) -> float:
    """Measured multiply-adds (fvcore conv + linear) of a spec at the base resolution."""
    px = round_resolution(spec['resolution'], base)
    return float(count_scaled_macs(spec['depth'], spec['width'], px, num_classes, in_chans)['conv_linear'])
