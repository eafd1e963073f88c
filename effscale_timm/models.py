"""Scaled EfficientNets registered in timm's model registry.

Paper: `EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks` - https://arxiv.org/abs/1905.11946
(Tan & Le, 2019). Table 2 gives the compound family B0-B7, Table 7 the single-axis models at ~1.8B multiply-adds.

Every variant is the B0 architecture (:data:`B0_ARCH_DEF`, data in timm's block-string format) scaled by three
multipliers: depth (repeats per stage, rounded up), width (channels, rounded to multiples of 8) and resolution
(input size = multiplier x base resolution, rounded as :func:`effscale_timm.scaling.round_resolution` says). The
network is built by timm's own ``EfficientNet`` class and builder, so ``effscale_bN`` has exactly the parameters
and state_dict keys of timm's ``efficientnet_bN``.

Usage::

    import timm, effscale_timm
    model = timm.create_model('effscale_depth_b0', num_classes=10, base_resolution=32)
    model.pretrained_cfg['input_size']  # (3, 32, 32)
"""
from __future__ import annotations

import math
import re
import sys
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, Dict, Optional

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models import register_model
from timm.models._efficientnet_builder import decode_arch_def, resolve_act_layer, resolve_bn_args, round_channels
from timm.models.efficientnet import _create_effnet
from torch import nn

from .scaling import check_multiplier, round_resolution

__all__ = ['B0_ARCH_DEF', 'NAME_PATTERN', 'VariantSpec', 'VARIANTS', 'scaled_efficientnet', 'register_variant',
           'resolve_variant', 'checked_spec', 'variant_spec']

# EfficientNet-B0 (paper Table 1): one list per stage, timm block strings
# (block type, repeats, kernel, stride, expansion, output channels, squeeze-excite ratio).
B0_ARCH_DEF = [
    ['ds_r1_k3_s1_e1_c16_se0.25'],
    ['ir_r2_k3_s2_e6_c24_se0.25'],
    ['ir_r2_k5_s2_e6_c40_se0.25'],
    ['ir_r3_k3_s2_e6_c80_se0.25'],
    ['ir_r3_k5_s1_e6_c112_se0.25'],
    ['ir_r4_k5_s2_e6_c192_se0.25'],
    ['ir_r1_k3_s1_e6_c320_se0.25'],
]
B0_STEM_CHANNELS = 32
B0_HEAD_CHANNELS = 1280
CHANNEL_DIVISOR = 8
IMAGENET_BASE_RESOLUTION = 224


@dataclass(frozen=True)
class VariantSpec:
    """One scaled variant: multipliers relative to B0, dropout before the classifier, and where it comes from."""
    depth: float
    width: float
    resolution: float
    dropout: float = 0.2
    note: str = ''

    def input_size(self, base_resolution: int = IMAGENET_BASE_RESOLUTION) -> int:
        return round_resolution(self.resolution, base_resolution)


def _table2(width, depth, pixels, dropout, name):
    return VariantSpec(depth, width, pixels / IMAGENET_BASE_RESOLUTION, dropout, f'paper Table 2 {name}')


# The registered variants, as data: name -> (depth, width, resolution multiplier, dropout).
VARIANTS: Dict[str, VariantSpec] = {
    'effscale_b0': _table2(1.0, 1.0, 224, 0.2, 'B0'),
    'effscale_b1': _table2(1.0, 1.1, 240, 0.2, 'B1'),
    'effscale_b2': _table2(1.1, 1.2, 260, 0.3, 'B2'),
    'effscale_b3': _table2(1.2, 1.4, 300, 0.3, 'B3'),
    'effscale_b4': _table2(1.4, 1.8, 380, 0.4, 'B4'),
    'effscale_b5': _table2(1.6, 2.2, 456, 0.4, 'B5'),
    'effscale_b6': _table2(1.8, 2.6, 528, 0.5, 'B6'),
    'effscale_b7': _table2(2.0, 3.1, 600, 0.5, 'B7'),
    'effscale_depth_b0': VariantSpec(4.0, 1.0, 1.0, 0.2, 'paper Table 7 depth (d=4)'),
    'effscale_width_b0': VariantSpec(1.0, 2.0, 1.0, 0.2, 'paper Table 7 width (w=2)'),
    'effscale_resolution_b0': VariantSpec(1.0, 1.0, 2.0, 0.2, 'paper Table 7 resolution (r=2)'),
    'effscale_compound_b0': VariantSpec(1.4, 1.2, 1.3, 0.2, 'paper Table 7 compound (d=1.4, w=1.2, r=1.3)'),
}


def variant_spec(name: str) -> VariantSpec:
    """The :class:`VariantSpec` of a registered effscale variant (built-in or added by :func:`register_variant`)."""
    if name not in VARIANTS:
        raise ValueError(f'unknown effscale variant {name!r}; known: {", ".join(sorted(VARIANTS))}')
    return VARIANTS[name]


def _cfg(spec: VariantSpec, **kwargs) -> Dict[str, Any]:
    """A variant's registered pretrained_cfg, as timm's ``efficientnet._cfg``: ImageNet input at the variant's
    resolution (224 px base), 1000 classes, no weights (``url`` empty). :func:`_build` records the model's input."""
    px = spec.input_size()
    return {
        'url': '', 'num_classes': 1000, 'input_size': (3, px, px), 'pool_size': (math.ceil(px / 32),) * 2,
        'crop_pct': 0.875, 'interpolation': 'bicubic', 'mean': IMAGENET_DEFAULT_MEAN, 'std': IMAGENET_DEFAULT_STD,
        'first_conv': 'conv_stem', 'classifier': 'classifier', 'paper_ids': 'arXiv:1905.11946',
        'description': spec.note, **kwargs,
    }


def _build(
        variant: str,
        spec: VariantSpec,
        pretrained: bool = False,
        base_resolution: int = IMAGENET_BASE_RESOLUTION,
        pretrained_cfg: Optional[Dict[str, Any]] = None,
        pretrained_cfg_overlay: Optional[Dict[str, Any]] = None,
        group_size: Optional[int] = None,
        channel_divisor: int = CHANNEL_DIVISOR,
        **kwargs,
) -> nn.Module:
    """Build ``spec`` exactly as timm builds ``efficientnet_bN`` (``_gen_efficientnet`` then ``_create_effnet``).

    So every ``timm.create_model`` keyword and model feature of timm's EfficientNet works here too:
    ``features_only`` (timm's ``EfficientNetFeatures``, or ``feature_cfg``/``feature_cls`` wrappers),
    ``out_indices``, ``forward_intermediates``, ``reset_classifier``, grad checkpointing, TorchScript, FX.
    Differences from timm's entrypoint: the default ``drop_rate`` is the variant's, and ``pretrained_cfg`` records
    the model's input (``input_size`` = (in_chans, px, px) at ``base_resolution``, mean/std 0.5 when
    ``in_chans != 3``) and the multipliers under ``scaling`` (features_only models included); keys given in
    ``pretrained_cfg_overlay`` win. ``base_resolution`` never reaches timm's constructor.
    """
    px = spec.input_size(base_resolution)
    in_chans = kwargs.get('in_chans', 3)
    user = dict(pretrained_cfg_overlay or {})
    given = _given_cfg(variant, spec, pretrained_cfg)
    pool_size = (math.ceil(px / 32),) * 2
    # While building, timm reads the cfg as the weights' source, as for its own models: the cfg's channels (3 for
    # the registry's) and num_classes, so pretrained=True adapts the stem to in_chans and drops a classifier of
    # another size. An exported folder's cfg (local-dir:, hf-hub:) describes its own weights.
    source_chans = (given or {}).get('input_size', (3,))[0]
    source = {'input_size': (source_chans, px, px), 'pool_size': pool_size, **user}
    round_chs_fn = partial(round_channels, multiplier=spec.width, divisor=channel_divisor)
    kwargs.setdefault('drop_rate', spec.dropout)
    model = _create_effnet(
        variant, pretrained,
        pretrained_cfg=given or pretrained_cfg or default_cfgs.get(variant) or _cfg(spec),
        pretrained_cfg_overlay=source,
        block_args=decode_arch_def(B0_ARCH_DEF, spec.depth, group_size=group_size),
        num_features=round_chs_fn(B0_HEAD_CHANNELS),
        stem_size=B0_STEM_CHANNELS,
        round_chs_fn=round_chs_fn,
        act_layer=resolve_act_layer(kwargs, 'swish'),
        norm_layer=kwargs.pop('norm_layer', None) or partial(nn.BatchNorm2d, **resolve_bn_args(kwargs)),
        **kwargs,
    )
    own = {'input_size': (in_chans, px, px), 'pool_size': pool_size}
    if in_chans != 3 and not (given and 'mean' in given):
        own.update(mean=(0.5,) * in_chans, std=(0.5,) * in_chans)
    model.pretrained_cfg.update({k: v for k, v in own.items() if k not in user}, scaling=dict(
        depth=spec.depth, width=spec.width, resolution=spec.resolution, dropout=spec.dropout,
        base_resolution=base_resolution))
    return model


def _given_cfg(variant: str, spec: VariantSpec, pretrained_cfg) -> Optional[Dict[str, Any]]:
    """A pretrained_cfg dict given to the builder (an exported folder's, read by ``timm.create_model('local-dir:...')``
    or ``'hf-hub:...'``) without its ``scaling``, which timm's ``PretrainedCfg`` does not know; None for anything
    else (a tag, a ``PretrainedCfg``, nothing).

    Raises:
        ValueError: the cfg's multipliers are not those of ``variant`` here (weights of another network).
    """
    if not isinstance(pretrained_cfg, dict):
        return None
    given = dict(pretrained_cfg)
    scaling = given.pop('scaling', None) or {}
    mine = {'depth': spec.depth, 'width': spec.width, 'resolution': spec.resolution}
    theirs = {k: scaling[k] for k in mine if k in scaling}
    if any(not math.isclose(float(v), mine[k]) for k, v in theirs.items()):
        raise ValueError(f'the weights\' config was made for {variant} with multipliers {theirs}, but {variant} is '
                         f'registered here as {mine}; register it under another name')
    return given


def scaled_efficientnet(
        depth: float = 1.0,
        width: float = 1.0,
        resolution: float = 1.0,
        dropout: float = 0.2,
        base_resolution: int = IMAGENET_BASE_RESOLUTION,
        **timm_kwargs,
) -> nn.Module:
    """Build B0 scaled by any (depth, width, resolution) multipliers.

    Args:
        depth: repeats multiplier per stage (> 0, repeats rounded up).
        width: channel multiplier (> 0, channels rounded to multiples of 8).
        resolution: input-size multiplier (> 0) applied to ``base_resolution``.
        dropout: dropout rate before the classifier, in [0, 1).
        base_resolution: unscaled input size in pixels (224 on ImageNet, the dataset's size on small data).
        **timm_kwargs: passed to timm's ``EfficientNet`` (``num_classes``, ``in_chans``, ``drop_path_rate``, ...).

    Returns:
        The model; ``model.pretrained_cfg`` carries ``input_size`` and the multipliers under ``scaling``.
    """
    spec = make_spec(depth, width, resolution, dropout)
    spec.input_size(base_resolution)  # validates the resolution before building
    name = f'effscale_d{spec.depth:g}_w{spec.width:g}_r{spec.resolution:g}'
    return _build(name, spec, base_resolution=base_resolution, **timm_kwargs)


def make_spec(depth, width, resolution, dropout=0.2, note='') -> VariantSpec:
    """A validated :class:`VariantSpec`; raises ``ValueError`` naming a bad argument and its allowed range."""
    depth = check_multiplier('depth', depth)
    width = check_multiplier('width', width)
    resolution = check_multiplier('resolution', resolution)
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ValueError(f'dropout must be a number in [0, 1), got {dropout!r}')
    return VariantSpec(depth, width, resolution, float(dropout), note)


NAME_PATTERN = r'^[a-z][a-z0-9_]*$'  # a variant name: the one pattern (schema, wildcards and registry check it)
_NAME_RE = re.compile(NAME_PATTERN)


def register_variant(name: str, depth: float, width: float, resolution: float, dropout: float = 0.2,
                     note: str = '') -> str:
    """Register a custom variant so that ``timm.create_model(name)`` builds it.

    Re-registering a name with the same multipliers is a no-op; with different ones it is a ``ValueError``.

    Returns:
        The registered name.
    """
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(f'variant name must match {NAME_PATTERN} (a Python identifier in lower case), '
                         f'got {name!r}')
    spec = make_spec(depth, width, resolution, dropout, note or 'custom')
    if name in VARIANTS:
        old = VARIANTS[name]
        if (old.depth, old.width, old.resolution, old.dropout) != (spec.depth, spec.width, spec.resolution,
                                                                   spec.dropout):
            raise ValueError(f'variant {name!r} is already registered as {asdict(old)}')
        return name
    VARIANTS[name] = spec
    _register(name, spec)
    return name


def resolve_variant(name: str, depth: Optional[float] = None, width: Optional[float] = None,
                    resolution: Optional[float] = None, dropout: Optional[float] = None,
                    note: str = 'custom') -> VariantSpec:
    """A name plus optional multipliers -> the registered :class:`VariantSpec` (registering a new name).

    The one rule, used by ``effscale train``, ``profile``, ``cam`` and the config: a multiplier not given is the
    registered variant's own (B0's, 1.0, for a new name; dropout 0.2). A registered name given other multipliers
    is an error, and so is a new name given none.

    Raises:
        ValueError: unknown name without multipliers, a known name with other multipliers, or a bad value (the
            message names the argument and its allowed range).
    """
    if name not in VARIANTS and all(v is None for v in (depth, width, resolution)):
        raise ValueError(f'unknown variant {name!r}: give its depth, width and/or resolution multipliers to define '
                         f'it; registered: {", ".join(sorted(VARIANTS))}')
    spec = checked_spec(name, depth, width, resolution, dropout, note)
    if name not in VARIANTS:  # checks the name's pattern and registers
        register_variant(name, spec.depth, spec.width, spec.resolution, spec.dropout, note)
    return VARIANTS[name]


def checked_spec(name: str, depth: Optional[float] = None, width: Optional[float] = None,
                 resolution: Optional[float] = None, dropout: Optional[float] = None,
                 note: str = 'custom') -> VariantSpec:
    """The :class:`VariantSpec` that :func:`resolve_variant` would register for ``name``, registering nothing.

    A value not given is the registered variant's own (B0's for a new name).

    Raises:
        ValueError: a bad value (naming the argument and its range), or a registered name given other values.
    """
    known = VARIANTS.get(name)
    base = known or VariantSpec(1.0, 1.0, 1.0, 0.2)
    given = {'depth': depth, 'width': width, 'resolution': resolution, 'dropout': dropout}
    spec = make_spec(**{k: getattr(base, k) if v is None else v for k, v in given.items()}, note=note)
    if known is not None and any(getattr(spec, k) != getattr(known, k) for k in given):
        raise ValueError(f'variant {name!r} is already registered as {asdict(known)}; give the custom variant '
                         f'another name')
    return spec


def _register(name: str, spec: VariantSpec) -> None:
    """Put ``name`` in timm's registry (entrypoint and pretrained_cfg): ``timm.create_model(name, **kwargs)`` then
    builds ``VARIANTS[name]`` through :func:`_build`, so ``timm.list_models('effscale_*')`` lists it."""
    default_cfgs[name] = _cfg(spec)

    def entrypoint(pretrained: bool = False, **kwargs) -> nn.Module:
        return _build(name, VARIANTS[name], pretrained, **kwargs)

    entrypoint.__name__ = entrypoint.__qualname__ = name
    entrypoint.__module__ = __name__
    entrypoint.__doc__ = f'{name}: {spec.note} (depth {spec.depth:g}, width {spec.width:g}, ' \
                         f'resolution {spec.resolution:g})'
    setattr(sys.modules[__name__], name, entrypoint)
    register_model(entrypoint)


default_cfgs: Dict[str, Dict[str, Any]] = {}
for _name, _spec in list(VARIANTS.items()):
    _register(_name, _spec)
