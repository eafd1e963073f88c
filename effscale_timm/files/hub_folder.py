"""A trained model's Hub-ready folder, ``hub/`` beside ``model.pt``: what ``timm.create_model`` loads natively.

Written by timm's own ``save_for_hf`` from ``model.pt``: ``model.safetensors`` (the same weights) and ``config.json``
(``architecture``: the variant's name; ``model_args``: ``num_classes``, ``in_chans``, ``base_resolution`` and the
recipe's ``bn_eps``, so the network rebuilds with its classes, stem, input size and normalisation; ``label_names``:
the classes; ``pretrained_cfg``: the input size, the dataset's mean and std, and the multipliers under ``scaling``;
``effscale``: variant, status, spec). Load it as any timm folder or Hub repository::

    import timm, effscale_timm
    effscale_timm.register_exported('runs/x/seed0/hub')   # only for a variant defined at run time (see below)
    model = timm.create_model('local-dir:runs/x/seed0/hub', pretrained=True)

timm looks the architecture up in its registry before it reads anything else, so a variant must be registered in
the process that loads it. ``import effscale_timm`` registers the built-in ones (``effscale_b0`` ...); a variant
defined at run time (a config's ``{name, depth, width, resolution}``, a search member) is registered from the
folder's ``scaling`` by :func:`register_exported`, the one call to make first.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from torch import nn

from ..backbones import DEFAULT_BACKBONE
from ..atomic import write_atomic
from ..models import register_variant
from .damage import damaged, read_json_object
from .model_file import load_trained_model

HUB_DIR = 'hub'  # the folder's name in a run's output folder
HUB_FILES = ('model.safetensors', 'config.json')


def hub_config(meta: Dict[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any], Dict[str, Any]]:
    """``(model_config, model_args, data_config)`` for timm's ``save_for_hf`` and ``push_to_hf_hub``, from a
    ``model.pt``'s metadata (:func:`~effscale_timm.files.model_file.load_trained_model`)."""
    model_config = {'label_names': list(meta['classes']),
                    'effscale': {k: meta[k] for k in ('variant', 'status', 'spec') if k in meta}}
    model_args = {**meta.get('model_args', {}), 'num_classes': int(meta['num_classes']),
                  'in_chans': int(meta['in_chans']), 'base_resolution': int(meta['base_resolution'])}
    return model_config, model_args, {'mean': tuple(meta['mean']), 'std': tuple(meta['std'])}


def save_hub_folder(folder: os.PathLike, model: nn.Module, meta: Dict[str, Any]) -> Path:
    """Write ``model`` as a Hub-ready folder with timm's ``save_for_hf`` (safetensors); each file is replaced
    atomically, the config last.

    Args:
        model: the model as :func:`~effscale_timm.files.model_file.load_trained_model` rebuilds it (on the CPU,
            contiguous weights, as safetensors wants them).
        meta: the ``model.pt``'s metadata (what the same function returns beside it).
    """
    from timm.models import save_for_hf

    model_config, model_args, data_config = hub_config(meta)
    folder = Path(folder)
    with tempfile.TemporaryDirectory() as tmp:
        save_for_hf(model, tmp, model_config=model_config, model_args=model_args, data_config=data_config,
                    safe_serialization=True)
        for name in HUB_FILES:
            write_atomic(folder / name, (Path(tmp) / name).read_bytes())
    return folder


def export_model_file(model_pt: os.PathLike, folder: os.PathLike) -> Path:
    """The Hub-ready folder of a trained-model file: ``model.pt`` rebuilt as timm builds it, then
    :func:`save_hub_folder`. The engine calls it at the end of every run; ``effscale export`` for any run."""
    model, meta = load_trained_model(model_pt)
    return save_hub_folder(folder, model, meta)


def _exported_config(source: str) -> Tuple[str, Dict[str, Any]]:
    """(architecture, pretrained_cfg) of an exported folder, its ``config.json``, or ``hf-hub:<repo>`` (read with
    timm's own Hub reader, which downloads the config)."""
    if source.startswith('hf-hub:'):
        from timm.models import load_model_config_from_hf
        pretrained_cfg, name, _ = load_model_config_from_hf(source[len('hf-hub:'):])
        return name, pretrained_cfg
    path = Path(source[len('local-dir:'):] if source.startswith('local-dir:') else source)
    path = path / 'config.json' if path.is_dir() else path
    config = read_json_object(path, "exported model's config.json", ('architecture',),
                              'export the run again (effscale export)')
    cfg = config.get('pretrained_cfg', {})
    if not isinstance(cfg, dict):
        raise damaged(path, "not an exported model's config.json (pretrained_cfg is not an object)",
                      'export the run again (effscale export)')
    return config['architecture'], cfg


def register_exported(source: os.PathLike) -> str:
    """Register the variant of an exported folder (or its ``config.json``, or ``hf-hub:<repo>``) from the
    multipliers in its ``scaling``, so that ``timm.create_model('local-dir:<folder>', pretrained=True)`` (or
    ``'hf-hub:<repo>'``) builds it; a no-op for a variant registered here with the same multipliers.

    Returns:
        The architecture's name.

    Raises:
        ValueError: no effscale ``scaling`` in the config, or the name is registered here with other multipliers.
    """
    name, cfg = _exported_config(str(source))
    scaling: Optional[Dict[str, Any]] = cfg.get('scaling')
    if not scaling or not all(k in scaling for k in ('depth', 'width', 'resolution')):
        raise ValueError(f'{source}: {name} has no effscale multipliers (pretrained_cfg.scaling); not an effscale '
                         f'export')
    return register_variant(name, scaling['depth'], scaling['width'], scaling['resolution'],
                            scaling.get('dropout'), note=f'exported ({source})',
                            backbone=scaling.get('backbone') or DEFAULT_BACKBONE)
