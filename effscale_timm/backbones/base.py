"""What every backbone says: its name, its base resolution, how multipliers become its network, and how timm builds
that network. A backbone never trains or reads files."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Dict, Sequence, Tuple

from torch import nn

CHANNEL_DIVISOR = 8  # channels round to multiples of 8 in every family here (timm's round_channels' default)


@dataclass(frozen=True)
class Backbone(ABC):
    """One family of networks that depth, width and resolution multipliers scale.

    A family implements :meth:`stage_repeats`, :meth:`stage_channels`, :meth:`create` and :meth:`stages`; the rest
    is shared.
    """
    name: str  # the study's ``backbone:`` value, and timm's base model at multipliers 1
    title: str  # as the paper names it
    base_resolution: int  # the input at resolution multiplier 1 on ImageNet
    default_dropout: float  # dropout before the classifier, as timm's base model
    first_conv: str  # pretrained_cfg's ``first_conv`` and ``classifier`` (timm's names for the base model)
    classifier: str
    stage_prefix: str  # the stages' module names: f'{stage_prefix}{i}' or f'{stage_prefix}.{i}'

    @abstractmethod
    def stage_repeats(self, depth: float) -> Tuple[int, ...]:
        """Blocks per stage at depth multiplier ``depth``."""

    @abstractmethod
    def stage_channels(self, width: float) -> Tuple[int, ...]:
        """Channels of the stem, every stage's output and the head at width multiplier ``width``."""

    @abstractmethod
    def create(self, variant: str, depth: float, width: float, pretrained: bool, **kwargs) -> nn.Module:
        """The network, built by timm's own constructor for this family (``kwargs``: timm's model keywords, the
        pretrained cfg included)."""

    @abstractmethod
    def stages(self, model: nn.Module) -> Sequence[nn.Module]:
        """The stages of a built network, in order (the modules whose outputs are the feature maps)."""

    def network_key(self, depth: float, width: float, px: int) -> Tuple:
        """What the built network is: its backbone, blocks per stage, channels and input pixels. Two multipliers
        with one key build one network (repeats round up, channels round to the divisor)."""
        return self.name, self.stage_repeats(depth), self.stage_channels(width), int(px)

    def cfg_keys(self) -> Dict[str, Any]:
        """The pretrained_cfg entries that name the network's first convolution and classifier."""
        return {'first_conv': self.first_conv, 'classifier': self.classifier}
