"""What a training run reads: one interface, two implementations.

:func:`open_training_data` returns :class:`PreparedData` for a prepared ``.npz`` (uint8 arrays kept on the training
device, :class:`~effscale_timm.data.device_batches.DeviceBatches`) or
:class:`~effscale_timm.data.folder_loader.FolderData` for an image tree too large for memory (a DataLoader with
timm's transforms). Both give ``classes``, ``in_chans``, ``name``, ``digest()`` (the data's identity, part of the
run key) and ``splits(...)`` -> :class:`~effscale_timm.data.splits.Splits` of train, validation and test batches.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional, Union

import torch

from .device_batches import DeviceBatches
from .folder_loader import FolderData
from .prepared import load_prepared, recorded_sha256
from .splits import Splits


class PreparedData:
    """A prepared ``.npz`` (verified against its recorded SHA-256 on opening)."""

    def __init__(self, path: os.PathLike):
        self.path = Path(path)
        self.arrays = load_prepared(path)
        self.classes: List[str] = [str(c) for c in self.arrays['classes']]
        self.in_chans = int(self.arrays['x_train'].shape[1])
        self.name = str(self.arrays['dataset'])
        # the images' own side (before any resize at preparation); a variant with a larger input is upsampled
        self.native_size = int(self.arrays.get('native_size', self.arrays['x_train'].shape[-1]))

    def digest(self) -> str:
        """The SHA-256 recorded when the file was prepared (and just verified)."""
        return recorded_sha256(self.path)

    def splits(self, model: torch.nn.Module, batch_size: int, eval_batch_size: int, device: torch.device,
               generator: torch.Generator, hflip: bool = True, max_train: Optional[int] = None,
               max_eval: Optional[int] = None, workers: int = 0, auto_augment: Optional[str] = None,
               re_prob: float = 0.0) -> Splits:
        """Device-resident batches at the model's input size; ``workers`` is unused (no loader processes).

        ``auto_augment`` (timm's RandAugment string) and ``re_prob`` (random erasing) augment the training batches
        on the device (:class:`~effscale_timm.data.device_batches.DeviceBatches`); evaluation batches never.
        """
        a = self.arrays
        size = model.pretrained_cfg['input_size'][-1]
        mean, std = a['mean'].tolist(), a['std'].tolist()
        common = dict(device=device, input_size=size, mean=mean, std=std)
        train = DeviceBatches(a['x_train'], a['y_train'], batch_size=batch_size, train=True, generator=generator,
                              hflip=hflip, max_samples=max_train, auto_augment=auto_augment, re_prob=re_prob,
                              **common)
        val = DeviceBatches(a['x_val'], a['y_val'], batch_size=eval_batch_size, max_samples=max_eval, **common)
        test = DeviceBatches(a['x_test'], a['y_test'], batch_size=eval_batch_size, max_samples=max_eval, **common)
        return Splits(train, val, test, mean, std)


def open_training_data(path: os.PathLike) -> Union[PreparedData, FolderData]:
    """An image folder (``train/``, ``val/``, optional ``test/``) or a prepared ``.npz``, by what ``path`` is."""
    return FolderData(path) if Path(path).is_dir() else PreparedData(path)
