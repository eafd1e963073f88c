"""A DataLoader path for image trees too large to hold in memory (ImageNet-style ``root/split/class/image``).

Images are decoded and augmented by CPU workers with timm's own transforms, sized from the model's data config
(``timm.data.resolve_data_config`` gives the variant's resolution, crop and normalisation; ``create_transform``
builds the training and evaluation pipelines), and copied to the device per batch. Splits: ``train/``, ``val/``
(validation) and ``test/`` (falls back to ``val/`` when absent, as on ImageNet).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import torch
from torch.utils.data import DataLoader, Subset

from timm.data import create_transform, resolve_data_config

from .sources import IMAGE_EXTENSIONS, DatasetError
from .splits import Splits


class DeviceLoader:
    """A DataLoader whose batches are moved to ``device`` (channels_last), with ``len`` and ``num_samples``."""

    def __init__(self, loader: DataLoader, device: torch.device, channels_last: bool = True):
        self.loader, self.device, self.channels_last = loader, torch.device(device), channels_last

    def __len__(self) -> int:
        return len(self.loader)

    @property
    def num_samples(self) -> int:
        n = len(self.loader.dataset)
        return (n // self.loader.batch_size) * self.loader.batch_size if self.loader.drop_last else n

    def __iter__(self) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        for x, y in self.loader:
            x = x.to(self.device, non_blocking=True)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, y.to(self.device, non_blocking=True)


def _checked_loader(path: str):
    from PIL import Image, UnidentifiedImageError
    try:
        with open(path, 'rb') as f:
            return Image.open(f).convert('RGB')
    except (OSError, UnidentifiedImageError, SyntaxError) as e:
        raise DatasetError(f'{path}: unreadable image ({type(e).__name__}: {e}); remove or replace it') from e


class FolderData:
    """An image tree read by torchvision's ``ImageFolder``: ``root/train``, ``root/val`` and optionally ``root/test``.

    Args:
        root: the tree's root folder.
    """

    def __init__(self, root: os.PathLike):
        self.root = Path(root)
        self.folders = {s: self.root / s for s in ('train', 'val', 'test') if (self.root / s).is_dir()}
        if 'train' not in self.folders or 'val' not in self.folders:
            raise DatasetError(f'{self.root}: expected train/ and val/ folders of class folders (test/ optional)')
        self.folders.setdefault('test', self.folders['val'])
        self.classes: List[str] = sorted(p.name for p in self.folders['train'].iterdir() if p.is_dir())
        if not self.classes:
            raise DatasetError(f'{self.folders["train"]}: no class folders')
        self.in_chans = 3
        self.native_size = None  # images keep their own sizes; timm's transforms resize them per variant
        self.name = f'imagefolder:{self.root.name}'

    def digest(self) -> str:
        """SHA-256 of every image's relative path and size: the data's identity for resuming."""
        h = hashlib.sha256()
        for split in sorted(set(self.folders.values())):
            for p in sorted(split.rglob('*')):
                if p.suffix.lower() in IMAGE_EXTENSIONS:
                    h.update(f'{p.relative_to(self.root)}:{p.stat().st_size}\n'.encode())
        return h.hexdigest()

    def splits(self, model: torch.nn.Module, batch_size: int, eval_batch_size: int, device: torch.device,
               generator: torch.Generator, hflip: bool = True, max_train: Optional[int] = None,
               max_eval: Optional[int] = None, workers: int = 4, auto_augment: Optional[str] = None,
               re_prob: float = 0.0):
        """Train, validation and test :class:`DeviceLoader` s with timm's transforms for ``model``, as ``Splits``.

        ``auto_augment`` (a timm string: ``'rand-m9-mstd0.5'``, an AutoAugment policy, ...) and ``re_prob``
        (random erasing in timm's 'pixel' mode) go to timm's ``create_transform`` for the training split. They run
        in the loader's workers on Python's, NumPy's and torch's random state, which the DataLoader seeds per worker
        and epoch from ``generator`` (NumPy by timm's own worker init, as timm's loader does: RandAugment picks its
        ops with NumPy, and forked workers would otherwise repeat the parent's draws every epoch).
        """
        from timm.data.loader import _worker_init  # timm's worker seeding (NumPy too), as in timm's create_loader
        cfg = resolve_data_config({}, model=model)
        train_tf = create_transform(**cfg, is_training=True, hflip=0.5 if hflip else 0.0, auto_augment=auto_augment,
                                    re_prob=re_prob, re_mode='pixel')
        eval_tf = create_transform(**cfg, is_training=False)
        pin = torch.device(device).type == 'cuda'
        common = dict(num_workers=workers, pin_memory=pin, persistent_workers=False)
        train_ds = self._dataset('train', train_tf, max_train)
        train = DataLoader(train_ds, batch_size=batch_size, shuffle=True, generator=generator,
                           drop_last=len(train_ds) > batch_size, worker_init_fn=_worker_init, **common)
        val = DataLoader(self._dataset('val', eval_tf, max_eval), batch_size=eval_batch_size, **common)
        test = DataLoader(self._dataset('test', eval_tf, max_eval), batch_size=eval_batch_size, **common)
        return Splits(DeviceLoader(train, device), DeviceLoader(val, device), DeviceLoader(test, device),
                      list(cfg['mean']), list(cfg['std']))

    def _dataset(self, split: str, transform, limit: Optional[int]):
        from torchvision.datasets import ImageFolder
        ds = ImageFolder(str(self.folders[split]), transform=transform, loader=_checked_loader)
        if ds.classes != self.classes:
            raise DatasetError(f'{self.folders[split]}: classes differ from {self.folders["train"]}')
        return Subset(ds, range(min(limit, len(ds)))) if limit else ds
