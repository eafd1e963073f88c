"""Dataset sources: read real datasets in their published formats into uint8 arrays.

Every reader returns ``{'x_train', 'y_train', 'x_test', 'y_test', 'classes'}`` with images as uint8 N x C x H x W
and labels as int64, except an image folder without a ``test/`` folder, which has no ``x_test``/``y_test``
(:func:`effscale_timm.data.prepared.prepare` carves a stratified test split from its images). A truncated or corrupt
file raises :class:`DatasetError` naming the file. Downloads use torchvision's download helpers and happen only when
the files are absent (tests never download).
"""
from __future__ import annotations

import gzip
import logging
import os
import pickle
import struct
import warnings
import zlib
from pathlib import Path
from typing import Callable, Dict, Optional

import numpy as np

from ..errors import EffscaleError

_logger = logging.getLogger(__name__)

DEBIAN_FASHION_MNIST = Path('/usr/share/datasets/fashion-mnist')
FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag',
                         'Ankle boot']
FASHION_MNIST_FILES = {
    'x_train': 'train-images-idx3-ubyte', 'y_train': 'train-labels-idx1-ubyte',
    'x_test': 't10k-images-idx3-ubyte', 'y_test': 't10k-labels-idx1-ubyte',
}
IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.ppm', '.tif', '.tiff', '.webp')


class DatasetError(EffscaleError, ValueError):
    """A dataset file is missing, truncated or corrupt; the message names the file."""


def read_idx(path: os.PathLike) -> np.ndarray:
    """Read an IDX file (MNIST format), gzip-compressed or not.

    Raises:
        DatasetError: the file is truncated, not gzip/IDX, or its size disagrees with its header.
    """
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == '.gz' else path.read_bytes()
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise DatasetError(f'{path}: cannot read ({type(e).__name__}: {e}); the file is truncated or corrupt, '
                           f'delete it and download again') from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DatasetError(f'{path}: not an IDX file of unsigned bytes (bad magic number)')
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f'{path}: truncated IDX header')
    shape = struct.unpack(f'>{ndim}I', raw[4:header])
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise DatasetError(f'{path}: header says {shape} = {expected} bytes of data, file has {len(raw) - header}; '
                           f'the file is truncated or corrupt')
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find_idx(root: Path, stem: str) -> Optional[Path]:
    for name in (stem + '.gz', stem, stem.replace('-idx', '.idx')):
        for folder in (root, root / 'FashionMNIST' / 'raw'):
            if (folder / name).exists():
                return folder / name
    return None


def fashion_mnist(root: Optional[os.PathLike] = None, download: bool = True) -> Dict[str, np.ndarray]:
    """Real Fashion-MNIST (70,000 28x28 grey images, 10 classes).

    Looks in ``root``, then in Debian's ``dataset-fashion-mnist`` folder; downloads with torchvision into ``root``
    only when neither has the four IDX files.
    """
    roots = [Path(root)] if root else []
    roots.append(DEBIAN_FASHION_MNIST)
    for folder in roots:
        found = {k: _find_idx(folder, v) for k, v in FASHION_MNIST_FILES.items()}
        if all(found.values()):
            break
    else:
        if not (root and download):
            raise DatasetError(f'Fashion-MNIST IDX files not found in {", ".join(map(str, roots))}; install the '
                               f'Debian package dataset-fashion-mnist or give a root to download into')
        from torchvision.datasets import FashionMNIST
        _logger.info('downloading Fashion-MNIST into %s', root)
        FashionMNIST(str(root), train=True, download=True)
        folder = Path(root) / 'FashionMNIST' / 'raw'
        found = {k: _find_idx(folder, v) for k, v in FASHION_MNIST_FILES.items()}
    arrays = {k: read_idx(p) for k, p in found.items()}
    for split in ('train', 'test'):
        x, y = arrays[f'x_{split}'], arrays[f'y_{split}']
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DatasetError(f'{found["x_" + split]}: images {x.shape} and labels {y.shape} do not match')
        arrays[f'x_{split}'] = x[:, None].copy()
        arrays[f'y_{split}'] = y.astype(np.int64)
    arrays['classes'] = list(FASHION_MNIST_CLASSES)
    return arrays


def _read_cifar_batch(path: Path, label_key: bytes) -> tuple:
    try:
        with open(path, 'rb') as f:
            entry = pickle.load(f, encoding='bytes')
        data = np.asarray(entry[b'data'], dtype=np.uint8)
        labels = np.asarray(entry[label_key], dtype=np.int64)
    except FileNotFoundError as e:
        raise DatasetError(f'{path}: missing CIFAR batch file') from e
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise DatasetError(f'{path}: cannot read CIFAR batch ({type(e).__name__}: {e}); the file is truncated or '
                           f'corrupt, delete it and download again') from e
    if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
        raise DatasetError(f'{path}: CIFAR batch has data {data.shape} and {len(labels)} labels, '
                           f'expected N x 3072 and N labels')
    return data.reshape(-1, 3, 32, 32), labels


CIFAR = {
    'cifar10': dict(folder='cifar-10-batches-py', train=[f'data_batch_{i}' for i in range(1, 6)], test=['test_batch'],
                    meta='batches.meta', names=b'label_names', labels=b'labels', tv='CIFAR10'),
    'cifar100': dict(folder='cifar-100-python', train=['train'], test=['test'], meta='meta',
                     names=b'fine_label_names', labels=b'fine_labels', tv='CIFAR100'),
}


def cifar(name: str, root: os.PathLike, download: bool = True) -> Dict[str, np.ndarray]:
    """CIFAR-10 or CIFAR-100 from torchvision's python pickle batches under ``root``; downloads when absent."""
    spec = CIFAR[name]
    folder = Path(root) / spec['folder']
    if not folder.exists():
        if not download:
            raise DatasetError(f'{folder}: not found (download {name} or set the dataset root)')
        import torchvision.datasets as tvd
        _logger.info('downloading %s into %s', name, root)
        getattr(tvd, spec['tv'])(str(root), train=True, download=True)
    out = {}
    for split in ('train', 'test'):
        parts = [_read_cifar_batch(folder / f, spec['labels']) for f in spec[split]]
        out[f'x_{split}'] = np.concatenate([p[0] for p in parts])
        out[f'y_{split}'] = np.concatenate([p[1] for p in parts])
    try:
        with open(folder / spec['meta'], 'rb') as f:
            out['classes'] = [n.decode() for n in pickle.load(f, encoding='bytes')[spec['names']]]
    except (OSError, pickle.UnpicklingError, EOFError, KeyError) as e:
        raise DatasetError(f'{folder / spec["meta"]}: cannot read class names ({e})') from e
    return out


def digits() -> Dict[str, np.ndarray]:
    """scikit-learn's real 8x8 handwritten digits (1,797 images); a fixed 1/5 is the test split."""
    from sklearn.datasets import load_digits
    d = load_digits()
    x = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    y = d.target.astype(np.int64)
    test = np.arange(len(y)) % 5 == 0
    return {'x_train': x[~test], 'y_train': y[~test], 'x_test': x[test], 'y_test': y[test],
            'classes': [str(i) for i in range(10)]}


def _load_image(path: Path, size: int, mode: str) -> Optional[np.ndarray]:
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as img:
            img = img.convert(mode)
            img = img.resize((size, size), Image.BILINEAR)
            a = np.asarray(img, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as e:
        warnings.warn(f'skipping unreadable image {path}: {type(e).__name__}: {e}', stacklevel=2)
        return None
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def _largest_side(paths) -> Optional[int]:
    """The largest side in pixels among the readable images (headers only); None when none is readable."""
    from PIL import Image
    sides = []
    for p in paths:
        try:
            with Image.open(p) as img:
                sides.append(max(img.size))
        except Exception:  # noqa: BLE001 - unreadable images are skipped (and warned about) when loaded
            continue
    return max(sides) if sides else None


def imagefolder(root: os.PathLike, image_size: int, grayscale: bool = False) -> Dict[str, np.ndarray]:
    """An ImageNet-style tree ``root/train/class/img`` (+ ``root/test/class/img``), or a flat ``root/class/img``.

    Without a ``test/`` folder (a flat tree, where a class may be called ``test``, or ``train/`` alone) only
    ``x_train``/``y_train`` are returned; ``prepare`` then carves a stratified test split. Every image is resized
    to ``image_size`` x ``image_size``. An unreadable image is skipped with a warning (the documented behaviour for
    single bad images); a class folder with no readable image is an error.

    Real pixels: ``image_size`` is a cap (the largest input any variant needs); images are stored at their largest
    native side when that is smaller, so resolution-scaled variants see every real pixel there is, and
    ``native_size`` records that side.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f'{root}: imagefolder root does not exist')
    splits = {'train': root}
    if (root / 'train').is_dir():
        splits = {'train': root / 'train'}
        if (root / 'test').is_dir():
            splits['test'] = root / 'test'
    classes = sorted(p.name for p in splits['train'].iterdir() if p.is_dir())
    if not classes:
        raise DatasetError(f'{splits["train"]}: no class folders (expected root/class/image files)')
    mode = 'L' if grayscale else 'RGB'
    files = {(split, cls): sorted(p for p in (folder / cls).glob('*') if p.suffix.lower() in IMAGE_EXTENSIONS)
             for split, folder in splits.items() for cls in classes}
    native = _largest_side([p for ps in files.values() for p in ps])
    size = min(image_size, native) if native else image_size
    _logger.info('imagefolder %s: largest image side %s px, stored at %d px (cap %d)', root, native, size, image_size)
    out: Dict[str, object] = {'classes': classes, 'native_size': native or size}
    for split, folder in splits.items():
        xs, ys = [], []
        for label, cls in enumerate(classes):
            images = [a for a in (_load_image(p, size, mode) for p in files[split, cls]) if a is not None]
            if not images:
                raise DatasetError(f'{folder / cls}: no readable images')
            xs.extend(images)
            ys.extend([label] * len(images))
        out[f'x_{split}'] = np.stack(xs)
        out[f'y_{split}'] = np.asarray(ys, dtype=np.int64)
    return out


IMAGENETTE_FOLDERS = {'full': 'imagenette2', '320px': 'imagenette2-320', '160px': 'imagenette2-160'}
# torchvision's Imagenette: the 10 ImageNet classes by WordNet id (folder names) and the class name used here
IMAGENETTE_CLASSES = {
    'n01440764': 'tench', 'n02102040': 'English springer', 'n02979186': 'cassette player', 'n03000684': 'chain saw',
    'n03028079': 'church', 'n03394916': 'French horn', 'n03417042': 'garbage truck', 'n03425413': 'gas pump',
    'n03445777': 'golf ball', 'n03888257': 'parachute',
}


def check_imagenette_tree(root: os.PathLike, release: str = '320px') -> None:
    """Raise :class:`DatasetError` when ``root`` holds the release's folder but it is not torchvision's Imagenette
    layout (``<folder>/{train,val}/<wnid>/*.JPEG`` with the 10 WordNet ids); a root without the folder is fine (the
    release is downloaded into it)."""
    folder = Path(root) / IMAGENETTE_FOLDERS[release]
    if not folder.exists():
        return
    for split in ('train', 'val'):
        found = sorted(p.name for p in (folder / split).iterdir() if p.is_dir()) if (folder / split).is_dir() else []
        if found != sorted(IMAGENETTE_CLASSES):
            raise DatasetError(f'{folder}: not Imagenette\'s tree: {split}/ must hold the 10 class folders '
                               f'{", ".join(sorted(IMAGENETTE_CLASSES))} (found {found[:4] or "none"}); remove it to '
                               f'download the release again')


def _square(path: Path, size: int) -> Optional[np.ndarray]:
    """An image's centre square, its shorter side resized to ``size`` (bilinear with antialiasing), as C x H x W."""
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as img:
            img = img.convert('RGB')
            scale = size / min(img.size)
            w, h = max(size, round(img.size[0] * scale)), max(size, round(img.size[1] * scale))
            img = img.resize((w, h), Image.BILINEAR, reducing_gap=None)
            left, top = (w - size) // 2, (h - size) // 2
            a = np.asarray(img.crop((left, top, left + size, top + size)), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as e:
        warnings.warn(f'skipping unreadable image {path}: {type(e).__name__}: {e}', stacklevel=2)
        return None
    return a.transpose(2, 0, 1)


def _shorter_side(paths) -> int:
    """The smallest shorter side among the images (headers only): the largest input every image can fill."""
    from PIL import Image
    sides = []
    for p in paths:
        try:
            with Image.open(p) as img:
                sides.append(min(img.size))
        except Exception:  # noqa: BLE001 - unreadable images are skipped (and warned about) when loaded
            continue
    if not sides:
        raise DatasetError(f'no readable images among {len(paths)} files')
    return min(sides)


def imagenette(root: os.PathLike, image_size: Optional[int] = None, release: str = '320px',
               download: bool = True) -> Dict[str, np.ndarray]:
    """torchvision's Imagenette (10 ImageNet classes): ``train`` for training (validation is carved from it), ``val``
    as the test split. Downloaded into ``root`` by torchvision when the release's folder is absent.

    Real pixels: each image is stored as its centre square at ``min(image_size, native)`` pixels, ``native`` being
    the smallest shorter side of any image (recorded as ``native_size``), so a variant's input is resized *down*
    from real pixels whenever it is at most ``native``; ``image_size`` is the largest input any variant needs.
    """
    from torchvision.datasets import Imagenette
    check_imagenette_tree(root, release)
    Path(root).mkdir(parents=True, exist_ok=True)
    splits = {}
    for split in ('train', 'val'):
        ds = Imagenette(str(root), split=split, size=release, download=download, loader=lambda path: path)
        splits[split] = [ds[i] for i in range(len(ds))]  # (path, label); the loader returns the path
        classes = [IMAGENETTE_CLASSES[w] for w in ds.wnids]
    native = _shorter_side([p for pairs in splits.values() for p, _ in pairs])
    size = min(int(image_size), native) if image_size else native
    _logger.info('imagenette %s: smallest shorter side %d px, stored at %d px', release, native, size)
    out: Dict[str, object] = {'classes': classes, 'native_size': native}
    for split, key in (('train', 'train'), ('val', 'test')):
        x = np.zeros((len(splits[split]), 3, size, size), dtype=np.uint8)
        keep = np.zeros(len(splits[split]), dtype=bool)
        for i, (path, _) in enumerate(splits[split]):
            image = _square(Path(path), size)
            if image is not None:
                x[i], keep[i] = image, True
        out[f'x_{key}'] = x[keep]
        out[f'y_{key}'] = np.asarray([label for _, label in splits[split]], dtype=np.int64)[keep]
    return out


SOURCES: Dict[str, Callable[..., Dict[str, np.ndarray]]] = {
    'fashion_mnist': lambda root=None, image_size=None: fashion_mnist(root),
    'cifar10': lambda root=None, image_size=None: cifar('cifar10', root or 'data'),
    'cifar100': lambda root=None, image_size=None: cifar('cifar100', root or 'data'),
    'digits': lambda root=None, image_size=None: digits(),
    'imagefolder': lambda root=None, image_size=None: imagefolder(root, image_size or 224),
    'imagenette': imagenette,
}
