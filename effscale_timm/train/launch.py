"""``effscale train``'s entry point: take GPU slots, then run the training in this process or as torchrun workers.

On a GPU machine (device ``auto`` or ``cuda``) the entry point takes one slot per process it will run
(:mod:`effscale_timm.train.gpu_slots`): the training then runs on its own GPU(s), shared with at most
``trainings_per_gpu - 1`` others, each capped at that share of the GPU's memory. An explicit ``cuda:N`` is used as
given, and under SLURM (``SLURM_JOB_ID`` set) the allocation already gives each job its GPUs, so no slot is taken.
With ``nproc_per_node`` > 1 the run goes to :func:`effscale_timm.train.distributed.launch`.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from typing import Optional

import torch

from ..models import resolve_variant
from . import distributed, gpu_slots
from .engine import train_run
from .options import RunConfig, to_argv

_logger = logging.getLogger(__name__)


def _slots(cfg: RunConfig) -> Optional[gpu_slots.Slots]:
    """The GPU slots this run takes, or None where none are needed (CPU, ``cuda:N``, SLURM, a torchrun worker)."""
    if distributed.in_worker() or 'SLURM_JOB_ID' in os.environ or cfg.device not in ('auto', 'cuda'):
        return None
    if not torch.cuda.is_available():
        return None  # the engine says what that means for 'auto' or 'cuda'
    gpus = gpu_slots.visible_gpus(torch.cuda.device_count())
    return gpu_slots.take(gpus, cfg.nproc_per_node, cfg.trainings_per_gpu)


def _train(cfg: RunConfig) -> int:
    record = train_run(cfg)
    if record is not None and record.status == 'failed':
        _logger.error('run failed (recorded in %s): %s', cfg.out_dir, record.error)
    return 0


def run(cfg: RunConfig) -> int:
    """Train ``cfg`` (resuming when a checkpoint exists); the process exit code (a failed run, recorded in its
    run record, still exits 0; a killed torchrun worker makes the whole job exit non-zero)."""
    cfg.validate()
    resolve_variant(cfg.variant, cfg.depth, cfg.width, cfg.resolution, cfg.dropout, note='custom (effscale train)',
                    backbone=cfg.backbone)
    if 'SLURM_JOB_ID' in os.environ and not distributed.in_worker():  # the job's log says what SLURM assigned
        _logger.info('SLURM job %s: GPUs %s, CUDA_VISIBLE_DEVICES=%s', os.environ['SLURM_JOB_ID'],
                     os.environ.get('SLURM_STEP_GPUS') or os.environ.get('SLURM_JOB_GPUS') or 'none',
                     os.environ.get('CUDA_VISIBLE_DEVICES', 'unset'))
    slots = _slots(cfg)
    try:
        if cfg.nproc_per_node > 1 and not distributed.in_worker():
            env = dict(os.environ)
            if slots is not None:  # the workers see exactly their GPUs, as cuda:0..N-1 (LOCAL_RANK)
                env['CUDA_VISIBLE_DEVICES'] = ','.join(slots.names)
            return distributed.launch(cfg.nproc_per_node, to_argv(cfg), env)
        if slots is not None:
            cfg = dataclasses.replace(cfg, device=f'cuda:{slots.gpus[0]}')
        return _train(cfg)
    finally:
        if slots is not None:
            slots.release()
