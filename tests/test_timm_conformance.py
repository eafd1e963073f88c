"""effscale models are full timm models: side by side with timm's own ``efficientnet_b0`` (same weights loaded),
every ``timm.create_model`` keyword and model feature gives the same structure and the same outputs.

What a user relies on: anything written for timm's EfficientNet (detection/segmentation backbones via
``features_only``, ``forward_intermediates``, head surgery, grad checkpointing, TorchScript export, FX feature
extraction, loading timm weights) works unchanged on an ``effscale_*`` name. Inputs are 64 px to stay quick.
"""
import functools

import pytest
import timm
import torch
from timm.layers import GroupNormAct
from timm.models import create_feature_extractor, get_graph_node_names

import effscale_timm

PX = 64
pytestmark = pytest.mark.usefixtures('one_thread')


def _fresh(kwargs):
    """A copy of ``kwargs`` whose dict values are copies too (timm writes into ``feature_cfg``)."""
    return {k: dict(v) if isinstance(v, dict) else v for k, v in kwargs.items()}


def pair(ours='effscale_b0', theirs='efficientnet_b0', **kwargs):
    """(ours, timm's) built with the same keywords, ours loaded (strictly) with timm's weights, both in eval."""
    a = timm.create_model(ours, **_fresh(kwargs))
    b = timm.create_model(theirs, **_fresh(kwargs))
    a.load_state_dict(b.state_dict(), strict=True)
    return a.eval(), b.eval()


def image(chans=3, dtype=torch.float32, px=PX):
    return torch.randn(2, chans, px, px, generator=torch.Generator().manual_seed(0)).to(dtype)


def assert_same(a, b):
    """Equal nested outputs (tensors, lists, tuples, dicts) - same ops on the same weights."""
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_feature_info_printed_in_the_brief_matches_timm():
    ours = timm.create_model('effscale_b0', features_only=True)
    theirs = timm.create_model('efficientnet_b0', features_only=True)
    assert type(ours) is type(theirs)
    assert ours.feature_info.channels() == theirs.feature_info.channels() == [16, 24, 40, 112, 320]
    assert ours.feature_info.reduction() == theirs.feature_info.reduction() == [2, 4, 8, 16, 32]
    assert ours.feature_info.module_name() == theirs.feature_info.module_name()
    assert timm.create_model('effscale_b0').feature_info == timm.create_model('efficientnet_b0').feature_info


@pytest.mark.parametrize('i', [1, 4, 7])
def test_compound_family_features_match_timm(i):
    ours = timm.create_model(f'effscale_b{i}', features_only=True)
    theirs = timm.create_model(f'efficientnet_b{i}', features_only=True)
    assert ours.feature_info.get_dicts() == theirs.feature_info.get_dicts()
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}


@pytest.mark.parametrize('name', sorted(effscale_timm.VARIANTS))
def test_every_variant_features_agree_with_its_classifier_model(name):
    """features_only gives what the classification model's feature_info announces, at the announced sizes, and
    keeps the effscale pretrained_cfg (input at base_resolution, multipliers) minus the classifier entries."""
    full = timm.create_model(name, base_resolution=32)
    feats = timm.create_model(name, features_only=True, base_resolution=32, in_chans=1).eval()
    for key, got in (('num_chs', feats.feature_info.channels()), ('reduction', feats.feature_info.reduction()),
                     ('module', feats.feature_info.module_name())):
        assert got == [info[key] for info in full.feature_info]
    with torch.no_grad():
        outs = feats(image(chans=1))
    assert [o.shape[1] for o in outs] == feats.feature_info.channels()
    assert [PX // o.shape[-1] for o in outs] == feats.feature_info.reduction()
    cfg = feats.pretrained_cfg
    assert cfg['input_size'] == (1,) + full.pretrained_cfg['input_size'][1:] and cfg['mean'] == (0.5,)
    assert cfg['scaling'] == full.pretrained_cfg['scaling'] and cfg['scaling']['base_resolution'] == 32
    assert 'num_classes' not in cfg and 'classifier' not in cfg


@pytest.mark.parametrize('out_indices', [None, (1, 3), (4,), (0, 2, 4), (-1, -2)])
def test_features_only_outputs_match_timm(out_indices):
    kwargs = dict(features_only=True) if out_indices is None else dict(features_only=True, out_indices=out_indices)
    ours, theirs = pair(**kwargs)
    assert ours.feature_info.get_dicts() == theirs.feature_info.get_dicts()
    with torch.no_grad():
        a, b = ours(image()), theirs(image())
    assert_same(a, b)
    assert len(a) == len(out_indices or range(5))


@pytest.mark.parametrize('kwargs', [
    dict(feature_cls='hook'), dict(feature_cls='fx'), dict(feature_cls='getter'),
    dict(feature_cls='dict', feature_cfg=dict(flatten_sequential=True)),
    dict(feature_cfg=dict(flatten_sequential=True)), dict(feature_location='expansion'),
], ids=lambda kw: '-'.join(f'{k}={v}' for k, v in kw.items()))
def test_feature_wrappers_match_timm(kwargs):
    ours, theirs = pair(features_only=True, out_indices=(1, 3, 4), **kwargs)
    assert type(ours) is type(theirs)
    assert ours.feature_info.channels() == theirs.feature_info.channels()
    with torch.no_grad():
        assert_same(ours(image()), theirs(image()))
    assert ours.pretrained_cfg['scaling']['depth'] == 1.0


@pytest.mark.parametrize('kwargs', [
    dict(), dict(indices=2), dict(indices=[0, 2, 4], stop_early=True, intermediates_only=True),
    dict(extra_blocks=True), dict(indices=1, norm=True),
], ids=str)
def test_forward_intermediates_match_timm(kwargs):
    ours, theirs = pair()
    with torch.no_grad():
        assert_same(ours.forward_intermediates(image(), **kwargs), theirs.forward_intermediates(image(), **kwargs))


def test_prune_intermediate_layers_matches_timm():
    ours, theirs = pair()
    assert ours.prune_intermediate_layers([1, 2]) == theirs.prune_intermediate_layers([1, 2])
    assert {k for k, _ in ours.named_modules()} == {k for k, _ in theirs.named_modules()}
    with torch.no_grad():
        out = ours.forward_intermediates(image(), indices=[1, 2], intermediates_only=True)
        assert_same(out, theirs.forward_intermediates(image(), indices=[1, 2], intermediates_only=True))
    assert [o.shape[1] for o in out] == [24, 40]


def test_head_api_matches_timm():
    """forward_features / forward_head / classifier surgery / parameter groups behave as timm's."""
    ours, theirs = pair()
    x = image()
    with torch.no_grad():
        feats = ours.forward_features(x)
        assert_same(feats, theirs.forward_features(x))
        assert feats.shape == (2, 1280, PX // 32, PX // 32)
        assert_same(ours.forward_head(feats, pre_logits=True), theirs.forward_head(feats, pre_logits=True))
        assert ours.get_classifier().out_features == 1000
        assert ours.group_matcher() == theirs.group_matcher()
        assert ours.group_matcher(coarse=True) == theirs.group_matcher(coarse=True)
        ours.reset_classifier(5, 'max')
        assert ours.num_classes == 5 and ours(x).shape == (2, 5)
        ours.reset_classifier(0)
        assert ours(x).shape == (2, 1280)


@pytest.mark.parametrize('features_only', [False, True])
def test_grad_checkpointing_gives_timm_outputs_and_gradients(features_only):
    kwargs = dict(features_only=True) if features_only else dict(drop_rate=0.0)
    ours, theirs = pair(**kwargs)
    ours.train().set_grad_checkpointing(True)
    theirs.train()
    assert ours.grad_checkpointing
    outputs = []
    for model in (ours, theirs):
        out = model(image())
        loss = sum(o.square().mean() for o in out) if features_only else out.square().mean()
        loss.backward()
        outputs.append(out)
    assert_same(outputs[0], outputs[1])
    assert_same(ours.conv_stem.weight.grad, theirs.conv_stem.weight.grad)


@pytest.mark.filterwarnings('ignore:`torch.jit.script` is deprecated:FutureWarning')
@pytest.mark.parametrize('kwargs', [dict(), dict(features_only=True, out_indices=(2, 4)), dict(in_chans=1)],
                         ids=str)
def test_torchscript_matches_eager(kwargs):
    model = timm.create_model('effscale_b0', scriptable=True, **kwargs).eval()
    scripted = torch.jit.script(model)
    x = image(chans=kwargs.get('in_chans', 3))
    with torch.no_grad():
        assert_same(scripted(x), model(x))


def test_fx_feature_extraction_matches_timm():
    ours, theirs = pair(drop_rate=0.2)  # timm's default is 0: no dropout node in its graph
    assert get_graph_node_names(ours) == get_graph_node_names(theirs)
    nodes = {'blocks.2': 'stride8', 'conv_head': 'head', 'classifier': 'logits'}
    a = create_feature_extractor(ours, return_nodes=nodes)
    b = create_feature_extractor(theirs, return_nodes=nodes)
    with torch.no_grad():
        out = a(image())
        assert_same(out, b(image()))
    assert out['stride8'].shape == (2, 40, PX // 8, PX // 8) and out['logits'].shape == (2, 1000)


KEYWORDS = [
    dict(num_classes=7), dict(num_classes=0), dict(num_classes=0, global_pool=''), dict(in_chans=1),
    dict(in_chans=5), dict(drop_rate=0.5), dict(drop_path_rate=0.1), dict(global_pool='avgmax'),
    dict(bn_momentum=0.01, bn_eps=1e-3), dict(act_layer='relu'), dict(act_layer=torch.nn.GELU),
    dict(norm_layer=functools.partial(GroupNormAct, group_size=8)), dict(pad_type='same'),
    dict(fix_stem=True, stem_kernel_size=5), dict(output_stride=16), dict(group_size=8), dict(channel_divisor=16),
    dict(aa_layer='blurpc'), dict(scriptable=True), dict(exportable=True), dict(no_jit=True), dict(device='cpu'),
    dict(dtype=torch.float64), dict(pretrained_cfg_overlay=dict(crop_pct=1.0, interpolation='bilinear')),
    dict(features_only=True, num_classes=5, global_pool='max'),
    dict(features_only=True, in_chans=1, output_stride=16, out_indices=(2, 4)),
    dict(features_only=True, feature_cfg=dict(flatten_sequential=True, out_indices=(0, 3))),
]


@pytest.mark.parametrize('kwargs', KEYWORDS, ids=str)
def test_create_model_keywords_match_timm(kwargs):
    """Same modules (the repr shows every layer's type and hyper-parameters), same outputs, same attributes."""
    ours, theirs = pair(**kwargs)
    assert repr(ours) == repr(theirs)
    for attr in ('num_classes', 'drop_rate', 'in_chans'):
        if attr in kwargs and hasattr(theirs, attr):
            assert getattr(ours, attr) == getattr(theirs, attr)
    x = image(chans=kwargs.get('in_chans', 3), dtype=kwargs.get('dtype', torch.float32))
    with torch.no_grad():
        assert_same(ours(x), theirs(x))
    for key, value in kwargs.get('pretrained_cfg_overlay', {}).items():
        assert ours.pretrained_cfg[key] == theirs.pretrained_cfg[key] == value
    assert ours.pretrained_cfg['scaling']['width'] == 1.0


def test_effscale_defaults_differ_from_timm_only_where_documented():
    """The variant's dropout is the default; the cfg describes the model's input (channels, mean/std 0.5)."""
    assert timm.create_model('effscale_b4').drop_rate == 0.4 and timm.create_model('efficientnet_b4').drop_rate == 0
    ours = timm.create_model('effscale_b0', in_chans=1, base_resolution=32)
    assert ours.pretrained_cfg['input_size'] == (1, 32, 32)
    assert ours.pretrained_cfg['mean'] == ours.pretrained_cfg['std'] == (0.5,)
    overlay = timm.create_model('effscale_b0', pretrained_cfg_overlay=dict(input_size=(3, 96, 96), mean=(0.1,) * 3))
    assert overlay.pretrained_cfg['input_size'] == (3, 96, 96) and overlay.pretrained_cfg['mean'] == (0.1,) * 3


def test_checkpoint_and_pretrained_weights_load_as_in_timm(tmp_path):
    """timm's weight files load through create_model: checkpoint_path, and pretrained=True from a file with another
    num_classes (classifier dropped) and in_chans (stem adapted) - the fine-tuning path."""
    source = timm.create_model('efficientnet_b0')
    path = tmp_path / 'b0.pth'
    torch.save(source.state_dict(), path)
    loaded = timm.create_model('effscale_b0', checkpoint_path=str(path))
    assert_same(loaded.state_dict(), source.state_dict())

    kwargs = dict(pretrained=True, num_classes=10, in_chans=1, pretrained_cfg_overlay=dict(file=str(path)))
    ours, theirs = timm.create_model('effscale_b0', **_fresh(kwargs)), timm.create_model('efficientnet_b0', **kwargs)
    body = {k: v for k, v in ours.state_dict().items() if not k.startswith('classifier')}
    assert_same(body, {k: v for k, v in theirs.state_dict().items() if not k.startswith('classifier')})
    assert ours.classifier.out_features == 10 and ours.conv_stem.in_channels == 1
    assert ours.pretrained_cfg['input_size'] == (1, 224, 224) and ours.pretrained_cfg['num_classes'] == 1000

    feats = timm.create_model('effscale_b0', features_only=True, pretrained=True,
                              pretrained_cfg_overlay=dict(file=str(path)))
    assert_same(feats.blocks[6][0].conv_pwl.weight, source.blocks[6][0].conv_pwl.weight)
    with pytest.raises(RuntimeError, match='No pretrained weights'):
        timm.create_model('effscale_b0', pretrained=True)
