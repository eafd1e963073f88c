"""effscale_timm in timm's registry: names, parameter counts, state_dict compatibility, configs, bad arguments."""
import math

import pytest
import timm
import torch

import effscale_timm
from effscale_timm import compound, match_flops, register_variant, round_resolution, scaled_efficientnet

TIMM_PARAMS = [5_288_548, 7_794_184, 9_109_994, 12_233_232, 19_341_616, 30_389_784, 43_040_704, 66_347_960]
TABLE = {  # name: (width, depth, resolution px at 224 base, dropout)
    'effscale_b0': (1.0, 1.0, 224, .2), 'effscale_b1': (1.0, 1.1, 240, .2), 'effscale_b2': (1.1, 1.2, 260, .3),
    'effscale_b3': (1.2, 1.4, 300, .3), 'effscale_b4': (1.4, 1.8, 380, .4), 'effscale_b5': (1.6, 2.2, 456, .4),
    'effscale_b6': (1.8, 2.6, 528, .5), 'effscale_b7': (2.0, 3.1, 600, .5),
    'effscale_depth_b0': (1.0, 4.0, 224, .2), 'effscale_width_b0': (2.0, 1.0, 224, .2),
    'effscale_resolution_b0': (1.0, 1.0, 448, .2), 'effscale_compound_b0': (1.2, 1.4, 292, .2),
}


def test_all_names_registered():
    assert set(timm.list_models('effscale_*')) >= set(TABLE)


@pytest.mark.parametrize('i', range(8))
def test_compound_family_matches_timm_exactly(i):
    ours = timm.create_model(f'effscale_b{i}')
    theirs = timm.create_model(f'efficientnet_b{i}')
    assert sum(p.numel() for p in ours.parameters()) == TIMM_PARAMS[i]
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}
    ours.load_state_dict(theirs.state_dict(), strict=True)


@pytest.mark.parametrize('name', sorted(TABLE))
def test_pretrained_cfg_carries_resolution_and_multipliers(name):
    w, d, px, dropout = TABLE[name]
    m = timm.create_model(name)
    cfg = timm.data.resolve_data_config({}, model=m)
    assert cfg['input_size'] == (3, px, px)
    assert m.pretrained_cfg['num_classes'] == 1000
    assert m.pretrained_cfg['scaling']['depth'] == pytest.approx(d)
    assert m.pretrained_cfg['scaling']['width'] == pytest.approx(w)
    assert m.drop_rate == pytest.approx(dropout)


@pytest.mark.parametrize('name', sorted(TABLE))
def test_forward_every_variant_at_small_input(name):
    m = timm.create_model(name, num_classes=10, in_chans=1, base_resolution=32).eval()
    px = m.pretrained_cfg['input_size'][-1]
    assert m.pretrained_cfg['input_size'] == (1, px, px)
    with torch.no_grad():
        out = m(torch.randn(2, 1, px, px))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_resolution_multiplier_scales_the_dataset_base():
    m = timm.create_model('effscale_resolution_b0', num_classes=10, base_resolution=32)
    assert timm.data.resolve_data_config({}, model=m)['input_size'] == (3, 64, 64)
    assert round_resolution(1.3, 32) == 40  # 41.6 rounds to a multiple of 4
    assert round_resolution(260 / 224, 224) == 260


@pytest.mark.parametrize('phi', range(8))
def test_compound_coefficients(phi):
    d, w, r = compound(phi)
    assert (d, w, r) == pytest.approx((1.2 ** phi, 1.1 ** phi, 1.15 ** phi))
    # The paper's B1..B7 coefficients are rounded from these; within 12% everywhere (B7: d 3.58 vs 3.1).
    width, depth, *_ = TABLE[f'effscale_b{phi}']
    assert w == pytest.approx(width, rel=0.12)
    assert math.log(d) / math.log(1.2) == pytest.approx(phi)


def test_scaled_efficientnet_builds_any_multipliers():
    m = scaled_efficientnet(depth=1.4, width=1.2, resolution=1.3)
    ref = timm.create_model('effscale_compound_b0')
    assert sum(p.numel() for p in m.parameters()) == sum(p.numel() for p in ref.parameters())
    assert m.pretrained_cfg['input_size'] == ref.pretrained_cfg['input_size'] == (3, 292, 292)


def test_register_variant_makes_a_config_name_creatable():
    register_variant('effscale_test_custom', depth=2.0, width=0.5, resolution=1.5)
    assert 'effscale_test_custom' in timm.list_models('effscale_*')
    m = timm.create_model('effscale_test_custom', num_classes=3, base_resolution=32)
    assert m.pretrained_cfg['input_size'] == (3, 48, 48)
    register_variant('effscale_test_custom', depth=2.0, width=0.5, resolution=1.5)  # same: fine
    with pytest.raises(ValueError, match='already registered'):
        register_variant('effscale_test_custom', depth=3.0, width=0.5, resolution=1.5)


@pytest.mark.parametrize('kwargs, arg', [
    (dict(depth=0), 'depth'), (dict(depth=-1.0), 'depth'), (dict(width=float('nan')), 'width'),
    (dict(width='2'), 'width'), (dict(resolution=0), 'resolution'), (dict(resolution=None), 'resolution'),
    (dict(depth=True), 'depth'), (dict(resolution=0.5, base_resolution=32), 'resolution'),
    (dict(dropout=1.5), 'dropout'), (dict(base_resolution=0), 'base_resolution'),
])
def test_bad_arguments_name_the_argument(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        scaled_efficientnet(**kwargs)


def test_bad_compound_arguments():
    with pytest.raises(ValueError, match='phi'):
        compound(float('nan'))
    with pytest.raises(ValueError, match='alpha'):
        compound(1, alpha=0)


@pytest.mark.parametrize('axis', ['depth', 'width', 'resolution'])
def test_match_flops_within_five_percent_of_measured_target(axis):
    from effscale_timm.flops import count_macs
    target_model = timm.create_model('effscale_compound_b0', num_classes=10, base_resolution=32)
    target = count_macs(target_model, target_model.pretrained_cfg['input_size'])['conv_linear']
    found = match_flops(axis, target, input_size=32, num_classes=10)
    assert abs(found.rel_error) <= 0.05
    m = scaled_efficientnet(depth=found.depth, width=found.width, resolution=found.resolution, base_resolution=32,
                            num_classes=10)
    measured = count_macs(m, m.pretrained_cfg['input_size'])['conv_linear']
    assert measured == pytest.approx(found.macs)
    assert abs(measured / target - 1) <= 0.05
    others = {'depth', 'width', 'resolution'} - {axis}
    assert all(getattr(found, o) == 1.0 for o in others)


def test_match_flops_refuses_an_impossible_target():
    with pytest.raises(ValueError, match='cannot match'):
        match_flops('depth', 1e6, input_size=32, num_classes=10)  # B0 at 32 px already costs ~25 MMACs
    with pytest.raises(ValueError, match='axis'):
        match_flops('height', 1e8)


def test_import_stays_light():
    import subprocess
    import sys
    code = 'import sys, effscale_timm; print(any(m in sys.modules for m in ("fvcore", "pytorch_grad_cam", ' \
           '"matplotlib", "pandas", "snakemake")))'
    assert subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout.strip() \
        == 'False'
    assert effscale_timm.__version__
