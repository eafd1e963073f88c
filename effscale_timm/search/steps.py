"""The search's pipeline steps, as functions with typed arguments (config ``search:``; the command line is
:mod:`effscale_timm.search.cli`):

- :func:`measure_grid`: the (alpha, beta, gamma) grid measured at phi = 1, kept within ±tolerance of 2x B0's MACs;
- :func:`match_phi`: one phi: the found and the paper's compound members, and the depth-, width- and resolution-only
  variants FLOP-matched to the found one (measured MACs);
- :func:`choose_candidate`: the candidate with the best mean validation top-1, and its interval against the paper's
  coefficients (the paper's phi = 1 member, trained with the same seeds).

The report is :func:`effscale_timm.search.report.build_search_report`.
"""
from __future__ import annotations

import logging
import os
import statistics
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence, Tuple

from ..atomic import read_json, write_json
from ..files.run_record import RunRecord, read_run
from ..flops import match_flops
from ..scaling import FLOP_TOLERANCE, PAPER_COEFFICIENTS, SCALING_AXES
from ..stats import welch_interval
from .choice import choose
from .family import MAX_MATCH_MULTIPLIER, family_dropout, member_spec, spec_macs, strategy_member
from .grid import Range, candidate_name, filter_by_measured_macs, grid

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StudyShape:
    """What every network of a search is measured at: the study's base resolution, classes and channels."""
    base_resolution: int
    num_classes: int
    in_chans: int


def measure_grid(alpha: Range, beta: Range, gamma: Range, shape: StudyShape, out: os.PathLike,
                 target_ratio: float = 2.0, tolerance: float = FLOP_TOLERANCE) -> Dict[str, Any]:
    """The grid measured at phi = 1, written to ``out``; raises ValueError naming the grid and the closest
    candidate if none fits."""
    triples = grid(tuple(alpha), tuple(beta), tuple(gamma))
    try:
        result = filter_by_measured_macs(triples, shape.base_resolution, shape.num_classes, shape.in_chans,
                                         target_ratio=target_ratio, tolerance=tolerance)
    except ValueError as e:
        raise ValueError(f'search.grid (alpha {list(alpha)}, beta {list(beta)}, gamma {list(gamma)}): {e}') from None
    result['grid'] = {'alpha': list(alpha), 'beta': list(beta), 'gamma': list(gamma)}
    result['candidates'] = [r['name'] for r in result['kept']]
    write_json(out, result)
    _logger.info('%d of %d grid triples within ±%.0f%% of %gx B0 (%d distinct networks): %s',
                 result['n_within_tolerance'], result['n_candidates'], 100 * tolerance, target_ratio,
                 len(result['candidates']), ', '.join(result['candidates']))
    return result


def _match(axis: str, target: float, phi: int, shape: StudyShape, tolerance: float):
    """match_flops within the tolerance. One axis alone is coarse at small bases (depth adds whole blocks, pixels
    move in steps of 4 and feature maps jump at multiples of 32), so when no network lands within it, the closest
    within 2x, 3x, then 5x the tolerance is taken and says so (the fits use the measured MACs); beyond, an error."""
    kwargs = dict(input_size=shape.base_resolution, num_classes=shape.num_classes, in_chans=shape.in_chans,
                  max_multiplier=MAX_MATCH_MULTIPLIER)
    for factor in (1, 2, 3, 5):
        try:
            m = match_flops(axis, target, tolerance=factor * tolerance, **kwargs)
        except ValueError as e:
            error = e
            continue
        return m, ('' if factor == 1 else f'; no {axis} within ±{tolerance:.0%} at this base, the closest taken')
    raise ValueError(f'search: phi={phi}: {error}') from None


def match_phi(phi: int, chosen: os.PathLike, shape: StudyShape, out: os.PathLike,
              tolerance: float = FLOP_TOLERANCE) -> Dict[str, Any]:
    """One phi: the found member (the target), the paper's member, and one variant per axis whose measured MACs
    match the found member's (±tolerance, :func:`_match`); written to ``out``."""
    dims = (shape.base_resolution, shape.num_classes, shape.in_chans)
    members = {}
    for strategy in ('compound_found', 'compound_paper'):
        name = strategy_member(strategy, phi)
        spec = member_spec(name, chosen=chosen)
        members[name] = dict(spec, macs=spec_macs(spec, *dims), strategy=strategy, phi=phi)
    found = strategy_member('compound_found', phi)
    target = members[found]['macs']
    for axis in SCALING_AXES:
        m, note = _match(axis, target, phi, shape, tolerance)
        members[strategy_member(axis, phi)] = dict(
            depth=m.depth, width=m.width, resolution=m.resolution, dropout=family_dropout(phi), macs=m.macs,
            strategy=axis, phi=phi, note=f'{axis} only, FLOP-matched to {found} ({m.rel_error:+.1%}{note})')
    result = dict(phi=phi, base_resolution=shape.base_resolution, target=found, target_macs=target, members=members)
    write_json(out, result)
    return result


def runs_by_variant(paths: Sequence[os.PathLike]) -> Dict[str, List[RunRecord]]:
    """The run records of ``paths``, grouped by variant (in the order given)."""
    by_name: Dict[str, List[RunRecord]] = {}
    for p in paths:
        record = read_run(p)
        by_name.setdefault(record.variant, []).append(record)
    return by_name


def _values(runs: Sequence[RunRecord], key: str) -> List[float]:
    return [getattr(r, key) for r in runs if r.usable]


def _vs_paper(chosen_runs: Sequence[RunRecord], paper_runs: Sequence[RunRecord]) -> Dict[str, Any]:
    """Chosen minus the paper's phi = 1 member: Welch intervals over seeds on validation and on test top-1."""
    out = {}
    for key in ('final_val_top1', 'test_top1'):
        a, b = _values(chosen_runs, key), _values(paper_runs, key)
        d = welch_interval(a, b)
        out[key] = dict(chosen_mean=statistics.fmean(a) if a else None, paper_mean=statistics.fmean(b) if b else None,
                        n_chosen=len(a), n_paper=len(b), delta=None if d is None else d.delta,
                        low=None if d is None else d.low, high=None if d is None else d.high,
                        why_none=None if d is not None else 'fewer than 2 seeds on a side, or no spread')
    return out


def choose_candidate(grid_file: os.PathLike, runs: Sequence[os.PathLike], paper_runs: Sequence[os.PathLike],
                     out: os.PathLike) -> Dict[str, Any]:
    """The candidate chosen on validation (:func:`effscale_timm.search.choice.choose`), compared with the paper's
    phi = 1 member; written to ``out``."""
    candidates = set(read_json(grid_file)['candidates'])
    by_name = runs_by_variant(runs)
    unknown = sorted(set(by_name) - candidates)
    if unknown:
        raise ValueError(f'search choose: runs of {unknown} are not candidates of {grid_file}')
    chosen = choose(by_name)
    paper: Tuple[float, float, float] = tuple(PAPER_COEFFICIENTS)
    chosen['paper'] = dict(zip(('alpha', 'beta', 'gamma'), paper), name=candidate_name(*paper),
                           member=strategy_member('compound_paper', 1))
    chosen['vs_paper'] = _vs_paper(by_name[chosen['name']], [read_run(p) for p in paper_runs])
    chosen['paper_is_chosen'] = tuple(chosen[k] for k in ('alpha', 'beta', 'gamma')) == paper
    write_json(out, chosen)
    _logger.info('chosen on validation: %s (alpha=%g, beta=%g, gamma=%g), mean val top-1 %.2f over %d seeds',
                 chosen['name'], chosen['alpha'], chosen['beta'], chosen['gamma'], chosen['mean'], chosen['n'])
    return chosen
