"""Batches from uint8 image tensors kept on the training device, augmented there.

For datasets that fit in memory (CIFAR, Fashion-MNIST, digits) the whole split lives on the GPU as uint8 and each
batch is flipped, pad-cropped, resized to the variant's resolution and normalised on the GPU: no CPU loader, no
host-to-device copies per step. On the CPU the same code runs on CPU tensors. All randomness comes from one
``torch.Generator`` whose state is saved in checkpoints, so a resumed run sees the same batches.
"""
from __future__ import annotations

from typing import Iterator, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

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
        train: shuffle and augment (random pad-crop and horizontal flip); else fixed order, resize only.
        generator: CPU generator for order and augmentation; required when ``train``.
        hflip: use horizontal flips when training (off for digits, where a flip changes the class).
        channels_last: return batches in channels_last memory format.
        max_samples: use only the first ``max_samples`` images (a fixed subset, for short demos).
        drop_last: drop a final partial batch when training.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, device: torch.device, input_size: int, mean: Sequence[float],
                 std: Sequence[float], batch_size: int, train: bool = False,
                 generator: Optional[torch.Generator] = None, hflip: bool = True, channels_last: bool = True,
                 max_samples: Optional[int] = None, drop_last: bool = True):
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

    def __len__(self) -> int:
        n = len(self.y)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def num_samples(self) -> int:
        return len(self) * self.batch_size if self.drop_last else len(self.y)

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        g = self.generator
        p = self.pad
        xp = F.pad(x, (p, p, p, p), mode='reflect')
        oy = torch.randint(0, 2 * p + 1, (n,), generator=g).to(self.device)
        ox = torch.randint(0, 2 * p + 1, (n,), generator=g).to(self.device)
        rows = (oy[:, None] + torch.arange(h, device=self.device))[:, None, :, None]
        cols = (ox[:, None] + torch.arange(w, device=self.device))[:, None, None, :]
        batch = torch.arange(n, device=self.device)[:, None, None, None]
        chans = torch.arange(x.shape[1], device=self.device)[None, :, None, None]
        x = xp[batch, chans, rows, cols]
        if self.hflip:
            flip = (torch.rand(n, generator=g) < 0.5).to(self.device)
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        return x

    def _finish(self, xb: torch.Tensor) -> torch.Tensor:
        x = xb.float()
        if self.train:
            x = self._augment(x)
        return self.to_input(x)

    def __iter__(self) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.y)
        order = torch.randperm(n, generator=self.generator).to(self.device) if self.train else None
        for i in range(len(self)):
            sl = slice(i * self.batch_size, min(n, (i + 1) * self.batch_size))
            idx = order[sl] if order is not None else None
            xb = self.x[idx] if idx is not None else self.x[sl]
            yb = self.y[idx] if idx is not None else self.y[sl]
            yield self._finish(xb), yb
