"""Prepared datasets: one uint8 ``.npz`` per dataset with a train / validation / test split and a SHA-256 checksum.

The validation split is carved from the training images (stratified, fixed seed); the test split is left untouched
and is only used for the final test top-1. A source without a test split (a flat image folder ``root/class/img``)
has one carved first, stratified, from all its images, with the validation fraction and its own seed stream; the
validation split is then carved from the rest, so the three splits are disjoint.

The file is written atomically (temporary name, then ``os.replace``), so a killed preparation leaves no partial file;
its checksum is stored beside it (``<file>.sha256``) and checked on every load.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
from pathlib import Path
from typing import Dict, Optional, Sequence, Union

import numpy as np

from ..atomic import write_atomic
from ..files.damage import damaged, npz_arrays, read_checked
from .sources import SOURCES, DatasetError

_logger = logging.getLogger(__name__)

SPLIT_KEYS = ('x_train', 'y_train', 'x_val', 'y_val', 'x_test', 'y_test')
TEST_SEED_STREAM = 1  # carve_validation(..., seed=(seed, TEST_SEED_STREAM)) carves a test split: not the val stream


def sha256_file(path: os.PathLike, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def checksum_path(path: os.PathLike) -> Path:
    return Path(str(path) + '.sha256')


def carve_validation(y: np.ndarray, fraction: float, seed: Union[int, Sequence[int]] = 0) -> np.ndarray:
    """Boolean mask of a stratified subset: ``fraction`` of each class (at least one image), chosen with ``seed``
    (anything ``numpy.random.default_rng`` takes). Used for the validation split, and for the test split of a
    source that has none."""
    if not 0 < fraction < 1:
        raise ValueError(f'val_fraction must be in (0, 1), got {fraction!r}')
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        n = max(1, int(round(len(idx) * fraction)))
        mask[rng.choice(idx, size=n, replace=False)] = True
    return mask


def prepare(dataset: str, out: os.PathLike, root: Optional[os.PathLike] = None, image_size: Optional[int] = None,
            val_fraction: float = 0.1, seed: int = 0, release: Optional[str] = None) -> Path:
    """Read ``dataset`` from its source and write the prepared ``.npz`` (atomically) with its checksum.

    Args:
        dataset: one of :data:`effscale_timm.data.sources.SOURCES`.
        out: the ``.npz`` path to write.
        root: where the source files are (or are downloaded to).
        image_size: the size ImageFolder images are resized to (other datasets keep their own size).
        val_fraction: fraction of the training images carved out for validation (and of all images for the test
            split, when the source has none).
        seed: seed of the validation (and test) carve.
        release: Imagenette's release (``full``, ``320px``, ``160px``); for ``imagenette`` only.
    """
    if dataset not in SOURCES:
        raise ValueError(f'dataset must be one of {sorted(SOURCES)}, got {dataset!r}')
    if release is not None and dataset != 'imagenette':
        raise ValueError(f'release applies to imagenette only, not {dataset}')
    arrays = SOURCES[dataset](root=root, image_size=image_size, **({'release': release} if release else {}))
    if 'x_test' not in arrays:
        arrays = _carve_test(dataset, arrays, val_fraction, seed)
    x, y = arrays['x_train'], arrays['y_train']
    val = carve_validation(y, val_fraction, seed)
    x_float = x[~val].astype(np.float64) / 255.0
    mean = x_float.mean(axis=(0, 2, 3))
    std = x_float.std(axis=(0, 2, 3))
    out = Path(out)
    buf = io.BytesIO()
    np.savez(buf, x_train=x[~val], y_train=y[~val], x_val=x[val], y_val=y[val], x_test=arrays['x_test'],
             y_test=arrays['y_test'], classes=np.asarray(arrays['classes']), mean=mean.astype(np.float32),
             std=std.astype(np.float32), dataset=np.asarray(dataset),
             native_size=np.asarray(int(arrays.get('native_size', x.shape[-1]))))
    data = buf.getvalue()
    # The checksum is written first: a kill between the two leaves no .npz, so the rule reruns.
    write_atomic(checksum_path(out), f'{hashlib.sha256(data).hexdigest()}  {out.name}\n'.encode())
    write_atomic(out, data)
    _logger.info('prepared %s: %d train, %d val, %d test images of %s -> %s', dataset, (~val).sum(), val.sum(),
                 len(arrays['y_test']), x.shape[1:], out)
    return out


def _carve_test(dataset: str, arrays: Dict[str, np.ndarray], fraction: float, seed: int) -> Dict[str, np.ndarray]:
    """Split a stratified test set (``fraction`` of each class) off a source that has none; logs that it did.

    Raises:
        DatasetError: a class has fewer than 3 images, too few for a training, validation and test image each.
    """
    x, y, classes = arrays['x_train'], arrays['y_train'], list(arrays['classes'])
    counts = np.bincount(y, minlength=len(classes))
    small = [f'{classes[c]} ({counts[c]})' for c in np.flatnonzero(counts < 3)]
    if small:
        raise DatasetError(f'{dataset}: no test split given, and classes {", ".join(small)} have fewer than 3 images, '
                           f'too few to carve test, validation and training images from each')
    test = carve_validation(y, fraction, (seed, TEST_SEED_STREAM))
    _logger.info('%s has no test split: carved a stratified test split of %d images (%.0f%% of each class, seed %d)',
                 dataset, test.sum(), 100 * fraction, seed)
    return {**arrays, 'x_train': x[~test], 'y_train': y[~test], 'x_test': x[test], 'y_test': y[test]}


def recorded_sha256(path: os.PathLike) -> str:
    """The SHA-256 recorded beside ``path`` when it was prepared ('' when the checksum file is empty or damaged, which
    then matches no file)."""
    words = checksum_path(path).read_bytes().decode('ascii', errors='replace').split()
    return words[0] if words else ''


def verify(path: os.PathLike) -> bool:
    """True when ``path`` exists and matches the checksum recorded beside it."""
    path = Path(path)
    if not path.exists() or not checksum_path(path).exists():
        return False
    return recorded_sha256(path) == sha256_file(path)


def remove_if_corrupt(path: os.PathLike) -> bool:
    """Remove a prepared file (and its checksum) that fails its checksum, so the pipeline rebuilds it; True if so."""
    path = Path(path)
    if not path.exists() or verify(path):
        return False
    _logger.warning('%s fails its checksum; removing it so it is rebuilt', path)
    path.unlink()
    checksum_path(path).unlink(missing_ok=True)
    return True


REBUILD = 'run `effscale prepare` again (the pipeline rebuilds it with the same command)'


def load_prepared(path: os.PathLike, check: bool = True,
                  keys: Optional[Sequence[str]] = None) -> Dict[str, np.ndarray]:
    """A prepared dataset's arrays (``keys`` only, when given): the one reader of the prepared file.

    Raises:
        DatasetError: the file is missing or fails its recorded checksum.
        DamagedFileError: it cannot be read as a prepared dataset (checked off: truncated, random bytes, or lacking
            the split arrays).
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f'{path}: no prepared dataset there; {REBUILD}')
    if check and not verify(path):
        raise DatasetError(f'{path}: checksum mismatch or missing {checksum_path(path).name}; the prepared file is '
                           f'corrupt, {REBUILD}')
    data = read_checked(path, 'prepared dataset', lambda p: npz_arrays(p, keys), REBUILD)
    missing = [k for k in (keys if keys is not None else SPLIT_KEYS) if k not in data]
    if missing:
        raise damaged(path, f'a prepared dataset lacks {missing}', REBUILD)
    return data
