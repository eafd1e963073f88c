"""Backbones as data (effscale_timm.backbones): at multipliers 1 each is timm's own base model (same parameters, same
outputs with the same weights); depth and width round as the family does; the paper's Table 3 variants are
registered with measured multiply-adds within 5% of Table 3's figures, or the deviation the README explains."""
import math

import pytest
import timm
import torch

import effscale_timm
from effscale_timm.backbones import BACKBONES, get_backbone
from effscale_timm.flops import macs_of
from effscale_timm.models import (TABLE3_COMPOUND_PHI, VARIANTS, baseline_name, register_variant, resolve_variant,
                                  scaled_model)
from effscale_timm.reference import reference_table
from effscale_timm.scaling import round_resolution

pytestmark = pytest.mark.usefixtures('one_thread')
TABLE3 = {'mobilenetv2_100': 'table3_mobilenetv2', 'resnet50': 'table3_resnet50'}
# Table 3 figures our networks do not reach within 5%, and why (the README says the same): the paper does not say how
# it deepened or widened ResNet-50. Depth x4 with every stage's blocks rounded up is (12, 16, 24, 12) blocks, 14.6B
# MACs; widening every convolution x2 (stem, bottleneck and output channels) is 15.9B.
KNOWN_DEVIATIONS = {('resnet50', 'depth'): (-0.11, -0.09), ('resnet50', 'width'): (0.07, 0.09)}


@pytest.mark.parametrize('name', sorted(BACKBONES))
def test_multipliers_one_are_timms_own_base_model(name):
    ours = timm.create_model(baseline_name(name)).eval()
    theirs = timm.create_model(name).eval()
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)
    features = timm.create_model(baseline_name(name), features_only=True)
    assert features.feature_info.channels() == timm.create_model(name, features_only=True).feature_info.channels()


def test_depth_and_width_round_as_each_family_does():
    resnet, mbv2 = get_backbone('resnet50'), get_backbone('mobilenetv2_100')
    assert resnet.stage_repeats(1.4) == (5, 6, 9, 5) and resnet.stage_repeats(4) == (12, 16, 24, 12)
    assert resnet.stage_channels(2)[0] == 128 and resnet.stage_channels(1)[-1] == 2048
    assert mbv2.stage_repeats(1.0) == (1, 2, 3, 4, 3, 3, 1)
    assert mbv2.stage_channels(0.5)[-1] == 1280  # MobileNetV2's head never narrows below 1280
    assert mbv2.network_key(1.0, 1.0, 32) != get_backbone('efficientnet_b0').network_key(1.0, 1.0, 32)
    model = timm.create_model('effscale_resnet50_depth', num_classes=10)
    assert [len(getattr(model, f'layer{i}')) for i in range(1, 5)] == [12, 16, 24, 12]


@pytest.mark.parametrize('backbone', sorted(TABLE3))
@pytest.mark.parametrize('axis', ['depth', 'width', 'resolution', 'compound'])
def test_table3_variants_measure_the_papers_multiply_adds(backbone, axis):
    """Measured at 224 px, 1000 classes, as the paper counts (conv + linear multiply-adds)."""
    table = {r['axis']: r['macs_b'] for r in reference_table(TABLE3[backbone])['rows']}
    base = macs_of(1.0, 1.0, 224, backbone=backbone) / 1e9
    assert base == pytest.approx(table['baseline'], rel=0.05)
    spec = VARIANTS[f'effscale_{backbone}_{axis}']
    ours = macs_of(spec.depth, spec.width, round_resolution(spec.resolution, 224), backbone=backbone) / 1e9
    low, high = KNOWN_DEVIATIONS.get((backbone, axis), (-0.05, 0.05))
    assert low <= ours / table[axis] - 1 <= high, (ours, table[axis])
    if axis == 'compound':  # FLOP-matched as a ratio to each study's own baseline
        assert ours / base == pytest.approx(table['compound'] / table['baseline'], rel=0.05)
        assert spec.depth == pytest.approx(1.2 ** TABLE3_COMPOUND_PHI[backbone])


def test_any_backbone_scales_through_scaled_model_and_register_variant():
    model = scaled_model('mobilenetv2_100', depth=1.5, width=0.75, resolution=1.25, num_classes=10, in_chans=1,
                         base_resolution=32)
    assert model.pretrained_cfg['input_size'] == (1, 40, 40)
    assert model.pretrained_cfg['scaling']['backbone'] == 'mobilenetv2_100'
    name = register_variant('test_backbone_resnet_wide', depth=1.0, width=1.5, resolution=1.0, backbone='resnet50')
    assert timm.create_model(name, num_classes=3).fc.out_features == 3 and VARIANTS[name].dropout == 0.0
    assert resolve_variant(name) is VARIANTS[name]
    with pytest.raises(ValueError, match='already registered'):
        resolve_variant(name, backbone='mobilenetv2_100')
    with pytest.raises(ValueError, match='unknown backbone'):
        scaled_model('vgg16')
    assert 'effscale_resnet50_compound' in timm.list_models('effscale_*')
    assert effscale_timm.VARIANTS['effscale_mobilenetv2_100_width'].width == 2.0 and math.isfinite(
        VARIANTS['effscale_resnet50_compound'].resolution)


def test_table3_config_is_valid_and_compares_within_each_backbone():
    """config/table3.yaml: valid, both backbones' Table 3 rows, a FLOP-match block per compound model (solving them
    takes minutes; the README's dry run does it)."""
    import yaml

    from conftest import ROOT
    from effscale_timm.config import check_config, flop_match_blocks, validate_config, variant_names

    config = validate_config(yaml.safe_load((ROOT / 'config/table3.yaml').read_text()),
                             ROOT / 'workflow/schemas/config.schema.yaml')
    check_config(config)
    names = variant_names(config)
    for backbone in TABLE3:
        for axis in ('', '_depth', '_width', '_resolution', '_compound'):
            assert f'effscale_{backbone}{axis}' in names
        assert {f'effscale_{backbone}_compound_{a}_matched' for a in ('depth', 'width', 'resolution')} <= set(names)
    assert [b['target'] for b in flop_match_blocks(config)] == [f'effscale_{b}_compound' for b in sorted(TABLE3)]
