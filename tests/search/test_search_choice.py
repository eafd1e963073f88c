"""effscale_timm.search.choice: successive halving and the choice on validation, on fixed numbers."""
import math

import pytest

from effscale_timm.files.run_record import RunRecord
from effscale_timm.search.choice import CHOICE_RULE, CLEAR_CHOICE, choose, p_best, successive_halving


def test_successive_halving_keeps_the_best_half_by_validation():
    scores = {'a': 70.0, 'b': 72.5, 'c': 71.0, 'd': 72.5, 'e': float('nan')}
    assert successive_halving(scores) == ['b', 'd', 'c']  # ceil(5 / 2) = 3; tie 72.5 by name; nan never goes on
    assert successive_halving(scores, keep_fraction=0.2) == ['b']
    assert successive_halving({'x': 1.0, 'y': None}, keep_fraction=1.0) == ['x']
    with pytest.raises(ValueError, match='keep_fraction'):
        successive_halving(scores, keep_fraction=0)
    with pytest.raises(ValueError, match='finite'):
        successive_halving({'a': None})


def test_choose_takes_the_best_mean_validation_and_never_reads_test():
    def run(val, test=99.0, status='ok'):
        return RunRecord(variant='x', seed=0, final_val_top1=val, test_top1=test, status=status)
    results = {
        'effscale_a120_b110_g115': [run(80.0, test=50.0), run(82.0, test=50.0)],  # best on validation
        'effscale_a140_b100_g115': [run(81.0), run(80.0), run(95.0, status='failed')],  # failed run left out
        'other': [79.0, 79.5, 80.0],
        'never_ran': [run(None, status='failed')],
    }
    out = choose(results)
    assert out['name'] == 'effscale_a120_b110_g115' and (out['alpha'], out['beta'], out['gamma']) == (1.2, 1.1, 1.15)
    assert out['mean'] == 81.0 and out['n'] == 2 and out['std'] == pytest.approx(math.sqrt(2))
    assert out['runner_up']['name'] == 'effscale_a140_b100_g115' and out['runner_up']['mean'] == 80.5
    assert out['runner_up']['n'] == 2 and [c['name'] for c in out['candidates']][-1] == 'never_ran'
    assert out['rule'] == CHOICE_RULE and 'test' in CHOICE_RULE
    assert choose({'only': [70.0]})['runner_up'] is None and choose({'only': [70.0]})['std'] is None
    with pytest.raises(ValueError, match='no candidate'):
        choose({'never_ran': [run(None, status='failed')]})


def test_p_best_separates_a_clear_winner_from_a_tie():
    clear = choose({'a': [80.0, 80.5, 81.0], 'b': [70.0, 70.5, 71.0]})
    assert clear['name'] == 'a' and clear['p_best'] == 1.0 and clear['clear'] and clear['tie'] == ''
    tie = choose({'a': [80.0, 81.2, 79.0], 'b': [80.1, 79.4, 80.6]})
    assert tie['name'] == 'a' and not tie['clear'] and 0.3 < tie['p_best'] < CLEAR_CHOICE
    assert 'do not separate it from b' in tie['tie']
    assert sum(c['p_best'] for c in tie['candidates']) == pytest.approx(1.0)
    one_seed = choose({'a': [80.0], 'b': [70.0]})
    assert not one_seed['clear'] and 'fewer than 2 seeds' in one_seed['tie']
    assert p_best({'a': [1.0, 1.0], 'b': [1.0, 1.0]}) == {'a': 0.5, 'b': 0.5}  # exact ties split the credit
