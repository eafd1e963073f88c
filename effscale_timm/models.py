"""Scaled networks registered in timm's model registry.

Paper: `EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks` - https://arxiv.org/abs/1905.11946
(Tan & Le, 2019). Table 2 gives the compound family B0-B7, Table 7 the single-axis models at ~1.8B multiply-adds,
Table 3 MobileNetV2 and ResNet-50 scaled by depth, width, resolution and compound.

Every variant is a backbone (:mod:`effscale_timm.backbones`: EfficientNet-B0 by default, MobileNetV2, ResNet-50)
scaled by three multipliers: depth (blocks per stage, rounded up), width (channels, rounded to the family's divisor)
and resolution (input size = multiplier x base resolution, rounded as :func:`effscale_timm.scaling.round_resolution`
says). The network is built by timm's own classes and builders, so ``effscale_bN`` has exactly the parameters and
state_dict keys of timm's ``efficientnet_bN``, and ``effscale_resnet50`` those of ``resnet50``.

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
from typing import Any, Dict, Optional

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models import register_model
from torch import nn

from .backbones import BACKBONES, DEFAULT_BACKBONE, get_backbone
from .backbones.efficientnet import B0_ARCH_DEF
from .scaling import PAPER_COEFFICIENTS, check_multiplier, compound, round_resolution

__all__ = ['B0_ARCH_DEF', 'NAME_PATTERN', 'VariantSpec', 'VARIANTS', 'baseline_name', 'scaled_efficientnet',
           'scaled_model', 'register_variant', 'resolve_variant', 'checked_spec', 'variant_spec']

IMAGENET_BASE_RESOLUTION = 224


@dataclass(frozen=True)
class VariantSpec:
    """One scaled variant: its backbone, multipliers relative to it, dropout before the classifier, and where it comes
    from."""
    depth: float
    width: float
    resolution: float
    dropout: float = 0.2
    note: str = ''
    backbone: str = DEFAULT_BACKBONE

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

# Paper Table 3 backbones: the baseline, depth (d=4), width (w=2) and resolution (r=2) as the paper gives them, and
# compound scaling with the paper's coefficients at the phi whose measured MACs match Table 3's compound model (the
# paper gives no multipliers for it): phi = 1.8 for MobileNetV2 (1.25B measured, 4.15x; Table 3: 1.3B, 4.33x its 0.3B;
# MobileNetV2's rounded-up block counts jump to 1.44B, 4.79x, at phi 1.82) and 2.076 for ResNet-50 (17.0B, 4.17x;
# Table 3: 16.7B, 4.07x its 4.1B); tests/test_backbones.py measures them.
TABLE3_COMPOUND_PHI = {'mobilenetv2_100': 1.8, 'resnet50': 2.076}


def _table3(backbone: str) -> Dict[str, VariantSpec]:
    drop, title = BACKBONES[backbone].default_dropout, BACKBONES[backbone].title
    phi = TABLE3_COMPOUND_PHI[backbone]
    return {
        f'effscale_{backbone}': VariantSpec(1.0, 1.0, 1.0, drop, f'{title} (paper Table 3 baseline)', backbone),
        f'effscale_{backbone}_depth': VariantSpec(4.0, 1.0, 1.0, drop, f'paper Table 3 {title} depth (d=4)',
                                                  backbone),
        f'effscale_{backbone}_width': VariantSpec(1.0, 2.0, 1.0, drop, f'paper Table 3 {title} width (w=2)',
                                                  backbone),
        f'effscale_{backbone}_resolution': VariantSpec(1.0, 1.0, 2.0, drop, f'paper Table 3 {title} resolution (r=2)',
                                                       backbone),
        f'effscale_{backbone}_compound': VariantSpec(
            *compound(phi), drop, f'paper Table 3 {title} compound (alpha, beta, gamma = '
                                  f'{", ".join(f"{c:g}" for c in PAPER_COEFFICIENTS)} at phi={phi:g}, '
                                  f'FLOP-matched to the paper\'s)', backbone),
    }


for _backbone in TABLE3_COMPOUND_PHI:
    VARIANTS.update(_table3(_backbone))


def baseline_name(backbone: str = DEFAULT_BACKBONE) -> str:
    """The registered variant of ``backbone`` at multipliers 1 (``effscale_b0`` for EfficientNet-B0)."""
    get_backbone(backbone)
    return 'effscale_b0' if backbone == DEFAULT_BACKBONE else f'effscale_{backbone}'


def variant_spec(name: str) -> VariantSpec:
    """The :class:`VariantSpec` of a registered effscale variant (built-in or added by :func:`register_variant`)."""
    if name not in VARIANTS:
        raise ValueError(f'unknown effscale variant {name!r}; known: {", ".join(sorted(VARIANTS))}')
    return VARIANTS[name]


def _cfg(spec: VariantSpec, **kwargs) -> Dict[str, Any]:
    """A variant's registered pretrained_cfg, as timm's ``_cfg`` for its backbone: ImageNet input at the variant's
    resolution (the backbone's 224 px base), 1000 classes, no weights (``url`` empty). :func:`_build` records the
    model's input."""
    backbone = get_backbone(spec.backbone)
    px = spec.input_size(backbone.base_resolution)
    return {
        'url': '', 'num_classes': 1000, 'input_size': (3, px, px), 'pool_size': (math.ceil(px / 32),) * 2,
        'crop_pct': 0.875, 'interpolation': 'bicubic', 'mean': IMAGENET_DEFAULT_MEAN, 'std': IMAGENET_DEFAULT_STD,
        **backbone.cfg_keys(), 'paper_ids': 'arXiv:1905.11946', 'description': spec.note, **kwargs,
    }


def _build(
        variant: str,
        spec: VariantSpec,
        pretrained: bool = False,
        base_resolution: Optional[int] = None,
        pretrained_cfg: Optional[Dict[str, Any]] = None,
        pretrained_cfg_overlay: Optional[Dict[str, Any]] = None,
        **kwargs,
) -> nn.Module:
    """Build ``spec`` exactly as timm builds its backbone's base model (for EfficientNet ``_gen_efficientnet`` then
    ``_create_effnet``; for ResNet ``_create_resnet``), with the scaled blocks and channels.

    So every ``timm.create_model`` keyword and model feature of timm's model works here too: ``features_only``,
    ``out_indices``, ``forward_intermediates``, ``reset_classifier``, grad checkpointing, TorchScript, FX.
    Differences from timm's entrypoint: the default ``drop_rate`` is the variant's, and ``pretrained_cfg`` records
    the model's input (``input_size`` = (in_chans, px, px) at ``base_resolution``, default the backbone's 224;
    mean/std 0.5 when ``in_chans != 3``) and the multipliers under ``scaling`` (features_only models included); keys
    given in ``pretrained_cfg_overlay`` win. ``base_resolution`` never reaches timm's constructor.
    """
    backbone = get_backbone(spec.backbone)
    base_resolution = backbone.base_resolution if base_resolution is None else base_resolution
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
    kwargs.setdefault('drop_rate', spec.dropout)
    model = backbone.create(variant, spec.depth, spec.width, pretrained,
                            pretrained_cfg=given or pretrained_cfg or default_cfgs.get(variant) or _cfg(spec),
                            pretrained_cfg_overlay=source, **kwargs)
    own = {'input_size': (in_chans, px, px), 'pool_size': pool_size}
    if in_chans != 3 and not (given and 'mean' in given):
        own.update(mean=(0.5,) * in_chans, std=(0.5,) * in_chans)
    model.pretrained_cfg.update({k: v for k, v in own.items() if k not in user}, scaling=dict(
        depth=spec.depth, width=spec.width, resolution=spec.resolution, dropout=spec.dropout,
        base_resolution=base_resolution, backbone=spec.backbone))
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


def scaled_model(backbone: str = DEFAULT_BACKBONE, depth: float = 1.0, width: float = 1.0, resolution: float = 1.0,
                 dropout: Optional[float] = None, base_resolution: Optional[int] = None, **timm_kwargs) -> nn.Module:
    """Build ``backbone`` (:mod:`effscale_timm.backbones`) scaled by any (depth, width, resolution) multipliers.

    Args:
        backbone: 'efficientnet_b0', 'mobilenetv2_100' or 'resnet50'.
        depth: blocks-per-stage multiplier (> 0, rounded up per stage).
        width: channel multiplier (> 0, channels rounded to the family's divisor).
        resolution: input-size multiplier (> 0) applied to ``base_resolution``.
        dropout: dropout rate before the classifier, in [0, 1) (default: the backbone's).
        base_resolution: unscaled input size in pixels (default the backbone's 224; the dataset's size on small
            data).
        **timm_kwargs: passed to timm's model (``num_classes``, ``in_chans``, ``drop_path_rate``, ...).

    Returns:
        The model; ``model.pretrained_cfg`` carries ``input_size`` and the multipliers under ``scaling``.
    """
    spec = make_spec(depth, width, resolution, dropout, backbone=backbone)
    if base_resolution is None:
        base_resolution = get_backbone(backbone).base_resolution
    spec.input_size(base_resolution)  # validates before building
    name = f'effscale_{backbone}_d{spec.depth:g}_w{spec.width:g}_r{spec.resolution:g}'.replace('.', 'p')
    return _build(name, spec, base_resolution=base_resolution, **timm_kwargs)


def scaled_efficientnet(depth: float = 1.0, width: float = 1.0, resolution: float = 1.0, dropout: float = 0.2,
                        base_resolution: int = IMAGENET_BASE_RESOLUTION, **timm_kwargs) -> nn.Module:
    """B0 scaled by any multipliers: :func:`scaled_model` of ``efficientnet_b0``."""
    return scaled_model(DEFAULT_BACKBONE, depth, width, resolution, dropout, base_resolution, **timm_kwargs)


def make_spec(depth, width, resolution, dropout=None, note='', backbone: str = DEFAULT_BACKBONE) -> VariantSpec:
    """A validated :class:`VariantSpec` (dropout None: the backbone's); raises ``ValueError`` naming a bad argument
    and its allowed range."""
    default_dropout = get_backbone(backbone).default_dropout
    depth = check_multiplier('depth', depth)
    width = check_multiplier('width', width)
    resolution = check_multiplier('resolution', resolution)
    dropout = default_dropout if dropout is None else dropout
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ValueError(f'dropout must be a number in [0, 1), got {dropout!r}')
    return VariantSpec(depth, width, resolution, float(dropout), note, backbone)


NAME_PATTERN = r'^[a-z][a-z0-9_]*$'  # a variant name: the one pattern (schema, wildcards and registry check it)
_NAME_RE = re.compile(NAME_PATTERN)


def register_variant(name: str, depth: float, width: float, resolution: float, dropout: Optional[float] = None,
                     note: str = '', backbone: str = DEFAULT_BACKBONE) -> str:
    """Register a custom variant of ``backbone`` so that ``timm.create_model(name)`` builds it.

    Re-registering a name with the same backbone and multipliers is a no-op; with different ones it is a
    ``ValueError``.

    Returns:
        The registered name.
    """
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(f'variant name must match {NAME_PATTERN} (a Python identifier in lower case), '
                         f'got {name!r}')
    spec = make_spec(depth, width, resolution, dropout, note or 'custom', backbone)
    if name in VARIANTS:
        old = VARIANTS[name]
        if _defining(old) != _defining(spec):
            raise ValueError(f'variant {name!r} is already registered as {asdict(old)}')
        return name
    VARIANTS[name] = spec
    _register(name, spec)
    return name


def _defining(spec: VariantSpec) -> tuple:
    """What makes two specs one network: backbone, multipliers and dropout (not the note)."""
    return spec.backbone, spec.depth, spec.width, spec.resolution, spec.dropout


def resolve_variant(name: str, depth: Optional[float] = None, width: Optional[float] = None,
                    resolution: Optional[float] = None, dropout: Optional[float] = None,
                    note: str = 'custom', backbone: Optional[str] = None) -> VariantSpec:
    """A name plus optional multipliers -> the registered :class:`VariantSpec` (registering a new name).

    The one rule, used by ``effscale train``, ``profile``, ``cam`` and the config: a value not given is the
    registered variant's own (for a new name: multipliers 1.0 of ``backbone``, default EfficientNet-B0, and its
    dropout). A registered name given other values is an error, and so is a new name given no multiplier.

    Raises:
        ValueError: unknown name without multipliers, a known name with other values, or a bad value (the message
            names the argument and its allowed range).
    """
    if name not in VARIANTS and all(v is None for v in (depth, width, resolution)):
        raise ValueError(f'unknown variant {name!r}: give its depth, width and/or resolution multipliers to define '
                         f'it; registered: {", ".join(sorted(VARIANTS))}')
    spec = checked_spec(name, depth, width, resolution, dropout, note, backbone)
    if name not in VARIANTS:  # checks the name's pattern and registers
        register_variant(name, spec.depth, spec.width, spec.resolution, spec.dropout, note, spec.backbone)
    return VARIANTS[name]


def checked_spec(name: str, depth: Optional[float] = None, width: Optional[float] = None,
                 resolution: Optional[float] = None, dropout: Optional[float] = None,
                 note: str = 'custom', backbone: Optional[str] = None) -> VariantSpec:
    """The :class:`VariantSpec` that :func:`resolve_variant` would register for ``name``, registering nothing.

    A value not given is the registered variant's own (for a new name: ``backbone``'s base and dropout).

    Raises:
        ValueError: a bad value (naming the argument and its range), or a registered name given other values.
    """
    known = VARIANTS.get(name)
    backbone = backbone or (known.backbone if known else DEFAULT_BACKBONE)
    base = known or VariantSpec(1.0, 1.0, 1.0, get_backbone(backbone).default_dropout, backbone=backbone)
    given = {'depth': depth, 'width': width, 'resolution': resolution, 'dropout': dropout}
    spec = make_spec(**{k: getattr(base, k) if v is None else v for k, v in given.items()}, note=note,
                     backbone=backbone)
    if known is not None and _defining(spec) != _defining(known):
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
    entrypoint.__doc__ = f'{name}: {spec.note} ({spec.backbone} scaled by depth {spec.depth:g}, width ' \
                         f'{spec.width:g}, resolution {spec.resolution:g})'
    setattr(sys.modules[__name__], name, entrypoint)
    register_model(entrypoint)


default_cfgs: Dict[str, Dict[str, Any]] = {}
for _name, _spec in list(VARIANTS.items()):
    _register(_name, _spec)
