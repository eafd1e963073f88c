"""Batches from uint8 image tensors kept on the training device, augmented there.

For datasets that fit in memory (CIFAR, Fashion-MNIST, digits) the whole split lives on the GPU as uint8 and each
training batch is pad-cropped (reflect padding) and flipped, optionally RandAugment-ed (uint8, at the native size),
resized to the variant's resolution and normalised, and optionally randomly erased (normalised, at the model's
input), all on the GPU: no CPU loader, no host-to-device copies per step. On the CPU the same code runs on CPU
tensors. All randomness comes from one ``torch.Generator`` whose state is saved in checkpoints, so a resumed run
sees the same batches (see :mod:`effscale_timm.data.augment` for RandAugment and random erasing).
"""
from __future__ import annotations

from typing import Iterator, Optional, Sequence, Tuple

import numpy as np
import torch

from .augment import DeviceRandAugment, random_erasing
from .transforms import ModelInput


class DeviceBatches:
    """Iterate (images, labels) batches from uint8 N x C x H x W arrays resident on ``device``.

    Args:
        x: uint8 images N x C x H x W.
        y: int64 labels.
        device: where the arrays live and the batches are built.
        input_size: output side in pixels (the variant's resolution).
        mean: per-channel mean in [0, 1] units.
        std: per-channel std in [0, 1] units.
        batch_size: images per batch.
        train: shuffle and augment (random pad-crop, horizontal flip, and ``auto_augment`` and ``re_prob`` when
            given); else fixed order, resize only.
        generator: CPU generator for order and augmentation; required when ``train``.
        hflip: use horizontal flips when training (off for digits, where a flip changes the class).
        channels_last: return batches in channels_last memory format.
        max_samples: use only the first ``max_samples`` images (a fixed subset, for short demos).
        drop_last: drop a final partial batch when training.
        auto_augment: timm's RandAugment string (e.g. ``'rand-m9-mstd0.5'``) applied to training batches; None: none.
            A string that does not parse raises ``ValueError`` here.
        re_prob: probability of timm's random erasing ('pixel' mode) per training image; 0: none.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, device: torch.device, input_size: int, mean: Sequence[float],
                 std: Sequence[float], batch_size: int, train: bool = False,
                 generator: Optional[torch.Generator] = None, hflip: bool = True, channels_last: bool = True,
                 max_samples: Optional[int] = None, drop_last: bool = True, auto_augment: Optional[str] = None,
                 re_prob: float = 0.0):
        if max_samples:
            x, y = x[:max_samples], y[:max_samples]
        self.x = torch.from_numpy(np.ascontiguousarray(x)).to(device)
        self.y = torch.from_numpy(np.asarray(y, dtype=np.int64)).to(device)
        self.device = torch.device(device)
        self.input_size = int(input_size)
        self.to_input = ModelInput(input_size, mean, std, self.device, channels_last)
        self.batch_size = int(batch_size)
        self.train = train
        self.generator = generator
        if train and generator is None:
            raise ValueError('a generator is required for training batches')
        self.hflip = hflip
        self.drop_last = drop_last and train and len(self.y) > self.batch_size
        self.pad = max(1, self.x.shape[-1] // 8)  # 4 px at 32 px, as in the usual CIFAR pad-crop
        self.rand_augment = DeviceRandAugment(auto_augment, mean) if auto_augment else None
        if not 0.0 <= re_prob <= 1.0:
            raise ValueError(f're_prob must be in [0, 1], got {re_prob!r}')
        self.re_prob = float(re_prob)
        self.channels_last = channels_last

    def __len__(self) -> int:
        n = len(self.y)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def num_samples(self) -> int:
        return len(self) * self.batch_size if self.drop_last else len(self.y)

    def _reflect(self, offsets: torch.Tensor, size: int) -> torch.Tensor:
        """Indices into an axis of ``size`` of a crop at ``offsets`` (N,) of the reflect-padded axis: N x size."""
        i = (offsets[:, None] - self.pad + torch.arange(size, device=self.device)).abs()
        return torch.where(i >= size, 2 * (size - 1) - i, i)

    def _crop_flip(self, x: torch.Tensor) -> torch.Tensor:
        """Random crop of the reflect-padded images (pad ``self.pad``) and horizontal flip; any dtype."""
        n, _, h, w = x.shape
        g = self.generator
        oy = torch.randint(0, 2 * self.pad + 1, (n,), generator=g).to(self.device)
        ox = torch.randint(0, 2 * self.pad + 1, (n,), generator=g).to(self.device)
        rows = self._reflect(oy, h)[:, None, :, None]
        cols = self._reflect(ox, w)[:, None, None, :]
        batch = torch.arange(n, device=self.device)[:, None, None, None]
        chans = torch.arange(x.shape[1], device=self.device)[None, :, None, None]
        x = x[batch, chans, rows, cols]
        if self.hflip:
            flip = (torch.rand(n, generator=g) < 0.5).to(self.device)
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        return x

    def _finish(self, xb: torch.Tensor) -> torch.Tensor:
        """uint8 images -> model inputs: augmented when training (crop, flip, RandAugment; random erasing after
        normalisation, as timm does), resized and normalised."""
        if not self.train:
            return self.to_input(xb)
        x = self._crop_flip(xb)
        if self.rand_augment is not None:
            x = self.rand_augment(x, self.generator)
        x = self.to_input(x)
        if self.re_prob > 0:
            x = random_erasing(x, self.re_prob, self.generator)
            x = x.contiguous(memory_format=torch.channels_last) if self.channels_last else x
        return x

    def __iter__(self) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.y)
        order = torch.randperm(n, generator=self.generator).to(self.device) if self.train else None
        for i in range(len(self)):
            sl = slice(i * self.batch_size, min(n, (i + 1) * self.batch_size))
            idx = order[sl] if order is not None else None
            xb = self.x[idx] if idx is not None else self.x[sl]
            yb = self.y[idx] if idx is not None else self.y[sl]
            yield self._finish(xb), yb
