"""effscale_timm: scaled EfficientNets (Tan & Le, arXiv:1905.11946) in timm's model registry.

``import effscale_timm`` registers ``effscale_b0`` ... ``effscale_b7``, the single-axis models of the paper's Table 7
(``effscale_depth_b0``, ``effscale_width_b0``, ``effscale_resolution_b0``) and ``effscale_compound_b0``.
``register_exported(folder)`` registers the variant of an exported model folder (one defined at run time) before
``timm.create_model('local-dir:<folder>', pretrained=True)``. It imports nothing heavier than timm; profiling, CAMs,
training and the report load their dependencies when used.
"""
from .models import (B0_ARCH_DEF, VARIANTS, VariantSpec, register_variant, resolve_variant, scaled_efficientnet,
                     variant_spec)
from .flops import match_flops
from .files.hub_folder import register_exported
from .scaling import compound, round_resolution

__version__ = '0.1.0'
__all__ = ['B0_ARCH_DEF', 'VARIANTS', 'VariantSpec', 'compound', 'match_flops', 'register_exported', 'register_variant',
           'resolve_variant', 'round_resolution', 'scaled_efficientnet', 'variant_spec']
