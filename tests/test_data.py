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
