"""effscale_timm.search.design_space (the samples) and design_analysis (EDFs, the mixture regression), on a count
proportional to the built network (blocks x channels^2 x pixels^2) and on synthetic errors with known answers."""
import math

import numpy as np
import pytest

from effscale_timm.search import design_analysis as da
from effscale_timm.search.design_space import (CORNER_PROBABILITY, built_shares, draw_samples, is_corner,
                                               multipliers, snapped_depth)
from effscale_timm.search.family import design_member, lr_variant, member_spec, spec_source
from effscale_timm.search.grid import network_key

BASE = 48


def built_count(depth, width, px):
    """MACs proportional to the network as built: blocks x (mean channel multiplier)^2 x pixels^2 (the paper's
    d * w^2 * r^2 on the rounded network; fvcore's count is the pipeline's)."""
    blocks, channels, pixels = network_key(depth, width, px)
    b0 = network_key(1.0, 1.0, BASE)
    w = math.exp(np.mean(np.log(np.asarray(channels) / np.asarray(b0[1]))))
    return 1e6 * sum(blocks) / sum(b0[0]) * w ** 2 * (pixels / BASE) ** 2


def test_depth_snaps_to_b0_below_the_first_rounding_step():
    assert snapped_depth(1.1) == 1.0  # 23 blocks would be x1.44: B0's 16 is nearer in log-depth
    assert snapped_depth(1.3) == 1.3 and snapped_depth(2.0) == 2.0
    d, w, r = multipliers([0.1, 0.45, 0.45], math.log(2))
    assert d == 1.0 and w == pytest.approx(2 ** 0.225) and r == pytest.approx(2 ** 0.225)
    assert built_shares(1.0, 1.4, 48, BASE) == [0.0, 1.0, 0.0]  # width only, as built
    shares = built_shares(1.3, 1.0, 56, BASE)
    assert shares[1] == 0 and shares[0] + shares[2] == pytest.approx(1) and is_corner([0.7, 0.0, 0.3])


def test_samples_are_distinct_within_tolerance_and_a_third_are_corners():
    out = draw_samples(2.0, 12, BASE, built_count, tolerance=0.05, seed=3)
    members = list(out['members'].values())
    assert [m['name'] for m in members] == [design_member(i) for i in range(12)] == list(out['members'])
    assert all(abs(m['ratio'] / 2 - 1) <= 0.05 for m in members)
    assert all(m['ratio'] == pytest.approx(built_count(m['depth'], m['width'], m['px']) / 1e6) for m in members)
    assert len({network_key(m['depth'], m['width'], m['px']) for m in members}) == 12
    assert sum(m['group'] == 'corner' for m in members) == round(12 * CORNER_PROBABILITY) == 4
    assert all(sum(m['shares']) == pytest.approx(1) and len(m['drawn_shares']) == 3 for m in members)
    assert out['draws'] == 12 + sum(out['rejected'].values())
    assert draw_samples(2.0, 12, BASE, built_count, seed=3) == out  # the seed fixes the samples
    assert draw_samples(2.0, 12, BASE, built_count, seed=4) != out


def test_impossible_samples_are_one_clear_error():
    with pytest.raises(ValueError, match='design_space.regime must be above 1'):
        draw_samples(1.0, 10, BASE, built_count)
    with pytest.raises(ValueError, match=r'design_space: 40 draws kept 0 of 1 samples at regime 2'):
        draw_samples(2.0, 1, BASE, built_count, tolerance=1e-9)


def test_a_samples_multipliers_come_from_the_samples_file(tmp_path):
    from effscale_timm.atomic import write_json
    out = draw_samples(2.0, 9, BASE, built_count, seed=0)
    path = write_json(tmp_path / 'samples.json', out)
    name = design_member(4)
    assert spec_source(name, tmp_path / 'chosen.json', tmp_path / 'match', samples=path) == path
    spec = member_spec(name, samples=path)
    assert (spec['depth'], spec['width'], spec['resolution']) == tuple(out['members'][name][k]
                                                                        for k in ('depth', 'width', 'resolution'))
    assert lr_variant(name) is None and lr_variant('effscale_b0') == 'effscale_b0'
    assert lr_variant('effscale_s2_a120_b110_g115', search_phi=2) == 'effscale_paper_phi2'


def test_a_resnet50_design_space_is_measured_and_built_as_resnet50(tmp_path):
    """The samples of another backbone: its own MACs (fvcore on the network timm builds), its own base network for
    the regime, the shares and the snapping, and its name carried to the training's multipliers."""
    from effscale_timm.flops import macs_of
    from effscale_timm.search.design_space import sample_design_space
    from effscale_timm.search.steps import StudyShape
    assert snapped_depth(1.05, 'resnet50') == 1.0 and snapped_depth(1.2, 'resnet50') == 1.2  # 20, 21 of 16 blocks
    out = sample_design_space(2.0, 9, StudyShape(32, 10, 3, 'resnet50'), tmp_path / 'samples.json', seed=1)
    base = macs_of(1.0, 1.0, 32, 10, 3, 'resnet50')
    assert out['backbone'] == 'resnet50' and out['b0_macs'] == pytest.approx(base)
    assert base != pytest.approx(macs_of(1.0, 1.0, 32, 10, 3))  # not B0's
    members = list(out['members'].values())
    assert all(abs(m['macs'] / base / 2 - 1) <= 0.05 and m['backbone'] == 'resnet50' for m in members)
    assert all(m['macs'] == pytest.approx(macs_of(m['depth'], m['width'], m['px'], 10, 3, 'resnet50'))
               for m in members)
    assert len({network_key(m['depth'], m['width'], m['px'], 'resnet50') for m in members}) == 9
    spec = member_spec(design_member(0), samples=tmp_path / 'samples.json')
    assert spec['backbone'] == 'resnet50' and spec['dropout'] == 0.0  # timm's resnet50 has no dropout


def test_edf_comparison_finds_a_real_difference_and_not_a_false_one():
    rng = np.random.default_rng(0)
    labels = ['interior'] * 30 + ['corner'] * 15
    better = np.r_[20 + 0.5 * rng.standard_normal(30), 22 + 0.5 * rng.standard_normal(15)]
    out = da.edf_comparison(better, labels)
    assert out['n_interior'] == 30 and out['n_corner'] == 15 and not out['why']
    assert out['delta_mean']['high'] < 0 and out['delta_mean']['estimate'] == pytest.approx(
        better[:30].mean() - better[30:].mean())
    assert out['p_interior_better']['low'] > 0.8 and 'lower error' in da.answer(out)
    same = 20 + 0.5 * rng.standard_normal(45)
    out = da.edf_comparison(same, labels)
    assert out['delta_mean']['low'] < 0 < out['delta_mean']['high'] and 'no difference' in da.answer(out)
    few = da.edf_comparison(same[:12], ['interior'] * 10 + ['corner'] * 2)
    assert 'fewer than 3' in few['why'] and da.answer(few) is None


def test_share_regression_recovers_a_known_mixture_surface():
    rng = np.random.default_rng(1)
    shares = rng.dirichlet([1, 1, 1], 40)
    truth = np.array([30.0, 28.0, 29.0, -8.0, 0.0, -4.0])  # mixing depth and width helps most
    errors = da.design_matrix(shares) @ truth + 0.3 * rng.standard_normal(40)
    out = da.share_regression(shares, errors)
    assert out['df'] == 34 and not out['why'] and 'no intercept' in out['rule']
    for term, value in zip(da.TERMS, truth):  # within 4 standard errors (a 95% interval misses one term in four)
        row = out['coefficients'][term]
        assert abs(row['estimate'] - value) < 4 * row['se'] and row['high'] - row['low'] < 20 * row['se'], (term, row)
    assert out['coefficients']['depth×width']['high'] < 0
    centre = da.design_matrix([[1 / 3] * 3])[0] @ truth
    for i, axis in enumerate(('depth', 'width', 'resolution')):
        assert out['balanced_minus_pure'][axis]['estimate'] == pytest.approx(centre - truth[i], abs=1.0)
    assert 'needs 9' in da.share_regression(shares[:8], errors[:8])['why']
    assert 'singular' in da.share_regression([[0.2, 0.3, 0.5]] * 12, errors[:12])['why']
