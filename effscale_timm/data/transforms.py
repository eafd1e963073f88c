"""The model-input transform: uint8 images -> the float tensor a variant takes (resized to its input, normalised).

The one place where images become model inputs, used by training batches
(:class:`effscale_timm.data.device_batches.DeviceBatches`, after augmentation) and by Grad-CAM
(:mod:`effscale_timm.cam`), so a trained model sees the same transform in both.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F


class ModelInput:
    """Resize images in 0-255 units to ``input_size`` (bilinear, no antialias) and normalise them.

    Args:
        input_size: output side in pixels (the variant's resolution).
        mean: per-channel mean in [0, 1] units.
        std: per-channel std in [0, 1] units.
        device: where the batches are (the constants are kept there).
        channels_last: return batches in channels_last memory format.

    Calling it on N x C x H x W images (uint8 or float, 0-255) returns float32 ``(x / 255 - mean) / std`` at
    ``input_size`` x ``input_size``.
    """

    def __init__(self, input_size: int, mean: Sequence[float], std: Sequence[float], device='cpu',
                 channels_last: bool = True):
        self.input_size = int(input_size)
        c = len(mean)
        self.mean = torch.as_tensor(mean, dtype=torch.float32).view(1, c, 1, 1).to(device) * 255
        self.std = torch.as_tensor(std, dtype=torch.float32).view(1, c, 1, 1).to(device) * 255
        self.channels_last = channels_last

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        size = (self.input_size, self.input_size)
        if tuple(x.shape[-2:]) != size:
            x = F.interpolate(x, size=size, mode='bilinear', align_corners=False, antialias=False)
        x = (x - self.mean) / self.std
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x
