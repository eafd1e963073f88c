"""effscale_timm.search.grid: the grid, the measured-MAC filter (an injected count, and fvcore once) and the
candidates' names, on fixed numbers."""
import re

import pytest

from effscale_timm.models import NAME_PATTERN
from effscale_timm.search.grid import (DEFAULT_GRID, candidate_name, candidate_phi, filter_by_measured_macs, grid,
                                       network_key, parse_candidate_name, scaled_axes)


def toy_count(depth, width, px):
    """A deterministic stand-in for fvcore: MACs proportional to d * w^2 * px^2 (the paper's approximation)."""
    return depth * width ** 2 * px ** 2


def test_default_grid_is_around_the_papers_coefficients_in_lexicographic_order():
    g = grid()
    assert DEFAULT_GRID == {'alpha': (1.0, 1.4, 0.05), 'beta': (1.0, 1.3, 0.05), 'gamma': (1.0, 1.3, 0.05)}
    assert len(g) == 9 * 7 * 7 == len(set(g))
    assert g[0] == (1.0, 1.0, 1.0) and g[1] == (1.0, 1.0, 1.05) and g[-1] == (1.4, 1.3, 1.3)
    assert g == sorted(g) and min(min(c) for c in g) >= 1.0
    assert (1.2, 1.1, 1.15) in g  # the paper's, exactly (values rounded: no 1.1500000000000001)


def test_grid_ranges_include_the_upper_end_and_reject_shrinking():
    assert grid((1.0, 1.1, 0.05), (1.0, 1.0, 0.1), (1.2, 1.3, 0.1)) == [
        (1.0, 1.0, 1.2), (1.0, 1.0, 1.3), (1.05, 1.0, 1.2), (1.05, 1.0, 1.3), (1.1, 1.0, 1.2), (1.1, 1.0, 1.3)]
    with pytest.raises(ValueError, match='alpha'):
        grid(alpha=(0.9, 1.2, 0.1))
    with pytest.raises(ValueError, match='gamma'):
        grid(gamma=(1.0, 1.2, 0))


SMALL = grid((1.0, 1.4, 0.2), (1.0, 1.2, 0.1), (1.0, 1.2, 0.1))  # 27; at base 40 gamma 1.1, 1.2 -> 44, 48 px


def test_filter_keeps_exactly_the_candidates_near_twice_b0():
    out = filter_by_measured_macs(SMALL, base_resolution=40, num_classes=10, in_chans=1, count=toy_count)
    # alpha * beta^2 * (px / 40)^2 within 2 +/- 5%, worked by hand (1.2 * 1.1^2 * 1.2^2 = 2.0909)
    assert [(r['alpha'], r['beta'], r['gamma']) for r in out['kept']] == [
        (1.0, 1.2, 1.2), (1.2, 1.1, 1.2), (1.2, 1.2, 1.1), (1.4, 1.0, 1.2), (1.4, 1.1, 1.1), (1.4, 1.2, 1.0)]
    first = out['kept'][0]
    assert first['px'] == 48 and first['ratio'] == pytest.approx(2.0736) and first['macs'] == 1.44 * 48 ** 2
    assert first['name'] == 'effscale_a100_b120_g120' and first['rel_error'] == pytest.approx(0.0368)
    assert first['same_network'] == [] and first['nominal'] == pytest.approx(1.2 ** 4)
    assert out['b0_macs'] == 40 ** 2 and out['n_candidates'] == 27 and out['n_within_tolerance'] == 6
    assert out['closest_rejected']['name'] == 'effscale_a120_b110_g110'  # 1.757, -12%
    assert out['closest_rejected']['ratio'] == pytest.approx(1.2 * 1.1 ** 4)


def test_filter_keeps_one_candidate_per_network():
    # every depth in 1.05..1.25 adds one block per stage (ceil), so does 1.3 but for stage 6; 1.35 and 1.4 agree
    assert network_key(1.05, 1.0, 32) == network_key(1.25, 1.0, 32) != network_key(1.3, 1.0, 32)
    assert network_key(1.35, 1.1, 32) == network_key(1.4, 1.1, 32) != network_key(1.35, 1.1, 36)
    cands = [(1.35, 1.1, 1.0), (1.35, 1.1, 1.05), (1.4, 1.1, 1.0)]  # gamma 1.0 and 1.05: 32 px at base 32
    counted = []
    out = filter_by_measured_macs(cands, 32, 10, 1, tolerance=0.25,
                                  count=lambda d, w, px: counted.append((d, w, px)) or toy_count(d, w, px))
    assert counted == [(1.0, 1.0, 32), (1.35, 1.1, 32)]  # B0, then one count for the one network
    assert out['n_within_tolerance'] == 3 and len(out['kept']) == 1
    # represented by the triple whose formula is closest to 2: 1.35 * 1.1^2 * 1.05^2 = 1.80 (others 1.63, 1.69)
    (kept,) = out['kept']
    assert kept['name'] == 'effscale_a135_b110_g105' and kept['nominal'] == pytest.approx(1.35 * 1.21 * 1.1025)
    assert kept['same_network'] == ['effscale_a135_b110_g100', 'effscale_a140_b110_g100']
    assert kept['ratio'] == pytest.approx(1.35 * 1.21)  # measured: the network's, whatever its name


def test_filter_names_the_closest_candidate_when_none_fits():
    with pytest.raises(ValueError, match=r'27 triples: alpha 1\.\.1\.4.*alpha=1\.4, beta=1\.2, gamma=1\.2 '
                                         r'\(48 px\) at ratio 2\.903'):
        filter_by_measured_macs(SMALL, 40, 10, 1, target_ratio=3.5, count=toy_count)
    with pytest.raises(ValueError, match='no candidates'):
        filter_by_measured_macs([], 40, 10, 1, count=toy_count)


def test_papers_coefficients_measured_with_fvcore_at_base_32(one_thread):
    """At 32 px the paper's (1.2, 1.1, 1.15) is far above 2x B0: 1.15 x 32 px rounds to 36 px, whose last feature
    maps are 2x2 instead of 1x1 (the head alone then costs 4x), and depth 1.2 rounds B0's 16 blocks up to 23.
    Measured (fvcore, conv + linear, 10 classes, 1 channel): B0 8.33 MMACs, the candidate 36.8 MMACs, ratio 4.42."""
    out = filter_by_measured_macs([(1.2, 1.1, 1.15)], 32, 10, 1, tolerance=10.0)
    paper = out['kept'][0]
    assert (paper['depth'], paper['width'], paper['resolution'], paper['px']) == (1.2, 1.1, 1.15, 36)
    assert sum(network_key(1.2, 1.1, 36)[0]) == 23 and sum(network_key(1.0, 1.0, 32)[0]) == 16
    assert out['b0_macs'] == pytest.approx(8.327e6, rel=0.01)
    assert 4.0 < paper['ratio'] < 5.0  # documented above: not within 5% of 2 at this base


def test_candidate_name_is_registry_safe_and_reads_back():
    assert candidate_name(1.2, 1.1, 1.15) == 'effscale_a120_b110_g115'
    assert candidate_name(1.0, 1.125, 2, prefix='search') == 'search_a100_b1125_g200'
    for c in grid():
        name = candidate_name(*c)
        assert re.match(NAME_PATTERN, name) and parse_candidate_name(name) == c
    assert parse_candidate_name('effscale_b0') is None
    for bad in ((0.9, 1.1, 1.1), (1.2, 1.1, 1.23456), (True, 1.0, 1.0)):
        with pytest.raises(ValueError):
            candidate_name(*bad)
    with pytest.raises(ValueError, match='lower-case prefix'):
        candidate_name(1.2, 1.1, 1.15, prefix='Eff')


def test_single_axis_networks_are_labelled_whatever_their_coefficients():
    out = filter_by_measured_macs([(1.0, 1.0, 1.2), (1.0, 1.2, 1.0), (1.4, 1.0, 1.0), (1.0, 1.2, 1.2)],
                                  base_resolution=40, num_classes=10, in_chans=1, count=toy_count, tolerance=1.0)
    labels = {r['name']: (r['scaled_axes'], r['single_axis']) for r in out['kept']}
    assert labels['effscale_a100_b100_g120'] == (['resolution'], True)
    assert labels['effscale_a100_b120_g100'] == (['width'], True)
    assert labels['effscale_a140_b100_g100'] == (['depth'], True)
    assert labels['effscale_a100_b120_g120'] == (['width', 'resolution'], False)
    assert scaled_axes(1.0, 1.0, 40, 40) == ()  # gamma 1.04 at base 40 rounds to B0's 40 px: no axis scaled
    assert scaled_axes(1.1, 1.0, 40, 40) == ('depth',) and scaled_axes(1.0, 1.02, 40, 40) == ('width',)


def test_candidates_at_phi_2_are_built_and_named_at_phi_2():
    out = filter_by_measured_macs([(1.2, 1.1, 1.15)], 40, 10, 1, count=toy_count, tolerance=1.0, phi=2)
    (r,) = out['kept']
    assert out['target_ratio'] == 4.0 and out['phi'] == 2.0 and r['name'] == 'effscale_s2_a120_b110_g115'
    assert (r['depth'], r['width']) == pytest.approx((1.44, 1.21)) and r['px'] == round(1.15 ** 2 * 40 / 4) * 4
    assert parse_candidate_name(r['name']) == (1.2, 1.1, 1.15) and candidate_phi(r['name']) == 2.0
    assert candidate_phi('effscale_a120_b110_g115') == 1.0
    assert candidate_name(1.2, 1.1, 1.15, phi=1.5) == 'effscale_s1p5_a120_b110_g115'
