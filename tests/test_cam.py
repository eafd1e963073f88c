"""Grad-CAM: model files round-trip, every variant of a study gets the same layer and it is not 1 x 1, maps are
valid, the grid is drawn."""
import argparse

import numpy as np
import pytest
import timm
import torch

import effscale_timm
from effscale_timm.cam import (FLAT_EPS, add_arguments, candidate_layers, compute_cams, grad_cam, layer_by_name,
                               pick_images, preprocess, run_cli, select_stage)
from effscale_timm.data.prepared import checksum_path, sha256_file
from effscale_timm.files.cam_file import load_cam, save_cam
from effscale_timm.files.model_file import load_trained_model
from effscale_timm.report.figures import cam_grid

VARIANTS = ['effscale_b0', 'effscale_depth_b0', 'effscale_width_b0', 'effscale_resolution_b0', 'effscale_compound_b0']
NUM_CLASSES, PER_CLASS_IN_DATA, BASE = 10, 3, 32
CLASSES = [f'class{i}' for i in range(NUM_CLASSES)]
MEAN, STD = [0.45], [0.22]


pytestmark = pytest.mark.usefixtures('one_thread')


@torch.no_grad()
def _calibrate_batch_norm(model, generator):
    """Set batch-norm statistics from one batch, as training would. With the initial running statistics (mean 0,
    variance 1) a random deep network's eval-mode activations decay to denormal floats, which makes CPU convolutions
    10-100x slower; a trained network has calibrated statistics."""
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # cumulative average: one batch sets the statistics
    px = model.pretrained_cfg['input_size'][-1]
    model.train()(torch.randn(16, 1, px, px, generator=generator))
    model.eval()


def _save_model(path, variant, spec=None, seed=0, base=BASE):
    """A random-init model with calibrated batch norm, in the trainer's model.pt format."""
    known = effscale_timm.VARIANTS.get(variant)
    spec = spec or {k: getattr(known, k) for k in ('depth', 'width', 'resolution', 'dropout')}
    torch.manual_seed(seed)
    if variant in effscale_timm.VARIANTS:
        model = timm.create_model(variant, num_classes=NUM_CLASSES, in_chans=1, base_resolution=base)
    else:  # a custom variant trained in another process: not registered in this one
        model = effscale_timm.scaled_efficientnet(**spec, base_resolution=base, num_classes=NUM_CLASSES, in_chans=1)
    _calibrate_batch_norm(model, torch.Generator().manual_seed(seed))
    torch.save({'variant': variant, 'spec': spec, 'num_classes': NUM_CLASSES, 'in_chans': 1, 'base_resolution': base,
                'input_size': model.pretrained_cfg['input_size'][-1], 'mean': MEAN, 'std': STD, 'classes': CLASSES,
                'state_dict': model.state_dict()}, path)
    return model.eval()


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp('cam')
    rng = np.random.default_rng(0)
    labels = rng.permutation(np.repeat(np.arange(NUM_CLASSES), PER_CLASS_IN_DATA)).astype(np.int64)
    images = rng.integers(0, 256, size=(len(labels), 1, BASE, BASE), dtype=np.uint8)
    data = root / 'data.npz'
    np.savez(data, x_test=images, y_test=labels, classes=np.asarray(CLASSES), mean=np.asarray(MEAN),
             std=np.asarray(STD))
    checksum_path(data).write_text(f'{sha256_file(data)}  {data.name}\n')  # as `effscale prepare` records it
    models = {}
    for i, variant in enumerate(VARIANTS):
        models[variant] = root / variant / 'seed0' / 'model.pt'
        models[variant].parent.mkdir(parents=True)
        _save_model(models[variant], variant, seed=i)
    return {'root': root, 'data': data, 'models': models, 'images': images, 'labels': labels}


@pytest.fixture(scope='module')
def cams(files):
    return compute_cams([files['models'][v] for v in VARIANTS], files['data'])


def test_load_trained_model_round_trip(tmp_path):
    path = tmp_path / 'model.pt'
    spec = {'depth': 1.2, 'width': 0.5, 'resolution': 1.25, 'dropout': 0.1}
    original = _save_model(path, 'camtest_custom', spec=spec)
    assert 'camtest_custom' not in effscale_timm.VARIANTS
    model, meta = load_trained_model(path)
    assert 'state_dict' not in meta and meta['input_size'] == 40 and meta['classes'] == CLASSES
    assert not model.training and effscale_timm.VARIANTS['camtest_custom'].width == 0.5
    x = torch.randn(2, 1, 40, 40)
    with torch.no_grad():
        assert torch.equal(model(x), original(x))


@pytest.mark.parametrize('variant', VARIANTS)
def test_every_variant_of_a_study_gets_the_same_stage(variant):
    """The layer depends on the base resolution only: blocks.4 (stride 16, B0's map 2 x 2) at base 32 for every
    variant, whatever its depth, width and input size; the head (7 x 7 for B0) at base 224."""
    model = timm.create_model(variant, num_classes=NUM_CLASSES, in_chans=1, base_resolution=BASE).eval()
    name, stride, rule = select_stage(model, BASE, 1)
    assert (name, stride) == ('blocks.4', 16) and 'base resolution 32 px' in rule and '2 x 2' in rule
    assert select_stage(model, 224, 1)[:2] == ('bn2', 32)
    assert select_stage(model, BASE, 1, min_size=4)[:2] == ('blocks.2', 8)  # a larger minimum map goes shallower


def test_candidate_layers_and_names():
    model = timm.create_model('effscale_depth_b0', num_classes=NUM_CLASSES, in_chans=1, base_resolution=BASE)
    assert [(n, s) for n, _, s in candidate_layers(model)] == [
        ('blocks.0', 2), ('blocks.1', 4), ('blocks.2', 8), ('blocks.4', 16), ('blocks.6', 32), ('bn2', 32)]
    assert layer_by_name(model, 'blocks.4') == (model.blocks[4], 16)
    with pytest.raises(ValueError, match=r"stage must be one of \['blocks.0'.*got 'blocks.3'"):
        layer_by_name(model, 'blocks.3')


def test_head_layer_at_32px_gives_constant_maps(files):
    """Why the layer choice matters: at 32 px the head's map is 1 x 1 and Grad-CAM is flat."""
    model, meta = load_trained_model(files['models']['effscale_b0'])
    x = preprocess(files['images'][:4], meta['input_size'], MEAN, STD)
    maps = grad_cam(model, model.bn2, x, [0, 1, 2, 3])
    assert np.ptp(maps, axis=(1, 2)).max() < 1e-6


def test_pick_images_is_fixed_and_per_class(files):
    labels = files['labels']
    first = pick_images(labels, per_class=1)
    assert list(labels[first]) == list(range(NUM_CLASSES))
    assert all(i == np.flatnonzero(labels == labels[i])[0] for i in first)
    two = pick_images(labels, per_class=2, seed=3)
    assert np.array_equal(two, pick_images(labels, per_class=2, seed=3)) and len(two) == 2 * NUM_CLASSES
    assert list(labels[two]) == sorted(list(range(NUM_CLASSES)) * 2)


# The map each variant's layer (blocks.4, stride 16, for all of them) gives at the variant's own input size.
FEATURE_SIZES = {'effscale_b0': (2, 2), 'effscale_depth_b0': (2, 2), 'effscale_width_b0': (2, 2),
                 'effscale_resolution_b0': (4, 4), 'effscale_compound_b0': (3, 3)}


def test_cams_valid_for_every_variant(files, cams):
    """What a user relies on, whatever the numerics of an (untrained) network: the same images for every variant,
    maps of the right shape in [0, 1], the same documented layer, predictions that are the model's, and a flat map
    reported as flat. Whether a random network's maps are flat depends on the CPU's kernels, so it is not asserted;
    test_grad_cam_of_a_model_with_known_maps checks non-flat maps on a model whose maps are known."""
    indices = pick_images(files['labels'])
    assert cams['variants'] == VARIANTS and 'base resolution 32 px' in cams['stage_rule']
    assert np.array_equal(cams['indices'], indices) and np.array_equal(cams['images'], files['images'][indices])
    assert np.array_equal(cams['labels'], files['labels'][indices])
    assert cams['input_sizes'] == {'effscale_b0': 32, 'effscale_depth_b0': 32, 'effscale_width_b0': 32,
                                   'effscale_resolution_b0': 64, 'effscale_compound_b0': 40}
    for variant in VARIANTS:
        maps = cams['cams'][variant]
        assert maps.shape == (NUM_CLASSES, BASE, BASE) and maps.dtype == np.float32
        assert np.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1
        assert np.array_equal(cams['flat'][variant], np.ptp(maps, axis=(1, 2)) < FLAT_EPS), variant
        assert (cams['target_layers'][variant], cams['target_strides'][variant]) == ('blocks.4', 16), variant
        assert cams['feature_sizes'][variant] == FEATURE_SIZES[variant], variant
        model, meta = load_trained_model(files['models'][variant])
        with torch.no_grad():
            logits = model(preprocess(cams['images'], meta['input_size'], MEAN, STD))
        assert np.array_equal(cams['preds'][variant], logits.argmax(-1).numpy()), variant


class _KnownMaps(torch.nn.Module):
    """A model whose Grad-CAM is known exactly: the target layer (a 1 x 1 convolution of weight 1) passes the image
    through, and the class scores are +/- its mean. Class 0's gradient weight is positive, so its map is the image
    min-max scaled; class 1's is negative, so its map is ReLU(-image) = 0: flat."""

    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Conv2d(1, 1, 1, bias=False)
        torch.nn.init.ones_(self.layer.weight)

    def forward(self, x):
        mean = self.layer(x).mean(dim=(1, 2, 3))
        return torch.stack([mean, -mean], dim=1)


def test_grad_cam_of_a_model_with_known_maps():
    x = torch.linspace(0.1, 1.0, 2 * 8 * 8).reshape(2, 1, 8, 8)
    x[1] = x[1].flip(-1)  # another pattern in the second image
    model = _KnownMaps().eval()
    maps = grad_cam(model, model.layer, torch.cat([x, x]), [0, 0, 1, 1])
    scaled = (x[:, 0] - x.amin(dim=(1, 2, 3))[:, None, None]) / (x.amax(dim=(1, 2, 3)) - x.amin(dim=(1, 2, 3)))[
        :, None, None]
    np.testing.assert_allclose(maps[:2], scaled.numpy(), atol=1e-5)
    assert (np.ptp(maps[:2], axis=(1, 2)) > 0.99).all() and (maps[2:] == 0).all()


def test_a_flat_map_is_reported_flat(files, tmp_path):
    """A model with a zero classifier has zero gradients, hence all-zero maps on every machine: reported flat."""
    model = timm.create_model('effscale_b0', num_classes=NUM_CLASSES, in_chans=1, base_resolution=BASE)
    _calibrate_batch_norm(model, torch.Generator().manual_seed(0))
    torch.nn.init.zeros_(model.classifier.weight)
    torch.nn.init.zeros_(model.classifier.bias)
    path = tmp_path / 'model.pt'
    torch.save({'variant': 'effscale_b0', 'spec': {'depth': 1.0, 'width': 1.0, 'resolution': 1.0, 'dropout': 0.2},
                'num_classes': NUM_CLASSES, 'in_chans': 1, 'base_resolution': BASE, 'input_size': BASE, 'mean': MEAN,
                'std': STD, 'classes': CLASSES, 'state_dict': model.state_dict()}, path)
    result = compute_cams([path], files['data'])
    assert (result['cams']['effscale_b0'] == 0).all() and result['flat']['effscale_b0'].all()
    assert (result['preds']['effscale_b0'] == 0).all()  # all-equal logits: argmax is the first class


def test_save_load_and_grid(files, cams, tmp_path):
    paths = [save_cam(tmp_path / f'{v}.npz', cams, v) for v in VARIANTS]
    back = load_cam(paths[3])
    assert back['variant'] == 'effscale_resolution_b0' and back['target_layer'] == 'blocks.4'
    assert back['target_stride'] == 16 and back['stage_rule'] == cams['stage_rule']
    assert tuple(back['feature_size']) == (4, 4)
    assert back['input_size'] == 64 and back['classes'] == CLASSES
    assert np.array_equal(back['cam'], cams['cams']['effscale_resolution_b0'])
    png = cam_grid(paths, tmp_path / 'grid' / 'cams.png', CLASSES)
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and png.stat().st_size > 10_000
    other = dict(cams, indices=cams['indices'] + 1)
    save_cam(tmp_path / 'other.npz', other, 'effscale_b0')
    with pytest.raises(ValueError, match='other images'):
        cam_grid([paths[0], tmp_path / 'other.npz'], tmp_path / 'bad.png')
    shallow = dict(cams, target_layers=dict(cams['target_layers'], effscale_b0='blocks.2'))
    save_cam(tmp_path / 'shallow.npz', shallow, 'effscale_b0')
    with pytest.raises(ValueError, match='different layers'):
        cam_grid([paths[1], tmp_path / 'shallow.npz'], tmp_path / 'bad.png')


def test_models_of_another_base_resolution_need_a_shared_stage(files, tmp_path):
    """A model trained at base 64 would get the head (2 x 2 there) while base 32 gives blocks.4: refused, unless
    the stage or the base resolution is given, which puts both at the same layer."""
    other = _save_model(tmp_path / 'model.pt', 'effscale_b0', base=64)
    assert select_stage(other, 64, 1)[0] == 'bn2'
    paths = [files['models']['effscale_b0'], tmp_path / 'model.pt']
    with pytest.raises(ValueError, match='not comparable'):
        compute_cams(paths, files['data'])
    for kwargs in ({'base_resolution': BASE}, {'stage': 'blocks.4'}):
        result = compute_cams(paths, files['data'], **kwargs)
        assert set(result['target_layers'].values()) == {'blocks.4'}, kwargs
        assert list(result['feature_sizes'].values()) == [(2, 2), (4, 4)], kwargs


def test_cli_writes_one_variant(files, tmp_path):
    out = tmp_path / 'cam' / 'effscale_b0.npz'
    args = add_arguments(argparse.ArgumentParser()).parse_args(
        ['--model', str(files['models']['effscale_b0']), '--data', str(files['data']), '--out', str(out),
         '--per-class', '2', '--threads', '1', '--stage', 'blocks.2'])
    run_cli(args)
    back = load_cam(out)
    assert back['cam'].shape == (2 * NUM_CLASSES, BASE, BASE) and back['per_class'] == 2
    assert back['variant'] == 'effscale_b0' and np.isfinite(back['cam']).all()
    assert (back['target_layer'], back['target_stride'], tuple(back['feature_size'])) == ('blocks.2', 8, (4, 4))
