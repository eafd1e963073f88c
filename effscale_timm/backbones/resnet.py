"""ResNet-50 (He et al. 2016), one of the paper's Table 3 backbones, built by timm's own ``ResNet`` class.

Depth multiplies each stage's bottleneck blocks, rounded up (3, 4, 6, 3 at depth 1); width multiplies every channel
count, the stem's and each stage's, rounded to multiples of 8 (a bottleneck's inner width follows its stage's
channels, so all of a block's convolutions widen together). At multipliers 1 this is timm's ``resnet50``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Tuple

from timm.models.resnet import Bottleneck, _create_resnet
from torch import nn

from .base import CHANNEL_DIVISOR, Backbone


def _round(channels: int, width: float) -> int:
    """Channels times ``width``, to the nearest multiple of 8 (never below 8)."""
    return max(CHANNEL_DIVISOR, int(round(channels * width / CHANNEL_DIVISOR)) * CHANNEL_DIVISOR)


@dataclass(frozen=True)
class ResNetBackbone(Backbone):
    """A bottleneck ResNet: ``layers`` blocks per stage, ``channels`` per stage (x4 at each stage's output)."""
    layers: Tuple[int, ...] = (3, 4, 6, 3)
    channels: Tuple[int, ...] = (64, 128, 256, 512)
    stem_channels: int = 64

    def stage_repeats(self, depth: float) -> Tuple[int, ...]:
        return tuple(int(math.ceil(n * depth - 1e-9)) for n in self.layers)

    def stage_channels(self, width: float) -> Tuple[int, ...]:
        planes = [_round(c, width) for c in self.channels]
        return (_round(self.stem_channels, width), *[p * Bottleneck.expansion for p in planes])

    def create(self, variant: str, depth: float, width: float, pretrained: bool, **kwargs) -> nn.Module:
        """timm's ``_create_resnet`` with the scaled blocks per stage, stage channels and stem width."""
        return _create_resnet(variant, pretrained, block=Bottleneck, layers=self.stage_repeats(depth),
                              channels=tuple(_round(c, width) for c in self.channels),
                              stem_width=_round(self.stem_channels, width), **kwargs)

    def stages(self, model: nn.Module) -> Sequence[nn.Module]:
        return [getattr(model, f'{self.stage_prefix}{i}') for i in range(1, len(self.layers) + 1)]


RESNET50 = ResNetBackbone(name='resnet50', title='ResNet-50', base_resolution=224, default_dropout=0.0,
                          first_conv='conv1', classifier='fc', stage_prefix='layer')
