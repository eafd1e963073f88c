"""Imagenette through torchvision's own dataset class, on a small tree the test writes in torchvision's layout
(``imagenette2-320/{train,val}/<wnid>/*.JPEG``; nothing is downloaded): real pixels stored as centre squares at the
largest input any variant needs, never above the images' own size; a tree that is not Imagenette's is refused."""
import numpy as np
import pytest
from PIL import Image

from effscale_timm.config import ConfigError, check_config
from effscale_timm.data.prepared import load_prepared, prepare
from effscale_timm.data.sources import IMAGENETTE_CLASSES, DatasetError, imagenette

WNIDS = sorted(IMAGENETTE_CLASSES)


def imagenette_tree(root, sizes=((60, 48), (48, 56)), per_class=3, folder='imagenette2-320'):
    """A tiny Imagenette: per class ``per_class`` JPEGs of each (width, height) in ``sizes`` per split, each image a
    smooth gradient whose colour encodes its class."""
    rng = np.random.default_rng(0)
    for split in ('train', 'val'):
        for label, wnid in enumerate(WNIDS):
            (root / folder / split / wnid).mkdir(parents=True)
            for i in range(per_class):
                w, h = sizes[i % len(sizes)]
                ramp = np.linspace(0, 1, w)[None, :, None] * np.linspace(0.5, 1, h)[:, None, None]
                colour = np.array([label * 25, 255 - label * 20, (label * 60) % 255])
                pixels = np.clip(ramp * colour + rng.normal(0, 3, (h, w, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(root / folder / split / wnid / f'{wnid}_{i}.JPEG', quality=95)
    return root


def test_a_tree_in_torchvisions_layout_prepares_without_a_download(tmp_path):
    root = imagenette_tree(tmp_path / 'imagenette')
    arrays = imagenette(root, image_size=40, download=False)
    assert arrays['native_size'] == 48  # the smallest shorter side
    assert arrays['x_train'].shape == (30, 3, 40, 40) and arrays['x_test'].shape == (30, 3, 40, 40)
    assert arrays['classes'][0] == 'tench' and sorted(set(arrays['y_test'].tolist())) == list(range(10))
    capped = imagenette(root, image_size=400, download=False)
    assert capped['x_train'].shape[-1] == 48  # never above the images' own size: no pixel is invented


def test_prepare_records_the_native_size_and_carves_validation(tmp_path):
    root = imagenette_tree(tmp_path / 'imagenette', per_class=10)
    out = prepare('imagenette', tmp_path / 'imagenette.npz', root=root, image_size=44, val_fraction=0.2,
                  release='320px')
    data = load_prepared(out)
    assert int(data['native_size']) == 48 and data['x_train'].shape[-1] == 44
    assert len(data['y_val']) == 20 and len(data['y_train']) == 80 and len(data['y_test']) == 100
    with pytest.raises(ValueError, match='release applies to imagenette only'):
        prepare('digits', tmp_path / 'digits.npz', release='320px')


def test_a_tree_that_is_not_imagenettes_is_one_line(tmp_path):
    root = tmp_path / 'imagenette'
    (root / 'imagenette2-320' / 'train' / 'cats').mkdir(parents=True)
    with pytest.raises(DatasetError, match='not Imagenette\'s tree'):
        imagenette(root, download=False)
    config = dict(dataset='imagenette', dataset_root=str(root), seeds=[0], epochs=1, batch_size=8, recipe='fast',
                  device='cpu', base_resolution=32, variants=['effscale_b0'])
    with pytest.raises(ConfigError, match='^dataset_root: .*not Imagenette\'s tree'):
        check_config(config)
    with pytest.raises(ConfigError, match='^dataset_root: required for dataset imagenette'):
        check_config(dict(config, dataset_root=None))
    check_config(dict(config, dataset_root=str(tmp_path / 'not yet downloaded')))  # downloaded on first use
