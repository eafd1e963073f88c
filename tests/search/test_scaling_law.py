"""effscale_timm.search.scaling_law on points from known curves: the fit, its fall-back, the held-out check, the compute
to reach a target, and (slow) a simulation at this project's fit sizes that the held-out check says "inside" at its
nominal rate and the exponent's interval covers the truth."""
import math

import numpy as np
import pytest

from effscale_timm.search.scaling_law import (FIT_RULE, compute_ratio, compute_to_reach, fit, fit_log_linear,
                                              fit_power_law, held_out_check)

A, B, C = 2.0, 0.3, 0.05
MACS = np.logspace(6, 9, 7)


def true_err(macs):
    return A * np.asarray(macs, dtype=float) ** -B + C


def noisy_points(sd, seeds, rng_seed, macs=MACS):
    """{C: per-seed errors}: the true curve plus normal noise of standard deviation ``sd`` per seed."""
    rng = np.random.default_rng(rng_seed)
    return {float(c): list(true_err(c) + sd * rng.standard_normal(seeds)) for c in macs}


def test_power_law_recovers_the_known_exponent_with_an_interval():
    f = fit(noisy_points(sd=1e-4, seeds=2, rng_seed=0))
    assert f.kind == 'power_law' and '7 distinct C >= 4' in f.reason and f.df == 14 - 3
    assert f.params['b'] == pytest.approx(B, abs=0.01) and f.params['c'] == pytest.approx(C, abs=0.002)
    assert f.params['a'] == pytest.approx(A, rel=0.1) and f.c_ref == 1e6 and f.s < 3e-4
    low, high = f.interval('b')
    assert low < B < high and high - low < 0.05
    assert f.interval('c')[0] < f.params['c'] < f.interval('c')[1] and f.interval('a')[1] - f.interval('a')[0] < 0.5
    assert f.predict(1e8) == pytest.approx(true_err(1e8), rel=1e-3) and 0 < f.se(1e8) < 1e-3
    exact = fit_power_law({c: [float(true_err(c))] * 2 for c in MACS})
    assert (exact.params['a'], exact.params['b'], exact.params['c']) == pytest.approx((A, B, C), rel=1e-4)
    assert 'log space' in FIT_RULE and 'Huber' in FIT_RULE


def test_one_far_run_moves_the_robust_fit_less_than_least_squares_would(monkeypatch):
    import effscale_timm.search.scaling_law as law
    points = noisy_points(sd=0.002, seeds=3, rng_seed=4)
    points[float(MACS[3])][0] += 0.2  # one run 100 seed SDs off (a run that went wrong but finished)
    robust = fit_power_law(points)
    monkeypatch.setattr(law, 'HUBER_K', 1e9)  # Huber's scale beyond every residual: plain least squares
    plain = fit_power_law(points)
    assert abs(robust.params['b'] - B) < 0.05 < abs(plain.params['b'] - B)


def test_flat_points_fall_back_to_the_line_and_say_why():
    for seed in range(5):  # runs near chance level: no trend, no bend; no power law is identified
        rng = np.random.default_rng(seed)
        f = fit({float(c): list(90 + rng.standard_normal(2)) for c in MACS})
        assert f.kind == 'log_linear' and f.reason.startswith('power law failed'), f.reason
    three = {float(c): [float(true_err(c))] for c in MACS[[0, 3, 6]]}
    f = fit(three)
    assert f.kind == 'log_linear' and '3 distinct C < 4' in f.reason and f.df == 1
    exact = fit_log_linear({1e6: [0.3], 1e7: [0.25], 1e8: [0.2]})  # exactly p + q ln C
    assert exact.params['q'] == pytest.approx(-0.05 / math.log(10))
    assert exact.params['p'] + exact.params['q'] * math.log(1e6) == pytest.approx(0.3)
    assert exact.predict(1e9) == pytest.approx(0.15)
    assert fit(noisy_points(1e-3, 2, 0), kind='log_linear').kind == 'log_linear'


def test_bad_points_are_clear_errors():
    with pytest.raises(ValueError, match='at least 2 distinct compute values, got 1'):
        fit({1e8: [0.1, 0.11, 0.12]})
    with pytest.raises(ValueError, match='y > 0'):
        fit_power_law({c: [-0.1, 0.1] for c in MACS})
    with pytest.raises(ValueError, match='kind must be'):
        fit(noisy_points(1e-3, 2, 0), kind='cubic')


def test_held_out_check_scores_the_standardised_residual():
    points = noisy_points(sd=0.002, seeds=3, rng_seed=2, macs=MACS[:-1])
    f = fit(points)
    good = held_out_check(f, MACS[-1], list(true_err(MACS[-1]) + np.array([-0.002, 0.0, 0.002])))
    assert good['inside'] and good['low'] < good['predicted'] < good['high'] and good['df'] == f.df == 18 - 3
    assert good['se'] == pytest.approx(math.sqrt(good['se_fit'] ** 2 + f.s ** 2 / 3))
    assert good['quantile'] == pytest.approx(2.131, abs=1e-3)  # t at 15 df, not z = 1.96
    bad = held_out_check(f, MACS[-1], list(true_err(MACS[-1]) + 0.05 + np.zeros(3)))
    assert not bad['inside'] and bad['t'] > bad['quantile']
    line = held_out_check(fit(points, kind='log_linear'), MACS[-1], [float(true_err(MACS[-1]))])
    assert line['kind'] == 'log_linear' and abs(line['t']) > abs(good['t'])  # the bending curve beats the line


def test_compute_to_reach_inverts_the_curve():
    f = fit(noisy_points(sd=1e-4, seeds=2, rng_seed=3))
    target = float(true_err(3e7))
    reach = compute_to_reach(f, target)
    assert reach['macs'] == pytest.approx(3e7, rel=0.03) and reach['low'] < 3e7 < reach['high']
    assert compute_to_reach(f, C / 2)['macs'] is None and 'floor' in compute_to_reach(f, C / 2)['why']
    twice = dict(reach, macs=2 * reach['macs'])
    ratio = compute_ratio(twice, reach)
    assert ratio['ratio'] == pytest.approx(2.0) and ratio['low'] < 2 < ratio['high']
    assert compute_ratio(compute_to_reach(f, C / 2), reach) is None
    line = fit_log_linear({1e6: [0.3], 1e7: [0.25], 1e8: [0.2]})
    assert compute_to_reach(line, 0.25)['macs'] == pytest.approx(1e7)


# --- the simulation at this project's fit sizes ------------------------------------------------------------------
# B0 (phi = 0) and phi = 0.5 .. 3 in steps of 0.5, 3 seeds at integer phi and 1 at fractional ones (15 runs), C
# doubling per unit of phi, error 20 points at B0 falling to 12 at phi = 3 along err = 6.84 + 13.16 (C / C0)^-0.45,
# seed noise 0.15 points; phi = 4 (3 seeds, 10.6 points) held out. SIMULATIONS = 2000 gives a Monte-Carlo standard
# error of 0.49% on a 95% rate, so a band of 3 of them (±1.5%) separates the right method from the ones this module
# rejected: an unweighted log-space fit says "inside" 88-93% of the time, z instead of t 93% (measured: with this
# seed the method below says 94.95% and covers the exponent 95.5%).
SIM_SEEDS = {0: 3, 0.5: 1, 1: 3, 1.5: 1, 2: 3, 2.5: 1, 3: 3}
SIM_A, SIM_B, SIM_C, SIM_SD, SIM_C0, HELD_PHI = 13.16, 0.45, 6.84, 0.15, 1e8, 4
SIMULATIONS = 2000


def _sim_err(phi):
    return SIM_C + SIM_A * 2.0 ** (-SIM_B * phi)


@pytest.mark.slow  # about 45 s on a loaded 2-core machine
def test_simulated_held_out_check_and_exponent_interval_hold_their_nominal_rate():
    rng = np.random.default_rng(2024)
    inside = covered = fitted = 0
    for _ in range(SIMULATIONS):
        points = {SIM_C0 * 2.0 ** phi: list(_sim_err(phi) + SIM_SD * rng.standard_normal(n))
                  for phi, n in SIM_SEEDS.items()}
        held = list(_sim_err(HELD_PHI) + SIM_SD * rng.standard_normal(3))
        f = fit(points)
        if f.kind != 'power_law':
            continue
        fitted += 1
        low, high = f.interval('b')
        covered += low <= SIM_B <= high
        inside += held_out_check(f, SIM_C0 * 2.0 ** HELD_PHI, held)['inside']
    mc_error = math.sqrt(0.95 * 0.05 / fitted)
    assert fitted >= 0.99 * SIMULATIONS  # the power law is identified at these sizes
    assert abs(inside / fitted - 0.95) <= 3 * mc_error, (inside / fitted, mc_error)
    assert abs(covered / fitted - 0.95) <= 3 * mc_error, (covered / fitted, mc_error)
