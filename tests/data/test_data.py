"""Dataset sources and prepared files: real formats built by the tests, corrupt files, checksums, batches."""
import gzip
import pickle
import struct
import warnings

import numpy as np
import pytest
import torch

from effscale_timm.data import DatasetError, load_prepared, prepare, verify
from effscale_timm.data.device_batches import DeviceBatches
from effscale_timm.data.sources import DEBIAN_FASHION_MNIST, cifar, fashion_mnist, imagefolder, read_idx


def write_idx(path, array, compress=True):
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f'>{array.ndim}I', *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)


@pytest.fixture
def fashion_root(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (('train', 50), ('t10k', 20)):
        write_idx(tmp_path / f'{split}-images-idx3-ubyte.gz', rng.integers(0, 256, (n, 28, 28)))
        write_idx(tmp_path / f'{split}-labels-idx1-ubyte.gz', np.arange(n) % 10)
    return tmp_path


def test_idx_files_in_the_published_format(fashion_root):
    data = fashion_mnist(fashion_root, download=False)
    assert data['x_train'].shape == (50, 1, 28, 28) and data['x_test'].shape == (20, 1, 28, 28)
    assert data['y_train'].dtype == np.int64 and list(data['y_test'][:3]) == [0, 1, 2]
    assert data['classes'][0] == 'T-shirt/top'


def test_truncated_gz_names_the_file(fashion_root):
    path = fashion_root / 'train-images-idx3-ubyte.gz'
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DatasetError, match='train-images-idx3-ubyte.gz.*truncated or corrupt'):
        fashion_mnist(fashion_root, download=False)


def test_idx_shorter_than_its_header_says(tmp_path):
    path = tmp_path / 'x-idx3-ubyte'
    write_idx(path, np.zeros((4, 28, 28)), compress=False)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DatasetError, match='x-idx3-ubyte: header says'):
        read_idx(path)


def test_not_an_idx_file(tmp_path):
    path = tmp_path / 'junk-idx1-ubyte'
    path.write_bytes(b'hello world')
    with pytest.raises(DatasetError, match='bad magic'):
        read_idx(path)


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.exists(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_prepares_with_a_stratified_validation_split(tmp_path):
    out = prepare('fashion_mnist', tmp_path / 'fm.npz')
    data = load_prepared(out)
    assert len(data['y_train']) == 54000 and len(data['y_val']) == 6000 and len(data['y_test']) == 10000
    assert np.bincount(data['y_val']).tolist() == [600] * 10
    assert data['x_train'].dtype == np.uint8 and data['x_train'].shape[1:] == (1, 28, 28)
    assert 0.2 < float(data['mean'][0]) < 0.4


def write_cifar(root, n=30):
    folder = root / 'cifar-10-batches-py'
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f'data_batch_{i}' for i in range(1, 6)] + ['test_batch']:
        with open(folder / name, 'wb') as f:
            pickle.dump({b'data': rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                         b'labels': list(rng.integers(0, 10, n))}, f)
    with open(folder / 'batches.meta', 'wb') as f:
        pickle.dump({b'label_names': [f'c{i}'.encode() for i in range(10)]}, f)
    return folder


def test_cifar_batches_in_torchvision_format(tmp_path):
    write_cifar(tmp_path)
    data = cifar('cifar10', tmp_path, download=False)
    assert data['x_train'].shape == (150, 3, 32, 32) and data['x_test'].shape == (30, 3, 32, 32)
    assert data['classes'][:2] == ['c0', 'c1']


def test_corrupt_cifar_batch_names_the_file(tmp_path):
    folder = write_cifar(tmp_path)
    (folder / 'data_batch_3').write_bytes((folder / 'data_batch_3').read_bytes()[:1000])
    with pytest.raises(DatasetError, match='data_batch_3.*truncated or corrupt'):
        cifar('cifar10', tmp_path, download=False)


def test_imagefolder_skips_a_bad_image_with_a_warning(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(0)
    for cls in ('cat', 'dog'):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(tmp_path / cls / f'{i}.png')
    (tmp_path / 'dog' / 'broken.jpg').write_bytes(b'\xff\xd8\xff not really a jpeg')
    with pytest.warns(UserWarning, match='skipping unreadable image .*broken.jpg'):
        data = imagefolder(tmp_path, image_size=32)
    assert data['x_train'].shape == (6, 3, 32, 32) and data['classes'] == ['cat', 'dog']


def test_imagefolder_class_without_readable_images_is_an_error(tmp_path):
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'empty' / 'a.png').write_bytes(b'nope')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with pytest.raises(DatasetError, match='empty: no readable images'):
            imagefolder(tmp_path, image_size=32)


def write_flat_folder(root, counts, size=(12, 10)):
    """A flat ``root/class/i.png`` folder of single-colour images: red = class number, green = image number (a
    single colour survives resizing, so a prepared image still tells which file it came from)."""
    from PIL import Image
    for c, (cls, n) in enumerate(counts.items()):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(np.full((*size, 3), (c, i, 7), dtype=np.uint8)).save(root / cls / f'{i}.png')


def test_flat_image_folder_prepares_disjoint_stratified_train_val_test(tmp_path, caplog):
    """A flat folder (no train/ or test/) gets a test split carved, stratified, before validation; the CLI used to
    fail with KeyError 'x_test' here."""
    counts = {'ant': 20, 'bee': 30, 'test': 10}  # a class may be called 'test' in a flat folder
    write_flat_folder(tmp_path / 'flat', counts)
    with caplog.at_level('INFO', logger='effscale_timm.data.prepared'):
        out = prepare('imagefolder', tmp_path / 'flat.npz', root=tmp_path / 'flat', image_size=8, val_fraction=0.2)
    assert 'no test split: carved a stratified test split of 12 images' in caplog.text
    data = load_prepared(out)
    assert list(data['classes']) == ['ant', 'bee', 'test']
    splits = {s: data[f'y_{s}'] for s in ('train', 'val', 'test')}
    assert np.bincount(splits['test']).tolist() == [4, 6, 2]  # 20% of each class
    assert np.bincount(splits['val']).tolist() == [3, 5, 2]  # 20% of each class's remaining images
    assert np.bincount(splits['train']).tolist() == [13, 19, 6]
    ids = {s: {(int(x[0, 0, 0]), int(x[1, 0, 0])) for x in data[f'x_{s}']} for s in splits}  # (class, index)
    assert sum(len(v) for v in ids.values()) == sum(counts.values())  # every image once, none twice
    assert not (ids['train'] & ids['val'] or ids['train'] & ids['test'] or ids['val'] & ids['test'])
    for s, labels in splits.items():
        assert [c for c, _ in sorted(ids[s])] == sorted(labels.tolist())  # images keep their labels
    again = load_prepared(prepare('imagefolder', tmp_path / 'again.npz', root=tmp_path / 'flat', image_size=8,
                                  val_fraction=0.2))
    assert all(np.array_equal(data[k], again[k]) for k in ('x_train', 'x_val', 'x_test'))  # reproducible


def test_flat_image_folder_with_too_few_images_per_class_is_an_error(tmp_path):
    write_flat_folder(tmp_path / 'flat', {'ant': 5, 'bee': 2})
    with pytest.raises(DatasetError, match=r'bee \(2\) have fewer than 3 images'):
        prepare('imagefolder', tmp_path / 'flat.npz', root=tmp_path / 'flat', image_size=8)
    assert not (tmp_path / 'flat.npz').exists()


def test_prepared_file_checksum_detects_corruption(digits_npz, tmp_path):
    copy = tmp_path / 'd.npz'
    copy.write_bytes(digits_npz.read_bytes())
    (tmp_path / 'd.npz.sha256').write_text(digits_npz.with_name('digits.npz.sha256').read_text())
    assert verify(copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 1
    copy.write_bytes(bytes(data))
    assert not verify(copy)
    with pytest.raises(DatasetError, match='checksum mismatch'):
        load_prepared(copy)


def test_killed_preparation_leaves_no_partial_file(tmp_path, monkeypatch):
    def dies(*args, **kwargs):
        raise KeyboardInterrupt  # as a kill in the middle of writing
    monkeypatch.setattr(np, 'savez', dies)
    with pytest.raises(KeyboardInterrupt):
        prepare('digits', tmp_path / 'digits.npz')
    assert not (tmp_path / 'digits.npz').exists() and not (tmp_path / 'digits.npz.sha256').exists()


def test_device_batches_augment_reproducibly(digits_npz):
    data = load_prepared(digits_npz)

    def first_batch(seed):
        g = torch.Generator().manual_seed(seed)
        batches = DeviceBatches(data['x_train'], data['y_train'], 'cpu', 40, data['mean'], data['std'], 16,
                                train=True, generator=g)
        return next(iter(batches))

    (x1, y1), (x2, y2), (x3, _) = first_batch(0), first_batch(0), first_batch(1)
    assert x1.shape == (16, 1, 40, 40) and x1.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(x1, x2) and torch.equal(y1, y2) and not torch.equal(x1, x3)
    evals = DeviceBatches(data['x_test'], data['y_test'], 'cpu', 32, data['mean'], data['std'], 100)
    assert sum(len(y) for _, y in evals) == len(data['y_test'])  # evaluation sees every image once
    x, _ = next(iter(evals))
    assert abs(float(x.mean())) < 0.5  # normalised with the training mean and std


def test_image_folder_keeps_its_native_pixels_up_to_the_largest_input(tmp_path):
    """Real pixels: stored at the images' own side when the variants need more, capped when they need less."""
    write_flat_folder(tmp_path / 'imgs', {'a': 6, 'b': 6}, size=(40, 48))
    big = load_prepared(prepare('imagefolder', tmp_path / 'big.npz', root=tmp_path / 'imgs', image_size=64))
    assert big['x_train'].shape[-2:] == (48, 48) and int(big['native_size']) == 48
    small = load_prepared(prepare('imagefolder', tmp_path / 'small.npz', root=tmp_path / 'imgs', image_size=32))
    assert small['x_train'].shape[-2:] == (32, 32) and int(small['native_size']) == 48


# --- RandAugment and random erasing on device batches -------------------------------------------------------------

def _smooth_images(n=8, size=32, channels=3, seed=0):
    """Natural-looking uint8 images (low-frequency colour fields): geometric ops move content, not noise."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, channels, 6, 6, generator=g) * 255
    up = torch.nn.functional.interpolate(low, size=(size, size), mode='bicubic', align_corners=False)
    return up.clamp(0, 255).round().to(torch.uint8)


MEAN3, STD3 = [0.5, 0.4, 0.3], [0.25, 0.25, 0.25]


def _train_batches(x, aa=None, re_prob=0.0, seed=0, batch=16, size=40):
    g = torch.Generator().manual_seed(seed)
    return DeviceBatches(x, np.arange(len(x)) % 10, 'cpu', size, MEAN3, STD3, batch, train=True, generator=g,
                         auto_augment=aa, re_prob=re_prob), g


def test_parse_rand_augment_strings_like_timm():
    from effscale_timm.data.augment import RandAugmentConfig, parse_rand_augment
    assert parse_rand_augment('rand-m9-mstd0.5') == RandAugmentConfig(magnitude=9, magnitude_std=0.5)
    cfg = parse_rand_augment('rand-n3-m7-p0.8-mstd101-mmax15-inc1')
    assert (cfg.num_layers, cfg.magnitude, cfg.prob, cfg.magnitude_max, cfg.increasing) == (3, 7, 0.8, 15, True)
    assert cfg.magnitude_std == float('inf') and cfg.ops[4] == 'PosterizeIncreasing'  # mstd > 100: uniform
    with pytest.raises(ValueError, match='must be a RandAugment string'):
        parse_rand_augment('')  # DeviceBatches(auto_augment='') means none, as in timm


@pytest.mark.parametrize('text, message', [
    ('v0', 'only RandAugment'), ('augmix-m5', 'only RandAugment'), ('original-mstd0.5', 'only RandAugment'),
    ('rand-m9-foo1', "section 'foo1'"), ('rand-mx', "section 'mx'"), ('rand-tweights', "section 'tweights'"),
    ('rand-m9.5', "'m9.5' needs an integer"), ('rand-p1.5', '0 <= p <= 1'), ('rand-n0', 'n >= 1')])
def test_rand_augment_string_errors_are_clear(text, message):
    with pytest.raises(ValueError, match=message):
        _train_batches(_smooth_images(), aa=text)


def test_device_batches_with_randaugment_and_erasing_reproduce_from_the_generator_state():
    x = _smooth_images(64).numpy()
    plain, _ = _train_batches(x)
    augmented, g = _train_batches(x, aa='rand-m9-mstd0.5', re_prob=0.2)
    (xa, ya), (xp, yp) = next(iter(augmented)), next(iter(plain))
    assert xa.shape == xp.shape == (16, 3, 40, 40) and xa.dtype == torch.float32 and xa.device == xp.device
    assert xa.is_contiguous(memory_format=torch.channels_last) and torch.equal(ya, yp)
    assert not torch.equal(xa, xp)
    state = g.get_state()  # as a checkpoint saves it
    first = [b for b, _ in augmented]
    g.set_state(state)
    again = [b for b, _ in augmented]
    assert all(torch.equal(a, b) for a, b in zip(first, again)) and len(first) == 4
    assert not torch.equal(first[0], first[1])


def test_randaugment_ops_agree_with_timms_pil_ops():
    """Each op at magnitude 0, 5 and 9, with either sign, takes the argument timm's LEVEL_TO_ARG gives and agrees with
    timm's PIL op on the same images to within one grey level (rounding)."""
    import random
    from PIL import Image
    from timm.data.auto_augment import LEVEL_TO_ARG, NAME_TO_OP
    from effscale_timm.data.augment import RAND_OPS, DeviceRandAugment, op_arguments
    images, fill = _smooth_images(4), (128, 102, 77)
    hparams = {'translate_const': 14, 'img_mean': fill}
    for ra in (DeviceRandAugment('rand', MEAN3), DeviceRandAugment('rand-inc1', MEAN3)):
        for k, name in enumerate(ra.config.ops):
            if ra.config.increasing and name in RAND_OPS:
                continue  # checked in the default set
            for magnitude, seed in ((0.0, 0), (5.0, 1), (9.0, 2), (9.0, 3)):
                random.seed(seed)
                negate = random.random() > 0.5  # timm's _randomly_negate, replayed
                random.seed(seed)
                expected = LEVEL_TO_ARG[name](magnitude, hparams) if LEVEL_TO_ARG[name] else ()
                arg = op_arguments(name, torch.full((4,), magnitude), torch.full((4,), negate))
                if expected:
                    assert float(arg[0]) == pytest.approx(expected[0]), (name, magnitude)
                if name.startswith('Posterize') and expected[0] < 1:
                    continue  # current Pillow refuses 0 bits; ours gives black
                pil = [NAME_TO_OP[name](Image.fromarray(im.permute(1, 2, 0).numpy()), *expected, fillcolor=fill,
                                        resample=Image.BILINEAR) for im in images]
                ref = torch.from_numpy(np.stack([np.asarray(p) for p in pil])).permute(0, 3, 1, 2)
                ours = images.clone()
                ra.apply_layer(ours, torch.full((4,), k), torch.ones(4, dtype=torch.bool),
                               torch.full((4,), magnitude, dtype=torch.float64), torch.full((4,), negate))
                assert (ours.int() - ref.int()).abs().max() <= 1, (name, magnitude, negate)


IDENTITY_AT_ZERO = ('Rotate', 'ShearX', 'ShearY', 'TranslateXRel', 'TranslateYRel', 'SolarizeAdd', 'SolarizeIncreasing',
                    'ColorIncreasing', 'ContrastIncreasing', 'BrightnessIncreasing', 'SharpnessIncreasing')


@pytest.mark.parametrize('name', IDENTITY_AT_ZERO)
def test_magnitude_zero_leaves_images_unchanged(name):
    """timm's magnitude scale: at 0 these ops are the identity. (In timm's default set Posterize, Solarize and the
    non-increasing enhance ops are strongest at 0, and AutoContrast, Equalize, Invert ignore the magnitude.)"""
    from effscale_timm.data.augment import DeviceRandAugment
    ra = DeviceRandAugment('rand-m0-inc1', MEAN3)
    images = _smooth_images(6)
    out = images.clone()
    ra.apply_layer(out, torch.full((6,), ra.config.ops.index(name)), torch.ones(6, dtype=torch.bool),
                   torch.zeros(6, dtype=torch.float64), torch.tensor([True, False] * 3))
    assert torch.equal(out, images)
    ra.apply_layer(out, torch.full((6,), ra.config.ops.index(name)), torch.ones(6, dtype=torch.bool),
                   torch.full((6,), 9.0, dtype=torch.float64), torch.tensor([True, False] * 3))
    assert not torch.equal(out, images)  # and at magnitude 9 they are not


def test_random_erasing_erases_one_box_of_timms_size_per_image():
    x = _smooth_images(32).numpy()
    (plain, _), (erased, _) = next(iter(_train_batches(x, batch=32)[0])), next(iter(_train_batches(x, re_prob=1.0,
                                                                                                   batch=32)[0]))
    changed = (plain != erased).any(dim=1)  # N x H x W: same crops and flips, so only the boxes differ
    for mask in changed:
        rows, cols = torch.nonzero(mask.any(1)).flatten(), torch.nonzero(mask.any(0)).flatten()
        box = mask[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
        assert box.float().mean() > 0.95  # a rectangle (noise may equal a pixel by chance: never here)
        assert 0.02 * 0.9 <= box.numel() / mask.numel() <= 1 / 3 + 0.05
    assert (changed.flatten(1).float().mean(1) > 0).all()
    with pytest.raises(ValueError, match='re_prob must be in'):
        _train_batches(x, re_prob=1.5)


def test_prepared_data_passes_augmentation_to_the_training_batches_only(digits_npz):
    import timm
    from effscale_timm.data.training_data import PreparedData
    model = timm.create_model('effscale_b0', num_classes=10, in_chans=1, base_resolution=32)
    splits = PreparedData(digits_npz).splits(model, 16, 64, 'cpu', torch.Generator().manual_seed(0),
                                             auto_augment='rand-m9-mstd0.5', re_prob=0.25)
    assert splits.train.rand_augment.config.magnitude == 9 and splits.train.re_prob == 0.25
    assert splits.val.rand_augment is None and splits.test.re_prob == 0.0
    x, _ = next(iter(splits.train))
    assert x.shape == (16, 1, 32, 32) and torch.isfinite(x).all()


def test_folder_data_passes_augmentation_to_timms_transform(tmp_path):
    import timm
    from PIL import Image
    from timm.data.auto_augment import RandAugment
    from timm.data.random_erasing import RandomErasing
    from effscale_timm.data.folder_loader import FolderData
    rng = np.random.default_rng(0)
    for split in ('train', 'val'):
        for cls in ('a', 'b'):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(2):
                image = rng.integers(0, 256, (36, 36, 3), dtype=np.uint8)
                Image.fromarray(image).save(tmp_path / split / cls / f'{i}.png')
    model = timm.create_model('effscale_b0', num_classes=2, base_resolution=32)
    splits = FolderData(tmp_path).splits(model, 2, 4, 'cpu', torch.Generator().manual_seed(0), workers=0,
                                         auto_augment='rand-m9-mstd0.5', re_prob=0.2)
    train_tf = splits.train.loader.dataset.transform.transforms
    erasing = [t for t in train_tf if isinstance(t, RandomErasing)]
    assert any(isinstance(t, RandAugment) for t in train_tf) and erasing[0].probability == 0.2
    assert erasing[0].mode == 'pixel'
    assert not any(isinstance(t, (RandAugment, RandomErasing)) for t in splits.val.loader.dataset.transform.transforms)
    x, _ = next(iter(splits.train))
    assert x.shape == (2, 3, 32, 32)
