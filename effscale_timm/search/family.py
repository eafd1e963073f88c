"""The search's family: compound scaling at phi = 1..K and at fractional phi (:func:`family`), the names of the
variants the search and the design-space study train, and their multipliers.

Candidates (:func:`effscale_timm.search.grid.candidate_name`) and the paper's family are arithmetic; the found family
reads its coefficients from the ``choose`` output, the FLOP-matched single-axis variants read their solved
multipliers from the ``match`` outputs and the design-space samples theirs from the ``design-sample`` output, so that
the workflow and a user by hand agree on every network. The workflow asks this module, never the names themselves,
which file a member's multipliers come from (:func:`spec_source`) and whose learning rate it trains with
(:func:`lr_variant`).
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

from ..files.search_files import read_member, read_search_file
from ..flops import macs_of
from ..models import NAME_PATTERN, VARIANTS
from ..scaling import PAPER_COEFFICIENTS, SCALING_AXES, SPEC_FIELDS, compound, round_resolution
from .grid import candidate_phi, parse_candidate_name

B0 = 'effscale_b0'
FOUND_PREFIX, PAPER_PREFIX, DESIGN_PREFIX = 'effscale_search', 'effscale_paper', 'effscale_design'
MAX_MATCH_MULTIPLIER = 32.0  # one axis alone may need far more than 8x to reach phi = 4's compute
_MEMBER = re.compile(r'^effscale_(search|paper|depth_matched|width_matched|resolution_matched)_phi(\d+(?:p\d+)?)$')
_DESIGN = re.compile(rf'^{DESIGN_PREFIX}_s\d+$')
STRATEGIES = ('compound_found', 'compound_paper') + SCALING_AXES


def family_dropout(phi: float) -> float:
    """Dropout before the classifier at compound coefficient phi: ``min(0.5, 0.2 + 0.05 * phi)``.

    A straight line through timm's B0-B7 dropout (0.2, 0.2, 0.3, 0.3, 0.4, 0.4, 0.5, 0.5) against each model's
    phi ~ log2(its FLOPs / B0's) (about 0, 0.9, 1.4, 2.2, 3.4, 4.7, 5.6, 6.6): the paper raises dropout linearly
    from 0.2 for B0 to 0.5 for B7.
    """
    return round(min(0.5, 0.2 + 0.05 * float(phi)), 4)


def phi_code(phi: float) -> str:
    """How a phi appears in names and paths: 2 -> '2', 1.5 -> '1p5'."""
    return f'{float(phi):g}'.replace('.', 'p')


def phi_from_code(code) -> float:
    """The phi of a :func:`phi_code` (or of a plain number): '1p5' -> 1.5."""
    try:
        return float(str(code).replace('p', '.'))
    except ValueError:
        raise ValueError(f'phi must be a number such as 2, 1.5 or 1p5, got {code!r}') from None


def design_member(index: int) -> str:
    """The name of the design-space study's sample ``index`` (0-based): ``effscale_design_s007``."""
    return f'{DESIGN_PREFIX}_s{int(index):03d}'


def is_design_member(name: str) -> bool:
    return bool(_DESIGN.match(name))


def family(alpha: float, beta: float, gamma: float, phis: Union[int, Iterable[float]],
           prefix: str = 'effscale_search', dropout: Optional[float] = None) -> Dict[str, Dict[str, Any]]:
    """The compound family: ``{f'{prefix}_phi{phi}': {depth, width, resolution, dropout, note}}``.

    Depth, width and resolution are ``compound(phi, alpha, beta, gamma)`` = (alpha**phi, beta**phi, gamma**phi),
    in the spec format of :func:`effscale_timm.config.resolve_variants`. ``phis`` is an int K (phi = 1..K) or the
    phis themselves (a fractional phi is named with ``p``: 1.5 -> ``phi1p5``). ``dropout`` None follows
    :func:`family_dropout`; a number is used for every member. Use prefix ``effscale_paper`` for the paper's
    (1.2, 1.1, 1.15).
    """
    if isinstance(phis, int) and not isinstance(phis, bool):
        phis = range(1, phis + 1)
    out: Dict[str, Dict[str, Any]] = {}
    for phi in phis:
        depth, width, resolution = compound(phi, alpha, beta, gamma)
        name = f'{prefix}_phi{phi_code(phi)}'
        if not re.match(NAME_PATTERN, name):
            raise ValueError(f'family member name {name!r} does not match {NAME_PATTERN}; use a lower-case prefix')
        out[name] = dict(depth=depth, width=width, resolution=resolution,
                         dropout=family_dropout(phi) if dropout is None else float(dropout),
                         note=f'compound phi={phi:g} (alpha={alpha:g}, beta={beta:g}, gamma={gamma:g})')
    if not out:
        raise ValueError(f'family: no phi given ({phis!r})')
    return out


def strategy_member(strategy: str, phi: float) -> str:
    """The variant trained for ``strategy`` at ``phi`` (phi = 0 is B0 for every strategy; 1.5 -> ``..._phi1p5``)."""
    if float(phi) == 0:
        return B0
    if strategy == 'compound_found':
        return f'{FOUND_PREFIX}_phi{phi_code(phi)}'
    if strategy == 'compound_paper':
        return f'{PAPER_PREFIX}_phi{phi_code(phi)}'
    return f'effscale_{strategy}_matched_phi{phi_code(phi)}'


def member_names(phis: Sequence[float], search_phi: float = 1.0, retrain: bool = False) -> List[str]:
    """Every family variant the workflow trains at these phis, B0 first. The found family's member at the search's
    phi is the chosen candidate itself, trained again only when the candidates had other epochs (``retrain``)."""
    names = [B0]
    for phi in phis:
        names += [strategy_member(s, phi) for s in STRATEGIES
                  if not (s == 'compound_found' and float(phi) == float(search_phi) and not retrain)]
    return names


def member_spec(name: str, chosen: Optional[os.PathLike] = None, match_dir: Optional[os.PathLike] = None,
                samples: Optional[os.PathLike] = None) -> Optional[Dict[str, Any]]:
    """``{depth, width, resolution, dropout, note}`` of a search candidate, family member, design-space sample or
    B0; None otherwise.

    Candidates (at the phi their name says) and the paper's family are arithmetic; the found family reads the
    coefficients from ``chosen`` (the ``choose`` output), the FLOP-matched variants their solved multipliers from
    ``match_dir/phi{code}.json`` and the design-space samples theirs from ``samples``.
    """
    coefficients = parse_candidate_name(name)
    if coefficients:
        phi = candidate_phi(name)
        depth, width, resolution = compound(phi, *coefficients)
        return dict(depth=depth, width=width, resolution=resolution, dropout=family_dropout(phi),
                    note=f'search candidate alpha={coefficients[0]:g}, beta={coefficients[1]:g}, '
                         f'gamma={coefficients[2]:g} at phi={phi:g}')
    if is_design_member(name):
        spec = read_member(samples, 'samples', name)
        return {k: spec[k] for k in SPEC_FIELDS + ('note', 'backbone') if k in spec}
    m = _MEMBER.match(name)
    if m is None:
        return dict(depth=1.0, width=1.0, resolution=1.0, dropout=VARIANTS[B0].dropout, note='B0') \
            if name == B0 else None
    kind, phi = m.group(1), phi_from_code(m.group(2))
    if kind == 'paper':
        return family(*PAPER_COEFFICIENTS, [phi], prefix=PAPER_PREFIX)[name]
    if kind == 'search':
        c = read_search_file(chosen, 'chosen')
        return family(c['alpha'], c['beta'], c['gamma'], [phi], prefix=FOUND_PREFIX)[name]
    spec = read_member(Path(match_dir) / f'phi{m.group(2)}.json', 'match', name)
    return {k: spec[k] for k in SPEC_FIELDS + ('note',)}


def spec_macs(spec: Dict[str, Any], base: int, num_classes: int, in_chans: int) -> float:
    """Measured multiply-adds (:func:`effscale_timm.flops.macs_of`) of a spec at the base resolution."""
    return macs_of(spec['depth'], spec['width'], round_resolution(spec['resolution'], base), num_classes, in_chans)


def spec_source(name: str, chosen: os.PathLike, match_dir: os.PathLike,
                samples: Optional[os.PathLike] = None) -> Optional[Path]:
    """The file a member's multipliers are read from: ``chosen`` for the found family, the match file of its phi for
    a FLOP-matched variant, ``samples`` for a design-space sample, None for every other name (arithmetic, or not a
    search member)."""
    if is_design_member(name):
        return Path(samples)
    m = _MEMBER.match(name)
    if m is None or m.group(1) == 'paper':
        return None
    return Path(chosen) if m.group(1) == 'search' else Path(match_dir) / f'phi{m.group(2)}.json'


def _strategy_of(kind: str) -> str:
    """The strategy a member name's kind stands for ('search' -> compound_found, 'width_matched' -> width)."""
    return {'search': 'compound_found', 'paper': 'compound_paper'}.get(kind, kind.replace('_matched', ''))


def lr_variant(name: str, search_phi: float = 1.0) -> Optional[str]:
    """Whose chosen learning rate a run of ``name`` trains with when the config sweeps rates (``lr_sweep``): its own
    for B0, the family members at whole phi and any configured variant (as Table 1's runs); a fractional-phi member
    the rate of its strategy's member at the nearest whole phi below half-way (0.5 -> B0, 1.5 -> 1: its one seed would
    not pay for a sweep of its own); a search candidate the rate of the paper's member at the search's phi (a network
    of the same compute: one sweep instead of one per candidate); a design-space sample none (every sample trains with
    the one configured rate, as in pycls's design-space studies)."""
    if is_design_member(name):
        return None
    if parse_candidate_name(name):
        return strategy_member('compound_paper', search_phi)
    m = _MEMBER.match(name)
    if m and not phi_from_code(m.group(2)).is_integer():
        return strategy_member(_strategy_of(m.group(1)), math.ceil(phi_from_code(m.group(2)) - 0.5))
    return name
