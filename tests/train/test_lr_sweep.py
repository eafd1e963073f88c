"""Choosing a learning rate per variant on validation (config `lr_sweep`), and reading the choice back."""
import json

import pytest

from effscale_timm.files.run_record import RunRecord
from effscale_timm.train.lr_sweep import choose_lr, default_rates, read_lr


def _run(lr, val, status='ok', variant='effscale_b0', seed=0):
    return RunRecord(variant=variant, seed=seed, lr=lr, final_val_top1=val, test_top1=None if val is None else 1.0,
                     status=status, epochs=2)


def test_the_best_mean_over_seeds_wins_never_a_failed_run():
    runs = [_run(0.001, 80.0), _run(0.001, 81.0, seed=1), _run(0.004, 88.0), _run(0.004, 83.0, seed=1),
            _run(0.002, 84.0), _run(0.002, 84.5, seed=1), _run(0.016, None, 'failed'), _run(0.016, 99.0, seed=1)]
    chosen = choose_lr(runs)
    assert chosen['lr'] == 0.016 and chosen['rates'][-1]['n'] == 1 and chosen['rates'][-1]['failed_seeds'] == [0]
    runs[-1] = _run(0.016, None, 'failed', seed=1)
    chosen = choose_lr(runs)
    assert chosen['lr'] == 0.004  # mean 85.5 over 2 seeds beats 84.25, never the failed rate
    assert [(r['lr'], r['mean'], r['n']) for r in chosen['rates']] == [
        (0.001, 80.5, 2), (0.002, 84.25, 2), (0.004, 85.5, 2), (0.016, None, 0)]
    assert chosen['edge'] is None and chosen['seeds'] == [0, 1]


def test_a_choice_at_the_edge_of_the_grid_is_flagged():
    assert 'lowest rate' in choose_lr([_run(0.001, 90.0), _run(0.002, 80.0), _run(0.004, 70.0)])['edge']
    assert 'highest rate' in choose_lr([_run(0.001, 70.0), _run(0.002, 80.0), _run(0.004, 90.0)])['edge']


def test_the_default_grid_is_root_two_apart_around_the_recipes_rate():
    rates = default_rates('fast', 256)  # AdamW 4e-3 per 256
    assert rates == [0.002, 0.002828, 0.004, 0.005657, 0.008]
    assert all(b / a == pytest.approx(2 ** 0.5, rel=1e-3) for a, b in zip(rates, rates[1:]))


def test_a_tie_goes_to_the_smaller_rate():
    assert choose_lr([_run(0.004, 70.0), _run(0.001, 70.0)])['lr'] == 0.001


def test_refusals_name_the_problem():
    with pytest.raises(ValueError, match='every sweep run'):
        choose_lr([_run(0.1, None, 'failed'), _run(1.0, None, 'failed')])
    with pytest.raises(ValueError, match='several variants'):
        choose_lr([_run(0.1, 50.0), _run(0.2, 60.0, variant='effscale_b1')])
    with pytest.raises(ValueError, match='at least one'):
        choose_lr([])


def test_read_lr_round_trips_and_refuses_other_files(tmp_path):
    good = tmp_path / 'chosen.json'
    good.write_text(json.dumps(choose_lr([_run(0.002, 10.0), _run(0.003, 5.0)])))
    assert read_lr(good) == 0.002
    bad = tmp_path / 'bad.json'
    bad.write_text('{"rate": 1}')
    with pytest.raises(ValueError, match='not a learning-rate choice'):
        read_lr(bad)
