"""The backbones timm builds with its ``EfficientNet`` class from a block-string architecture: EfficientNet-B0 (the
paper's baseline) and MobileNetV2 1.0 (its Table 3). Depth rounds each stage's repeats up (timm's
``decode_arch_def``), width rounds channels to multiples of 8 (timm's ``round_channels``); both exactly as timm's own
``_gen_efficientnet`` and ``_gen_mobilenet_v2`` do, so multipliers 1 give timm's ``efficientnet_b0`` and
``mobilenetv2_100``."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Sequence, Tuple

from timm.models._efficientnet_builder import decode_arch_def, resolve_act_layer, resolve_bn_args, round_channels
from timm.models.efficientnet import _create_effnet
from torch import nn

from .base import CHANNEL_DIVISOR, Backbone


@dataclass(frozen=True)
class EffNetBackbone(Backbone):
    """A backbone built by timm's ``EfficientNet`` from ``arch_def`` (one list of block strings per stage)."""
    arch_def: Tuple[Tuple[str, ...], ...] = ()
    stem_channels: int = 32
    head_channels: int = 1280
    head_at_least_base: bool = False  # MobileNetV2: the head is max(1280, 1280 x width), never narrower
    act: str = 'swish'

    def _round(self, width: float, divisor: int = CHANNEL_DIVISOR):
        return partial(round_channels, multiplier=width, divisor=divisor)

    def _blocks(self, depth: float = 1.0, group_size=None):
        """timm's decoded block arguments per stage (``decode_arch_def`` rounds each stage's repeats up)."""
        return decode_arch_def([list(stage) for stage in self.arch_def], depth, group_size=group_size)

    def stage_repeats(self, depth: float) -> Tuple[int, ...]:
        return tuple(len(stage) for stage in self._blocks(depth))

    def _head(self, width: float, divisor: int = CHANNEL_DIVISOR) -> int:
        head = self._round(width, divisor)(self.head_channels)
        return max(self.head_channels, head) if self.head_at_least_base else head

    def stage_channels(self, width: float) -> Tuple[int, ...]:
        outs = [self._round(width)(stage[0]['out_chs']) for stage in self._blocks()]
        return (self._round(width)(self.stem_channels), *outs, self._head(width))

    def create(self, variant: str, depth: float, width: float, pretrained: bool, group_size=None,
               channel_divisor: int = CHANNEL_DIVISOR, **kwargs) -> nn.Module:
        """``timm.models.efficientnet._create_effnet`` with this architecture, as timm's own generator calls it
        (``group_size`` and ``channel_divisor`` as timm's ``_gen_efficientnet`` takes them)."""
        return _create_effnet(
            variant, pretrained,
            block_args=self._blocks(depth, group_size),
            num_features=self._head(width, channel_divisor), stem_size=self.stem_channels,
            round_chs_fn=self._round(width, channel_divisor),
            act_layer=resolve_act_layer(kwargs, self.act),
            norm_layer=kwargs.pop('norm_layer', None) or partial(nn.BatchNorm2d, **resolve_bn_args(kwargs)),
            **kwargs)

    def stages(self, model: nn.Module) -> Sequence[nn.Module]:
        return list(model.blocks)


# EfficientNet-B0 (paper Table 1): timm block strings (block type, repeats, kernel, stride, expansion, output
# channels, squeeze-excite ratio), one tuple per stage.
B0_ARCH_DEF: Tuple[Tuple[str, ...], ...] = (
    ('ds_r1_k3_s1_e1_c16_se0.25',),
    ('ir_r2_k3_s2_e6_c24_se0.25',),
    ('ir_r2_k5_s2_e6_c40_se0.25',),
    ('ir_r3_k3_s2_e6_c80_se0.25',),
    ('ir_r3_k5_s1_e6_c112_se0.25',),
    ('ir_r4_k5_s2_e6_c192_se0.25',),
    ('ir_r1_k3_s1_e6_c320_se0.25',),
)
EFFICIENTNET_B0 = EffNetBackbone(
    name='efficientnet_b0', title='EfficientNet-B0', base_resolution=224, default_dropout=0.2,
    first_conv='conv_stem', classifier='classifier', stage_prefix='blocks.', arch_def=B0_ARCH_DEF)

# MobileNetV2 1.0 (Sandler et al. 2018), as timm's _gen_mobilenet_v2 writes it.
MOBILENETV2_ARCH_DEF: Tuple[Tuple[str, ...], ...] = (
    ('ds_r1_k3_s1_c16',),
    ('ir_r2_k3_s2_e6_c24',),
    ('ir_r3_k3_s2_e6_c32',),
    ('ir_r4_k3_s2_e6_c64',),
    ('ir_r3_k3_s1_e6_c96',),
    ('ir_r3_k3_s2_e6_c160',),
    ('ir_r1_k3_s1_e6_c320',),
)
MOBILENETV2_100 = EffNetBackbone(
    name='mobilenetv2_100', title='MobileNetV2', base_resolution=224, default_dropout=0.2,
    first_conv='conv_stem', classifier='classifier', stage_prefix='blocks.', arch_def=MOBILENETV2_ARCH_DEF,
    head_at_least_base=True, act='relu6')

