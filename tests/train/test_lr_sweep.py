"""Choosing a learning rate per variant on validation (config `lr_sweep`), and reading the choice back."""
import json

import pytest

from effscale_timm.files.run_record import RunRecord
from effscale_timm.train.lr_sweep import choose_lr, read_lr


def _run(lr, val, status='ok', variant='effscale_b0'):
    return RunRecord(variant=variant, seed=0, lr=lr, final_val_top1=val, test_top1=None if val is None else 1.0,
                     status=status, epochs=2)


def test_the_best_validation_top1_wins_never_a_failed_run():
    chosen = choose_lr([_run(0.001, 80.0), _run(0.004, 85.5), _run(0.016, None, 'failed')])
    assert chosen['lr'] == 0.004 and [c['lr'] for c in chosen['candidates']] == [0.001, 0.004, 0.016]


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
    with pytest.raises(ValueError, match='not a chosen learning rate file'):
        read_lr(bad)
