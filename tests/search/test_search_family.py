"""effscale_timm.search.family: compound families at phi = 1..K, their names and dropout; where a member's
multipliers come from."""
import re

import pytest

from effscale_timm.models import NAME_PATTERN
from effscale_timm.search.family import (family, family_dropout, member_names, member_spec, phi_code, phi_from_code,
                                         spec_source, strategy_member)


def test_family_raises_phi_with_the_chosen_coefficients():
    fam = family(1.2, 1.1, 1.15, 3, prefix='effscale_paper')
    assert list(fam) == ['effscale_paper_phi1', 'effscale_paper_phi2', 'effscale_paper_phi3']
    two = fam['effscale_paper_phi2']
    assert (two['depth'], two['width'], two['resolution']) == pytest.approx((1.44, 1.21, 1.3225))
    assert [s['dropout'] for s in fam.values()] == [0.25, 0.3, 0.35]
    assert 'phi=2' in two['note'] and 'alpha=1.2' in two['note']
    half = family(1.25, 1.05, 1.2, [1.5], dropout=0.2)
    assert list(half) == ['effscale_search_phi1p5'] and half['effscale_search_phi1p5']['dropout'] == 0.2
    assert all(re.match(NAME_PATTERN, n) for n in list(fam) + list(half))
    assert family_dropout(0) == 0.2 and family_dropout(10) == 0.5
    with pytest.raises(ValueError):
        family(1.2, 1.1, 1.15, [])


def test_the_family_says_which_file_a_members_multipliers_come_from(tmp_path):
    chosen, match = tmp_path / 'chosen.json', tmp_path / 'match'
    assert spec_source('effscale_search_phi2', chosen, match) == chosen
    assert spec_source('effscale_width_matched_phi3', chosen, match) == match / 'phi3.json'
    assert spec_source('effscale_paper_phi2', chosen, match) is None  # arithmetic
    assert spec_source('effscale_a120_b110_g115', chosen, match) is None  # a candidate: arithmetic
    assert spec_source('effscale_b0', chosen, match) is None


def test_fractional_phi_members_have_their_own_names_and_match_files(tmp_path):
    assert strategy_member('compound_paper', 1.5) == 'effscale_paper_phi1p5'
    assert strategy_member('width', 0.5) == 'effscale_width_matched_phi0p5'
    assert strategy_member('depth', 0) == 'effscale_b0'
    assert spec_source('effscale_depth_matched_phi2p5', tmp_path / 'c', tmp_path / 'm') == tmp_path / 'm/phi2p5.json'
    assert phi_code(2.0) == '2' and phi_from_code('1p5') == 1.5 and phi_from_code('3') == 3.0
    half = member_spec('effscale_paper_phi0p5')
    assert half['depth'] == pytest.approx(1.2 ** 0.5) and half['dropout'] == family_dropout(0.5)
    names = member_names([1, 2], search_phi=2)
    assert 'effscale_search_phi2' not in names and 'effscale_search_phi1' in names  # phi 2: the chosen candidate
    assert 'effscale_search_phi2' in member_names([1, 2], search_phi=2, retrain=True)


def test_whose_learning_rate_a_member_trains_with():
    from effscale_timm.search.family import lr_variant
    assert lr_variant('effscale_depth_matched_phi3') == 'effscale_depth_matched_phi3'  # its own sweep, as Table 1
    assert lr_variant('effscale_width_matched_phi1p5') == 'effscale_width_matched_phi1'  # one seed: no sweep of its own
    assert lr_variant('effscale_paper_phi0p5') == 'effscale_b0' and lr_variant('effscale_search_phi2p5') == \
        'effscale_search_phi2'
    assert lr_variant('effscale_s2_a110_b130_g100', search_phi=2) == 'effscale_paper_phi2'
