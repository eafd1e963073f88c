"""The study's configuration, one module per job: :mod:`~effscale_timm.config.schema` (types, defaults, one line per
refused value), :mod:`~effscale_timm.config.checks` (what a schema cannot say) and
:mod:`~effscale_timm.config.variants` (the variants' names, and their multipliers when a job needs them).
Everything the workflow imports is re-exported here.
"""
from ..errors import ConfigError
from .checks import check_config, flop_match_blocks
from .schema import coerce_overrides, validate_config
from .variants import (DATASET_SHAPES, budget_variants, dataset_shape, resolve_variants, variant_args,
                       variant_names)

__all__ = ['ConfigError', 'DATASET_SHAPES', 'budget_variants', 'check_config', 'coerce_overrides', 'dataset_shape',
           'flop_match_blocks', 'resolve_variants', 'validate_config', 'variant_args', 'variant_names']
