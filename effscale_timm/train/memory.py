"""Fitting training into a memory budget: pick the micro-batch, accumulate gradients, checkpoint activations.

Uses timm's ``decay_batch_step`` (the batch-size decay schedule of timm's benchmark script) and
``check_batch_size_retry`` (which errors are worth a smaller batch), and timm's ``set_grad_checkpointing``.
"""
from __future__ import annotations

import copy
import logging
from typing import Callable, Optional, Tuple

import torch
from timm.utils import check_batch_size_retry, decay_batch_step

from ..errors import HardwareError
from .device import limit_memory

_logger = logging.getLogger(__name__)

MIN_MICRO_BATCH = 8  # below this, gradient checkpointing is turned on instead of shrinking further


def is_oom(error: BaseException) -> bool:
    """True for an out-of-memory error that a smaller micro-batch may fix."""
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    msg = str(error)
    return isinstance(error, RuntimeError) and 'out of memory' in msg.lower() and check_batch_size_retry(msg)


def fit_micro_batch(probe: Callable[[int], None], batch_size: int, enable_checkpointing: Callable[[], None],
                    min_micro_batch: int = MIN_MICRO_BATCH) -> Tuple[int, bool]:
    """Find the largest micro-batch that ``probe`` (one forward/backward) runs without running out of memory.

    Args:
        probe: runs one training step at a given micro-batch; raises an OOM error when it does not fit.
        batch_size: the effective batch; micro-batches are tried from here down.
        enable_checkpointing: turns on gradient checkpointing (called once, when the micro-batch would drop below
            ``min_micro_batch``).
        min_micro_batch: the smallest micro-batch tried before checkpointing; 1 is always the last resort.

    Returns:
        (micro_batch, checkpointing_on).
    """
    micro, checkpointing = batch_size, False
    while True:
        try:
            probe(micro)
            return micro, checkpointing
        except Exception as e:  # noqa: BLE001 - only OOM errors are retried
            if not is_oom(e):
                raise
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            smaller = decay_batch_step(micro)
            if smaller < min_micro_batch and not checkpointing:
                _logger.warning('micro-batch %d does not fit; turning on gradient checkpointing', micro)
                enable_checkpointing()
                checkpointing = True
                continue
            if smaller < 1 or micro == 1:
                raise HardwareError('a micro-batch of 1 with gradient checkpointing does not fit in memory') from e
            _logger.warning('micro-batch %d does not fit in memory; trying %d with gradient accumulation',
                            micro, smaller)
            micro = smaller


def accumulation_steps(batch_size: int, micro_batch: int) -> int:
    """Micro-batches per optimizer step so that the effective batch is at least ``batch_size``."""
    return -(-batch_size // micro_batch)


def probe_micro_batch(step, in_chans: int, input_size: int, batch_size: int,
                      memory_budget_gib: Optional[float] = None) -> int:
    """Fit the micro-batch of a GPU run to memory (or ``memory_budget_gib``) with whole probe steps.

    Each probe takes one whole optimizer step (so optimizer state counts) on random images; afterwards the initial
    weights, batch-norm statistics and optimizer state are restored, so probing changes nothing but the micro-batch.

    Args:
        step: the run's :class:`effscale_timm.train.loop.Step` (its model, optimizer and forward/backward).
        in_chans: input channels.
        input_size: the variant's input side in pixels.
        batch_size: the effective batch (the first micro-batch tried).
        memory_budget_gib: cap on this process's GPU memory; default the whole GPU.

    Returns:
        The micro-batch; gradient checkpointing is on in the model when it was needed.
    """
    model, optimizer = step.model, step.optimizer
    device = next(model.parameters()).device
    if memory_budget_gib:
        limit_memory(device, memory_budget_gib)
    initial_model = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    initial_optimizer = copy.deepcopy(optimizer.state_dict())

    def probe(m: int) -> None:
        model.train()
        x = torch.randn(m, in_chans, input_size, input_size, device=device).contiguous(
            memory_format=torch.channels_last)
        step.forward_backward(x, torch.zeros(m, dtype=torch.long, device=device), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    micro, ckpt_on = fit_micro_batch(probe, batch_size, lambda: model.set_grad_checkpointing(True))
    model.load_state_dict(initial_model)
    optimizer.load_state_dict(initial_optimizer)
    torch.cuda.reset_peak_memory_stats(device)
    _logger.info('micro-batch %d x %d accumulation steps%s', micro, accumulation_steps(batch_size, micro),
                 ', gradient checkpointing on' if ckpt_on else '')
    return micro
