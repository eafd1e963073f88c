"""The training loop's seams, as in timm's ``train.py``: one update (:class:`Step`), :func:`train_one_epoch` and
:func:`evaluate`.

:class:`Step` owns the micro-batch: an effective batch is split into micro-batches whose gradients accumulate, and an
out-of-memory error in the middle of a run halves the micro-batch and retries the same batch.
"""
from __future__ import annotations

import logging
import math
import sys
import time
from typing import Any, Callable, Dict, Iterable, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .memory import accumulation_steps, is_oom
from .state import TrainingState

_logger = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the run is marked failed."""


class Progress:
    """A tqdm bar on a terminal; nothing otherwise (the per-epoch log line is the record)."""

    def __init__(self, total: int, desc: str):
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)

    def update(self, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f'{loss:.3f}', refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class Step:
    """Forward and backward of one effective batch in micro-batches of ``micro_batch`` images.

    Args:
        model: the module trained (``step_model`` runs it, e.g. its ``torch.compile``d form).
        optimizer: its optimizer (gradients are zeroed before a batch and after an out-of-memory error).
        criterion: the loss.
        autocast: a callable returning the autocast context (bf16 on a GPU, disabled on the CPU).
        micro_batch: images per forward/backward.
    """

    def __init__(self, model: torch.nn.Module, optimizer, criterion, autocast: Callable, micro_batch: int,
                 step_model: torch.nn.Module = None):
        self.model, self.optimizer, self.criterion, self.autocast = model, optimizer, criterion, autocast
        self.step_model = step_model or model
        self.micro_batch = micro_batch

    def forward_backward(self, x: torch.Tensor, y: torch.Tensor, scale: float) -> Tuple[torch.Tensor, torch.Tensor]:
        """Forward and backward of one micro-batch, its loss scaled by its share of the batch; (logits, loss)."""
        with self.autocast():
            out = self.step_model(x)
            loss = self.criterion(out.float(), y)
        (loss * scale).backward()
        return out.detach(), loss.detach()

    def _accumulate(self, x: torch.Tensor, y: torch.Tensor) -> Tuple[float, int]:
        losses, hits = [], 0
        for xc, yc in zip(x.split(self.micro_batch), y.split(self.micro_batch)):
            out, loss = self.forward_backward(xc, yc, len(yc) / len(y))
            losses.append(loss * len(yc))
            hits += (out.argmax(1) == yc).sum().item()
        return (torch.stack(losses).sum() / len(y)).item(), hits

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> Tuple[float, int]:
        """Gradients of one batch (not yet applied); returns (mean loss, correct predictions)."""
        self.optimizer.zero_grad(set_to_none=True)
        while True:
            try:
                return self._accumulate(x, y)
            except Exception as e:  # noqa: BLE001 - an OOM mid-run shrinks the micro-batch; others propagate
                if not is_oom(e) or self.micro_batch == 1:
                    raise
                self.optimizer.zero_grad(set_to_none=True)
                torch.cuda.empty_cache()
                self.micro_batch = max(1, self.micro_batch // 2)
                _logger.warning('out of memory; micro-batch now %d with %d accumulation steps', self.micro_batch,
                                accumulation_steps(len(y), self.micro_batch))


def train_one_epoch(state: TrainingState, batches: Iterable, step: Step, desc: str) -> Dict[str, float]:
    """One pass over ``batches``: update, scheduler and EMA per batch.

    Returns:
        ``{'loss', 'top1', 'seen', 'seconds'}`` of the epoch.

    Raises:
        TrainingDiverged: the loss became NaN or infinite (before that update is applied).
    """
    state.model.train()
    t0 = time.perf_counter()
    loss_sum, correct, seen = 0.0, 0, 0
    num_updates = state.epoch * len(batches)
    progress = Progress(len(batches), desc)
    try:
        for x, y in batches:
            loss, hits = step(x, y)
            if not math.isfinite(loss):
                raise TrainingDiverged(f'loss became {loss} at epoch {state.epoch + 1}, update {num_updates + 1}; '
                                       f'lower the learning rate or check the data')
            state.optimizer.step()
            num_updates += 1
            state.scheduler.step_update(num_updates=num_updates)
            if state.ema is not None:
                state.ema.update(state.model, step=num_updates)
            loss_sum, correct, seen = loss_sum + loss * len(y), correct + hits, seen + len(y)
            progress.update(loss)
    finally:
        progress.close()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return {'loss': loss_sum / seen, 'top1': 100.0 * correct / seen, 'seen': seen,
            'seconds': time.perf_counter() - t0}


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches: Iterable, autocast: Callable,
             keep_predictions: bool = False) -> Dict[str, Any]:
    """Loss and top-1 (percent) of ``model`` over ``batches``; with ``keep_predictions`` also ``pred`` and
    ``label``, int64 arrays of the predicted and true class of every image in the batches' order."""
    model.eval()
    loss_sum, correct, n, preds, labels = 0.0, 0, 0, [], []
    for x, y in batches:
        with autocast():
            out = model(x)
        loss_sum += F.cross_entropy(out.float(), y, reduction='sum').item()
        pred = out.argmax(1)
        correct += (pred == y).sum().item()
        n += len(y)
        if keep_predictions:
            preds.append(pred.cpu())
            labels.append(y.cpu())
    result = {'loss': loss_sum / max(n, 1), 'top1': 100.0 * correct / max(n, 1)}
    if keep_predictions:
        result['pred'] = torch.cat(preds).numpy().astype(np.int64) if preds else np.zeros(0, np.int64)
        result['label'] = torch.cat(labels).numpy().astype(np.int64) if labels else np.zeros(0, np.int64)
    return result
