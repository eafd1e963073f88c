"""The training loop's seams, as in timm's ``train.py``: one update (:class:`Step`), :func:`train_one_epoch` and
:func:`evaluate`.

:class:`Step` owns the micro-batch: an effective batch is split into micro-batches whose gradients accumulate, and an
out-of-memory error in the middle of a run halves the micro-batch and retries the same batch.

Nothing in a step waits for the device: the loss and the correct predictions accumulate on it and are read every
``log_interval`` updates (and at the epoch's end), where the divergence check looks at them; in a multi-process run
(torchrun) that read is also where the ranks' sums are added up, so every rank sees the same numbers.
"""
from __future__ import annotations

import contextlib
import logging
import math
import sys
import time
from typing import Any, Callable, Dict, Iterable, Optional, Tuple

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from .memory import accumulation_steps, is_oom
from .state import TrainingState
from .tracker import Tracker

_logger = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the run is marked failed."""


def clock(seconds: float) -> str:
    """``h:mm:ss`` (``m:ss`` under an hour) of a duration in seconds."""
    minutes, secs = divmod(int(round(max(seconds, 0.0))), 60)
    hours, minutes = divmod(minutes, 60)
    return f'{hours}:{minutes:02d}:{secs:02d}' if hours else f'{minutes}:{secs:02d}'


def _is_main_rank() -> bool:
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


class Progress:
    """What a user watching a run sees of an epoch: a tqdm bar on a terminal; otherwise (under Snakemake, where
    stderr goes to the job's log file) one INFO line at every read of the sums (the first update, then every
    ``log_interval`` updates), as timm's ``train.py`` logs: updates done, images per second, learning rate, the
    epoch's running loss and the epoch's ETA. Each read also goes to the tracker
    (:mod:`effscale_timm.train.tracker`). Only rank 0 logs. Nothing here waits for the device: the numbers are those
    of the read the loop makes anyway."""

    def __init__(self, total: int, desc: str, tracker: Optional[Tracker] = None):
        self.total, self.desc, self.tracker = total, desc, tracker or Tracker()
        self.t0 = time.perf_counter()
        self.bar = None
        self.log = _is_main_rank()
        if sys.stderr.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)

    def update(self, done: int, read: Optional[Dict[str, float]] = None) -> None:
        """``done`` updates of this epoch so far; ``read``: ``{'loss', 'top1', 'seen', 'lr', 'step'}`` when the
        sums were read at this update."""
        if self.bar is not None:
            self.bar.update(1)
            if read is not None:
                self.bar.set_postfix(loss=f'{read["loss"]:.3f}', refresh=False)
        if read is None:
            return
        elapsed = time.perf_counter() - self.t0
        rate = read['seen'] / elapsed if elapsed > 0 else None
        if self.bar is None and self.log:
            _logger.info('%s: update %d/%d (%.0f%%) | %s img/s | lr %.3g | loss %.4f | ETA %s', self.desc, done,
                         self.total, 100.0 * done / self.total, f'{rate:.0f}' if rate else '?', read['lr'],
                         read['loss'], clock(elapsed / done * (self.total - done)))
        self.tracker.scalars('train', {'loss': read['loss'], 'top1': read['top1'], 'lr': read['lr'],
                                       'img_per_s': rate}, read['step'])

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
        self.step_model = step_model if step_model is not None else model  # (a compiled module has no truth value)
        self.micro_batch = micro_batch

    def forward_backward(self, x: torch.Tensor, y: torch.Tensor, scale: float,
                         sync: bool = True) -> Tuple[torch.Tensor, torch.Tensor]:
        """Forward and backward of one micro-batch, its loss scaled by its share of the batch; (logits, loss).
        ``sync=False`` skips a DistributedDataParallel model's gradient all-reduce (micro-batches but the last)."""
        skip = getattr(self.step_model, 'no_sync', None) if not sync else None
        with skip() if skip is not None else contextlib.nullcontext():
            with self.autocast():
                out = self.step_model(x)
                loss = self.criterion(out.float(), y)
            (loss * scale).backward()
        return out.detach(), loss.detach()

    def _accumulate(self, x: torch.Tensor, y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        chunks = list(zip(x.split(self.micro_batch), y.split(self.micro_batch)))
        loss_sum = torch.zeros((), device=x.device)
        hits = torch.zeros((), dtype=torch.long, device=x.device)
        for i, (xc, yc) in enumerate(chunks):
            out, loss = self.forward_backward(xc, yc, len(yc) / len(y), sync=i == len(chunks) - 1)
            loss_sum += loss * len(yc)
            hits += (out.argmax(1) == yc).sum()
        return loss_sum, hits

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Gradients of one batch (not yet applied); returns (summed loss, correct predictions) as device tensors,
        without waiting for the device."""
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


class EpochSums:
    """Loss, correct predictions and images of an epoch, summed on the device; :meth:`read` waits for it (once per
    log interval), adds the ranks' sums in a multi-process run, and raises :class:`TrainingDiverged` on a NaN."""

    def __init__(self, device: torch.device):
        self.sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, correct, images

    def add(self, loss_sum: torch.Tensor, hits: torch.Tensor, n: int) -> None:
        self.sums[0] += loss_sum.double()
        self.sums[1] += hits
        self.sums[2] += n

    def read(self, where: str) -> Tuple[float, float, int]:
        """(mean loss, top-1 in percent, images) so far, over all ranks."""
        sums = self.sums.clone()
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(sums)
        loss, correct, seen = sums.tolist()
        if not math.isfinite(loss):
            raise TrainingDiverged(f'loss became {loss} {where}; lower the learning rate or check the data')
        return loss / max(seen, 1), 100.0 * correct / max(seen, 1), int(seen)


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def train_one_epoch(state: TrainingState, batches: Iterable, step: Step, desc: str, log_interval: int = 50,
                    tracker: Optional[Tracker] = None) -> Dict[str, float]:
    """One pass over ``batches``: update, scheduler and EMA per batch; the sums are read (and checked for a NaN)
    after the first update (which is waited for anyway) and every ``log_interval`` updates, where the progress is
    shown (:class:`Progress`, to ``tracker`` too), and at the end.

    Returns:
        ``{'loss', 'top1', 'seen', 'seconds', 'first_step_s'}`` of the epoch (``first_step_s``: the first update,
        waited for, which holds ``torch.compile``'s compile time in a process's first epoch).

    Raises:
        TrainingDiverged: the loss became NaN or infinite (the updates since the last read have been applied).
    """
    state.model.train()
    t0 = time.perf_counter()
    sums, first_step_s = None, 0.0
    num_updates = state.epoch * len(batches)
    progress = Progress(len(batches), desc, tracker)
    try:
        for i, (x, y) in enumerate(batches):
            loss_sum, hits = step(x, y)
            sums = sums or EpochSums(loss_sum.device)
            sums.add(loss_sum, hits, len(y))
            state.optimizer.step()
            num_updates += 1
            state.scheduler.step_update(num_updates=num_updates)
            if state.ema is not None:
                state.ema.update(state.model, step=num_updates)
            if i == 0:
                _sync(loss_sum.device)
                first_step_s = time.perf_counter() - t0
            read = None
            if i == 0 or (i + 1) % log_interval == 0:  # the first update was waited for just above
                loss, top1, seen = sums.read(f'by update {num_updates} (epoch {state.epoch + 1})')
                read = dict(loss=loss, top1=top1, seen=seen, lr=state.optimizer.param_groups[0]['lr'],
                            step=num_updates)
            progress.update(i + 1, read)
        if sums is None:
            raise ValueError('no training batches: the training split is empty')
        loss, top1, seen = sums.read(f'in epoch {state.epoch + 1}, by update {num_updates}')
    finally:
        progress.close()
    return {'loss': loss, 'top1': top1, 'seen': seen, 'seconds': time.perf_counter() - t0,
            'first_step_s': first_step_s}


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches: Iterable, autocast: Callable,
             keep_predictions: bool = False) -> Dict[str, Any]:
    """Loss and top-1 (percent) of ``model`` over ``batches``; with ``keep_predictions`` also ``pred`` and
    ``label``, int64 arrays of the predicted and true class of every image in the batches' order."""
    model.eval()
    sums, preds, labels = None, [], []
    for x, y in batches:
        with autocast():
            out = model(x)
        pred = out.argmax(1)
        sums = sums if sums is not None else torch.zeros(3, dtype=torch.float64, device=out.device)
        sums[0] += F.cross_entropy(out.float(), y, reduction='sum').double()
        sums[1] += (pred == y).sum()
        sums[2] += len(y)
        if keep_predictions:
            preds.append(pred)
            labels.append(y)
    loss_sum, correct, n = sums.tolist() if sums is not None else (0.0, 0, 0)
    result = {'loss': loss_sum / max(n, 1), 'top1': 100.0 * correct / max(n, 1)}
    if keep_predictions:
        result['pred'] = torch.cat(preds).cpu().numpy().astype(np.int64) if preds else np.zeros(0, np.int64)
        result['label'] = torch.cat(labels).cpu().numpy().astype(np.int64) if labels else np.zeros(0, np.int64)
    return result
