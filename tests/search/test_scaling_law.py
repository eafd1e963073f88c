"""effscale_timm.scaling_law on synthetic points from a known curve err = 2 C^-0.3 + 0.05, C in 1e6..1e9."""
import math

import numpy as np
import pytest

from effscale_timm.search.scaling_law import (FIT_RULE, bootstrap_fit, fit, fit_log_linear, fit_power_law,
                                       predict_held_out)

A, B, C = 2.0, 0.3, 0.05
MACS = np.logspace(6, 9, 7)


def true_err(macs):
    return A * np.asarray(macs, dtype=float) ** -B + C


def noisy_points(sd, seeds, rng_seed):
    """{C: per-seed errors}: the true curve plus normal noise of standard deviation ``sd`` per seed."""
    rng = np.random.default_rng(rng_seed)
    return {float(c): list(true_err(c) + sd * rng.standard_normal(seeds)) for c in MACS}


def test_power_law_recovers_the_known_exponent():
    rng = np.random.default_rng(0)
    err = true_err(MACS) * (1 + 0.001 * rng.standard_normal(MACS.size))  # 0.1% relative noise
    f = fit(MACS, err)
    assert f.kind == 'power_law' and '7 distinct C >= 4' in f.reason
    assert abs(f.params['b'] - B) < 0.05
    assert f.params['a'] == pytest.approx(A, rel=0.2) and f.params['c'] == pytest.approx(C, abs=0.002)
    assert f.c_ref == 1e6 and f.n_points == 7 and f.rmse < 1e-4
    assert f.predict(1e8) == pytest.approx(true_err(1e8), rel=1e-3)
    exact = fit_power_law(MACS, true_err(MACS))
    assert (exact.params['a'], exact.params['b'], exact.params['c']) == pytest.approx((A, B, C), rel=1e-4)


def test_power_law_keeps_its_bounds():
    f = fit_power_law(MACS, 0.3 - 0.01 * np.log10(MACS))  # a log-linear shape: c pressed against its bound
    assert f.params['a'] > 0 and f.params['b'] > 0 and 0 <= f.params['c'] < (0.3 - 0.09)
    with pytest.raises(ValueError, match='err > 0'):
        fit_power_law(MACS, np.linspace(0.1, -0.1, MACS.size))


def test_three_compute_values_fall_back_to_log_linear():
    macs = MACS[[0, 3, 6]]
    f = fit(macs, true_err(macs))
    assert f.kind == 'log_linear' and '3 distinct C < 4' in f.reason and 'log-linear' in FIT_RULE
    line = fit_log_linear([1e6, 1e7, 1e8], [0.3, 0.25, 0.2])  # exactly p + q ln C
    assert line.params['q'] == pytest.approx(-0.05 / math.log(10))
    assert line.params['p'] + line.params['q'] * math.log(1e6) == pytest.approx(0.3)
    assert line.predict(1e9) == pytest.approx(0.15) and line.rmse < 1e-12
    assert fit(MACS, true_err(MACS), kind='log_linear').kind == 'log_linear'


def test_one_compute_value_is_a_clear_error():
    with pytest.raises(ValueError, match='at least 2 distinct compute values, got 1'):
        fit([1e8, 1e8, 1e8], [0.1, 0.11, 0.12])
    with pytest.raises(ValueError, match='at least 2 distinct compute values'):
        bootstrap_fit({1e8: [0.1, 0.11]})
    with pytest.raises(ValueError, match='one length'):
        fit([1e6, 1e7], [0.1])


def test_bootstrap_intervals_cover_the_true_parameters():
    boot = bootstrap_fit(noisy_points(sd=0.001, seeds=5, rng_seed=1), n_resamples=300, seed=0)
    assert boot.fit.kind == 'power_law' and boot.n_resamples + boot.n_failed == 300
    assert set(boot.seeds.values()) == {5} and 'bootstrap over seeds' in boot.method
    for name, true in (('a', A), ('b', B), ('c', C)):
        low, high = boot.intervals[name]
        assert low <= true <= high, (name, low, high)
    est, low, high = boot.predict(1e9)
    assert low <= true_err(1e9) <= high and low <= est <= high
    again = bootstrap_fit(noisy_points(sd=0.001, seeds=5, rng_seed=1), n_resamples=300, seed=0)
    assert again.intervals == boot.intervals  # numpy Generator from the seed: reproducible
    with pytest.raises(ValueError, match='2 seeds'):
        bootstrap_fit({c: [float(true_err(c))] for c in MACS})


def test_held_out_compute_is_predicted_inside_the_interval():
    out = predict_held_out(noisy_points(sd=0.001, seeds=5, rng_seed=2), hold_out_macs=1, n_resamples=300)
    (row,) = out['held_out']
    assert row['macs'] == 1e9 and row['n_seeds'] == 5 and out['fit'].n_distinct == 6
    assert row['low'] <= row['predicted'] <= row['high']
    assert row['inside'] and row['inside_with_seed_noise'] and out['all_inside']
    assert row['measured'] == pytest.approx(true_err(1e9), abs=0.002)
    wrong = noisy_points(sd=0.001, seeds=5, rng_seed=2)
    wrong[1e9] = [e + 0.02 for e in wrong[1e9]]  # the largest model far worse than the trend
    assert not predict_held_out(wrong, hold_out_macs=[1e9], n_resamples=300)['all_inside']
    with pytest.raises(ValueError, match='larger than the fitted'):
        predict_held_out(wrong, hold_out_macs=[1e6])
    with pytest.raises(ValueError, match='hold out between 1 and 5'):
        predict_held_out(wrong, hold_out_macs=6)
