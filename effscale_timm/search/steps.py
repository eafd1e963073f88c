"""The search's pipeline steps, as functions with typed arguments (config ``search:``; the command line is
:mod:`effscale_timm.search.cli`):

- :func:`measure_grid`: the (alpha, beta, gamma) grid measured at the search's phi, kept within ±tolerance of
  2**phi x B0's MACs, one candidate per network, single-axis networks labelled;
- :func:`halve`: successive halving's first round (config ``search.halving``): the compound candidates that go on;
- :func:`match_phi`: one phi: the found and the paper's compound members, and the depth-, width- and resolution-only
  variants FLOP-matched to the found one (measured MACs);
- :func:`choose_candidate`: the compound candidate with the best mean validation top-1, its P(best) and whether the
  data decide (single-axis candidates are references, never chosen).

The reports are :func:`effscale_timm.search.report.build_search_report` and
:func:`effscale_timm.search.design_report.build_design_report`; the design-space steps are in
:mod:`effscale_timm.search.design_space`.
"""
from __future__ import annotations

import logging
import os
import statistics
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence, Tuple

from ..atomic import write_json
from ..backbones import DEFAULT_BACKBONE
from ..files.search_files import read_search_file
from ..files.run_record import RunRecord, read_run
from ..flops import match_flops
from ..scaling import FLOP_TOLERANCE, PAPER_COEFFICIENTS, SCALING_AXES
from .choice import choose, successive_halving
from .family import MAX_MATCH_MULTIPLIER, family_dropout, member_spec, spec_macs, strategy_member
from .grid import Range, candidate_name, filter_by_measured_macs, grid

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StudyShape:
    """What every network of a search is measured at: the study's base resolution, classes and channels."""
    base_resolution: int
    num_classes: int
    in_chans: int
    backbone: str = DEFAULT_BACKBONE  # the design-space study's; the coefficient search runs on B0 only


def measure_grid(alpha: Range, beta: Range, gamma: Range, shape: StudyShape, out: os.PathLike, phi: float = 1.0,
                 tolerance: float = FLOP_TOLERANCE) -> Dict[str, Any]:
    """The grid measured at ``phi`` (target 2**phi x B0's MACs), written to ``out``; raises ValueError naming the grid
    and the closest candidate if none fits, or when every candidate kept is a single-axis network."""
    triples = grid(tuple(alpha), tuple(beta), tuple(gamma))
    where = f'search.grid (alpha {list(alpha)}, beta {list(beta)}, gamma {list(gamma)})'
    try:
        result = filter_by_measured_macs(triples, shape.base_resolution, shape.num_classes, shape.in_chans,
                                         tolerance=tolerance, phi=phi)
    except ValueError as e:
        raise ValueError(f'{where}: {e}') from None
    compound = [r['name'] for r in result['kept'] if not r['single_axis']]
    if not compound:
        raise ValueError(f'{where}: every network kept at phi = {phi:g} scales one axis only '
                         f'({", ".join(r["name"] for r in result["kept"])}): no compound candidate to choose; widen '
                         f'the grid')
    result['grid'] = {'alpha': list(alpha), 'beta': list(beta), 'gamma': list(gamma)}
    result['candidates'] = [r['name'] for r in result['kept']]
    result['compound_candidates'] = compound
    write_json(out, result)
    _logger.info('%d of %d grid triples within ±%.0f%% of %gx B0 at phi = %g (%d distinct networks, %d compound): %s',
                 result['n_within_tolerance'], result['n_candidates'], 100 * tolerance, result['target_ratio'], phi,
                 len(result['candidates']), len(compound), ', '.join(result['candidates']))
    return result


def halve(grid_file: os.PathLike, runs: Sequence[os.PathLike], keep_fraction: float,
          out: os.PathLike) -> Dict[str, Any]:
    """Successive halving's first round: the compound candidates' short runs ranked by mean validation top-1
    (:func:`effscale_timm.search.choice.successive_halving`); the best ``keep_fraction`` go on to the search's
    epochs, with the single-axis references. Written to ``out``."""
    grid_data = read_search_file(grid_file, 'grid')
    compound = grid_data['compound_candidates']
    by_name = runs_by_variant(runs)
    scores = {n: statistics.fmean(v) if (v := _values(by_name.get(n, []), 'final_val_top1')) else None
              for n in compound}
    going_on = successive_halving(scores, keep_fraction)
    references = [n for n in grid_data['candidates'] if n not in compound]
    result = dict(keep_fraction=keep_fraction, scores=scores, going_on=going_on, references=references,
                  candidates=going_on + references, epochs=next((r.epochs for rs in by_name.values() for r in rs),
                                                                None))
    write_json(out, result)
    _logger.info('successive halving: %d of %d compound candidates go on: %s', len(going_on), len(compound),
                 ', '.join(going_on))
    return result


def _match(axis: str, target: float, phi: float, shape: StudyShape, tolerance: float):
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
    raise ValueError(f'search: phi={phi:g}: {error}') from None


def match_phi(phi: float, chosen: os.PathLike, shape: StudyShape, out: os.PathLike,
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


def choose_candidate(grid_file: os.PathLike, runs: Sequence[os.PathLike], out: os.PathLike) -> Dict[str, Any]:
    """The compound candidate chosen on validation (:func:`effscale_timm.search.choice.choose`: P(best), clear or a
    tie); the single-axis candidates' summaries beside it as references, never chosen; written to ``out``."""
    grid_data = read_search_file(grid_file, 'grid')
    candidates, compound = set(grid_data['candidates']), grid_data['compound_candidates']
    by_name = runs_by_variant(runs)
    unknown = sorted(set(by_name) - candidates)
    if unknown:
        raise ValueError(f'search choose: runs of {unknown} are not candidates of {grid_file}')
    chosen = choose({n: by_name[n] for n in compound if n in by_name})
    references = {n: rs for n, rs in by_name.items() if n not in compound}
    chosen['references'] = choose(references)['candidates'] if references else []
    paper: Tuple[float, float, float] = tuple(PAPER_COEFFICIENTS)
    chosen['paper'] = dict(zip(('alpha', 'beta', 'gamma'), paper), name=candidate_name(*paper, phi=grid_data['phi']),
                           member=strategy_member('compound_paper', grid_data['phi']))
    chosen['paper_is_chosen'] = tuple(chosen[k] for k in ('alpha', 'beta', 'gamma')) == paper
    chosen['phi'] = grid_data['phi']
    write_json(out, chosen)
    _logger.info('chosen on validation: %s (alpha=%g, beta=%g, gamma=%g), mean val top-1 %.2f over %d seeds, '
                 'P(best) %.2f%s', chosen['name'], chosen['alpha'], chosen['beta'], chosen['gamma'], chosen['mean'],
                 chosen['n'], chosen['p_best'], f'; a tie: {chosen["tie"]}' if chosen['tie'] else '')
    return chosen
