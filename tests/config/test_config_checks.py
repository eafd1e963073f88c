"""The config's semantic checks (effscale_timm.config.checks): a bad config is refused before any job starts with a
message naming the key, and checking registers nothing."""

import pytest

import effscale_timm
from effscale_timm.config import ConfigError, check_config


# --- check_config ---------------------------------------------------------------------------------------------------

def valid_config(**changes):
    """A config every check accepts: a registered name and a custom (new-name) variant, 32 px base."""
    config = {
        'dataset': 'digits', 'seeds': [0, 1], 'epochs': 2, 'batch_size': 16, 'base_resolution': 32,
        'device': 'cpu', 'recipe': 'fast',
        'variants': ['effscale_b0', {'name': 'unittest_custom', 'depth': 1.2, 'width': 0.75}],
        'flop_match': {'target': 'effscale_b0', 'axes': ['depth', 'width']},
    }
    config.update(changes)
    return config


def test_valid_config_passes_and_registers_nothing():
    check_config(valid_config())
    check_config(valid_config(dataset='imagefolder', dataset_root='.', flop_match=None, device='cuda:1'))
    assert 'unittest_custom' not in effscale_timm.VARIANTS  # the Snakefile calls it while parsing: reads only


@pytest.mark.parametrize('changes, message', [
    (dict(dataset='mnist'), r"^dataset: must be one of .*got 'mnist'"),
    (dict(dataset='imagefolder'), r'^dataset_root: required for dataset imagefolder'),
    (dict(dataset='imagefolder', dataset_root='/no/such/folder'), r"^dataset_root: path '/no/such/folder'"),
    (dict(epochs=0), r'^epochs: must be a positive whole number, got 0'),
    (dict(epochs=-3), r'^epochs: must be a positive whole number'),
    (dict(epochs=True), r'^epochs: must be a positive whole number'),
    (dict(batch_size=0), r'^batch_size: must be a positive whole number'),
    (dict(seeds=[0, 1, 0]), r'^seeds: must not repeat a seed'),
    (dict(seeds=[]), r'^seeds: must be a non-empty list'),
    (dict(variants=['effscale_b0', 'effscale_nope']), r"^variants\[1\]: unknown variant 'effscale_nope'"),
    (dict(variants=['effscale_b0', 'effscale_b0']), r"^variants\[1\]: name 'effscale_b0' appears twice"),
    (dict(variants=[{'name': 'effscale_b0', 'depth': 2.0}]), r"^variants\[0\]: variant 'effscale_b0' is already"),
    (dict(variants=[{'name': 'unittest_bad', 'depth': -1}]), r'^variants\[0\]: depth must be'),
    (dict(variants=['effscale_b0', {'name': 'unittest_small', 'resolution': 0.5}]),
     r"^variants\[1\] \(unittest_small\): resolution: .*below the network's minimum input of 32 px"),
    (dict(device='gpu'), r"^device: must be auto, cpu or cuda\[:N\], got 'gpu'"),
    (dict(recipe='magic'), r"^recipe: must be one of"),
    (dict(flop_match={'target': 'effscale_b7'}), r"^flop_match.target: must be one of the configured variants, "
                                                 r"got 'effscale_b7'"),
    (dict(flop_match={'target': 'effscale_b0', 'axes': ['depth', 'height']}), r"^flop_match.axes: .*\['height'\]"),
    (dict(dataset='imagenette'), r'^dataset_root: required for dataset imagenette'),
    (dict(lr_sweep={'epochs': 1, 'seeds': [0, 1]}, epochs=6), r'^lr_sweep.epochs: must be at least a third of epochs'),
    (dict(lr_sweep={'epochs': 2, 'seeds': [0]}), r'^lr_sweep.seeds: needs at least 2'),
    (dict(lr_sweep={'epochs': 2, 'seeds': [0, 1], 'rates': [0.1, 0.2]}), r'^lr_sweep.rates: needs at least 3'),
    (dict(lr_sweep={'epochs': 2, 'seeds': [0, 1]}, lr=0.1), r'^lr_sweep: give either lr or lr_sweep'),
], ids=lambda v: str(v)[:60])
def test_each_bad_value_is_a_config_error_naming_its_key(changes, message):
    with pytest.raises(ConfigError, match=message):
        check_config(valid_config(**changes))


SEARCH = {'grid': {'alpha': [1.0, 1.4, 0.1], 'beta': [1.0, 1.3, 0.1], 'gamma': [1.0, 1.3, 0.1]}, 'phis': 3}
DESIGN = {'regime': 2.0, 'samples': 9}


def test_search_and_design_space_configs_pass_without_variants():
    check_config(valid_config(variants=[], flop_match=None, design_space=DESIGN))
    check_config(valid_config(variants=[], flop_match=None, design_space=DESIGN, backbone='resnet50'))
    check_config(valid_config(variants=[], flop_match=None, search=dict(
        SEARCH, search_phi=2, fractional_phis=[0.5, 1.5, 2.5], hold_out_phi=4, halving={'epochs': 1})))


@pytest.mark.parametrize('changes, message', [
    (dict(design_space=dict(DESIGN, regime=1.0)), r'^design_space.regime: must be a number above 1 .*got 1.0'),
    (dict(design_space=dict(DESIGN, regime=0.5)), r'^design_space.regime: must be a number above 1'),
    (dict(design_space=dict(DESIGN, samples=8)), r'^design_space.samples: needs at least 9 \(the share regression'),
    (dict(search=dict(SEARCH, fractional_phis=[])), r'^search.fractional_phis: must not be empty'),
    (dict(search=dict(SEARCH, fractional_phis=[1.5, 0.5])), r'^search.fractional_phis: must be sorted'),
    (dict(search=dict(SEARCH, fractional_phis=[0.5, 0.5])), r'^search.fractional_phis: must be sorted'),
    (dict(search=dict(SEARCH, fractional_phis=[0.5, 2.0])), r'^search.fractional_phis: .*not whole numbers'),
    (dict(search=dict(SEARCH, hold_out_phi=3)), r'^search.hold_out_phi: must lie above the fitted range \(phi <= 3'),
    (dict(search=dict(SEARCH, fractional_phis=[0.5, 3.5], hold_out_phi=3.25)),
     r'^search.hold_out_phi: must lie above the fitted range \(phi <= 3.5'),
    (dict(search=dict(SEARCH, search_phi=4)), r'^search.search_phi: must be one of the fitted phi 1..3'),
    (dict(search=dict(SEARCH, epochs=2, halving={'epochs': 2})), r'^search.halving.epochs: must be below'),
    (dict(search=SEARCH, backbone='resnet50'), r'^backbone: the coefficient search runs on efficientnet_b0 only'),
], ids=lambda v: str(v)[:70])
def test_each_bad_search_or_design_value_is_one_line_naming_its_key(changes, message):
    with pytest.raises(ConfigError, match=message):
        check_config(valid_config(variants=[], flop_match=None, **changes))
