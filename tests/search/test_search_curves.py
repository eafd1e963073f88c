"""effscale_timm.search.curves: the one curve-level test per compound strategy (through effscale_timm.decision), the
laws per strategy and the compute to reach a target, on fixed curves."""
import numpy as np
import pytest

from effscale_timm.search import curves as cv
from effscale_timm.search.family import STRATEGIES

DATA = {'grid': {'tolerance': 0.05}}


def _curve_map(advantage, rng, seeds=3, phis=(1, 2, 3)):
    """Every strategy at B0 and phis, 2^phi x 1e8 MACs; compound_found ``advantage`` points above the axes."""
    out = {}
    for s in STRATEGIES:
        points = []
        for phi in (0, *phis):
            mean = 80 + 3 * phi + (advantage if s == 'compound_found' and phi else 0)
            test = list(mean + 0.3 * rng.standard_normal(seeds))
            points.append(dict(phi=phi, name=f'{s}_{phi}', macs=1e8 * 2 ** phi, test=test, val=test,
                               loss=[2.0 - 0.1 * phi] * seeds, selected=False))
        out[s] = points
    return out


def test_a_clear_advantage_over_the_curve_is_better_and_none_is_not():
    rows = cv.curve_decisions(DATA, _curve_map(2.0, np.random.default_rng(0)), [1, 2, 3], margin=0.5)
    found = rows[0]
    assert found['compound'] == 'compound_found' and found['decision'].word == 'better'
    depth = found['contrasts'][0]
    assert depth.comparator == 'depth' and depth.var_factor == pytest.approx(3 * (1 / 3 + 1 / 3) / 9)
    assert depth.shared_factor == pytest.approx(3 * (1 / 3) / 9)
    assert rows[1]['decision'].word != 'better'  # the paper's row is the axes' own curve here
    assert found['decision'].alpha_side == pytest.approx(0.05 / 2 / 2)  # two compound rows split the level
    none = cv.curve_decisions(DATA, _curve_map(0.0, np.random.default_rng(1)), [1, 2, 3], margin=0.5)
    assert none[0]['decision'].word in ('inconclusive', 'equivalent')


def test_unmatched_and_selected_budgets_are_left_out_and_one_seed_is_no_test():
    curve_map = _curve_map(2.0, np.random.default_rng(2))
    curve_map['width'][3]['macs'] *= 1.2  # phi = 3: width not within 5% of the compound member
    curve_map['compound_found'][1]['selected'] = True  # phi = 1: the chosen candidate's own runs
    rows = cv.curve_decisions(DATA, curve_map, [1, 2, 3], margin=0.5)
    width = next(c for c in rows[0]['contrasts'] if c.comparator == 'width')
    assert width.var_factor == pytest.approx(1 * (2 / 3) / 1)  # only phi = 2 is left for width
    one = cv.curve_decisions(DATA, _curve_map(2.0, np.random.default_rng(3), seeds=1), [1, 2, 3], margin=0.5)
    assert one[0]['decision'] is None and 'fewer than 2 seeds' in one[0]['reason']


def test_laws_per_strategy_and_the_compute_to_reach_a_target():
    curve_map = _curve_map(2.0, np.random.default_rng(4), phis=(0.5, 1, 1.5, 2, 3))
    laws = cv.strategy_laws(curve_map, [0.5, 1, 1.5, 2], hold_out_phi=3)
    law = laws['depth']['error']
    assert law['fit'] is not None and law['baseline'].kind == 'log_linear'
    assert law['held_out']['phi'] == 3 and law['baseline_held_out']['phi'] == 3
    target = cv.compute_to_target(curve_map, laws, [0.5, 1, 1.5, 2])
    assert target['top_phi'] == 2.0 and set(target['rows']) == set(STRATEGIES)
    found = target['rows']['compound_found']
    assert found['vs_found'] is None and target['rows']['depth']['vs_found']['ratio'] > 1  # found needs less
