"""Backbones as data: what depth, width and resolution mean for a network, and how timm builds it.

A :class:`~effscale_timm.backbones.base.Backbone` says how a depth multiplier becomes blocks per stage (rounded up, as
the paper and timm round), how a width multiplier becomes channels (rounded to the family's divisor), the base
resolution, and which timm constructor builds the scaled network, so that at multipliers 1 the network *is* timm's
own base model (same parameters, same outputs; tests/test_timm_conformance.py). The first three are the paper's
EfficientNet-B0 and two of its Table 3 backbones, MobileNetV2 (1.0) and ResNet-50; adding one is one entry here and
its tests.

    from effscale_timm.backbones import get_backbone
    get_backbone('resnet50').stage_repeats(1.4)   # (5, 6, 9, 5)
"""
from __future__ import annotations

from typing import Dict

from .base import Backbone
from .efficientnet import EFFICIENTNET_B0, MOBILENETV2_100
from .resnet import RESNET50

DEFAULT_BACKBONE = 'efficientnet_b0'
BACKBONES: Dict[str, Backbone] = {b.name: b for b in (EFFICIENTNET_B0, MOBILENETV2_100, RESNET50)}

__all__ = ['BACKBONES', 'DEFAULT_BACKBONE', 'Backbone', 'get_backbone']


def get_backbone(name: str) -> Backbone:
    """The backbone called ``name``; ``ValueError`` naming the known ones otherwise."""
    if name not in BACKBONES:
        raise ValueError(f'unknown backbone {name!r}; known: {", ".join(sorted(BACKBONES))}')
    return BACKBONES[name]
