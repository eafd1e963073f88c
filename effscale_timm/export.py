"""``effscale export``: a finished run's trained model as a folder that timm loads natively, and optionally on the
Hugging Face Hub.

The folder is the one the engine writes beside every run's ``model.pt`` (:mod:`effscale_timm.files.hub_folder`:
``model.safetensors`` and ``config.json`` through timm's own ``save_for_hf``), made again from ``model.pt``, so it
works on runs trained before the engine wrote it and puts it where a user wants it. ``--push-to-hub REPO`` uploads
the same weights and config with timm's ``push_to_hf_hub`` (which needs a Hub token; the tests never push).
"""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Optional

from .files.hub_folder import hub_config, save_hub_folder
from .files.model_file import MODEL_FILE, load_trained_model

_logger = logging.getLogger(__name__)

__all__ = ['export_run', 'add_arguments', 'run_cli']


def export_run(run_dir: os.PathLike, out: os.PathLike, push_to_hub: Optional[str] = None) -> Path:
    """Write the trained model of the run in ``run_dir`` as a Hub-ready folder ``out``; with ``push_to_hub``, also
    upload it to that Hub repository.

    Raises:
        ValueError: ``run_dir`` holds no trained model, or its run did not finish (status other than ``ok``).
    """
    model_pt = Path(run_dir) / MODEL_FILE
    if not model_pt.is_file():
        raise ValueError(f'{run_dir}: no {MODEL_FILE} there; give a run folder (results/runs/<dataset>/<variant>/'
                         f'seed<n>) whose training has finished')
    model, meta = load_trained_model(model_pt)
    if meta.get('status') != 'ok':
        raise ValueError(f'{model_pt}: its run ended with status {meta.get("status")!r}, so these are not trained '
                         f'weights of a finished run; not exported')
    folder = save_hub_folder(out, model, meta)
    _logger.info('exported %s (%s) to %s', meta['variant'], model_pt, folder)
    if push_to_hub:
        from timm.models import push_to_hf_hub
        model_config, model_args, data_config = hub_config(meta)
        push_to_hf_hub(model, push_to_hub, model_config=model_config, model_args=model_args,
                       data_config=data_config, safe_serialization=True)
        _logger.info('pushed %s to the Hub as %s', meta['variant'], push_to_hub)
    return folder


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of ``effscale export``."""
    parser.add_argument('--run', required=True, help=f'a finished run\'s folder (with its {MODEL_FILE})')
    parser.add_argument('--out', required=True, help='the folder to write (model.safetensors, config.json)')
    parser.add_argument('--push-to-hub', default=None, metavar='REPO',
                        help='also upload to this Hugging Face Hub repository (needs a token: huggingface-cli login)')
    return parser


def run_cli(args: argparse.Namespace) -> Path:
    """Run ``effscale export``."""
    return export_run(args.run, args.out, args.push_to_hub)
