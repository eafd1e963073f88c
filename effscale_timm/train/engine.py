"""The training engine behind ``effscale train``: one run of one variant and seed, resumable after a kill.

Paper: Tan & Le, arXiv:1905.11946. The recipes are data (:mod:`effscale_timm.train.recipes`) turned into timm's
``create_optimizer_v2``, ``create_scheduler_v2`` and ``ModelEmaV3``. Images stay on the device as uint8 and are
augmented there (:class:`effscale_timm.data.device_batches.DeviceBatches`); channels_last always, bf16 autocast on
a GPU, fp32 on the CPU; optional ``torch.compile``. On a GPU the micro-batch is fitted to a memory budget and the
effective batch kept by gradient accumulation (:mod:`effscale_timm.train.memory`).

A run writes, in its output folder: ``metrics.csv`` (one row per epoch), ``model.pt`` (final weights, EMA when the
recipe has one) and ``final.json`` (test top-1, best validation top-1, wall time, hardware, status). Epoch
checkpoints live in a separate folder keyed by the run's configuration, so the same command after a kill resumes.
"""
from __future__ import annotations

import copy
import csv
import dataclasses
import hashlib
import io
import json
import logging
import math
import os
import platform
import random
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import timm
import torch
import torch.nn.functional as F
from timm.loss import LabelSmoothingCrossEntropy
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from timm.utils import ModelEmaV3

from ..data.device_batches import DeviceBatches
from ..data.folder_loader import FolderData
from ..data.prepared import load_prepared, recorded_sha256
from ..models import VARIANTS, register_variant
from ..atomic import write_atomic
from .checkpoint import load_latest, save_checkpoint
from .memory import accumulation_steps, fit_micro_batch, is_oom
from .recipes import get_recipe

_logger = logging.getLogger(__name__)

METRIC_FIELDS = ['epoch', 'train_loss', 'train_top1', 'val_loss', 'val_top1', 'lr', 'img_per_s', 'peak_mem_gib',
                 'micro_batch', 'epoch_s']


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the run is marked failed."""


@dataclass
class RunConfig:
    """One training run. Every field but the paths and ``threads`` enters the run key (checkpoint folder)."""
    variant: str
    data: str
    out_dir: str
    seed: int = 0
    epochs: int = 10
    recipe: str = 'fast'
    batch_size: int = 128
    device: str = 'auto'
    base_resolution: int = 32
    spec: Optional[Dict[str, float]] = None  # custom (depth, width, resolution, dropout) for an unregistered name
    max_train_samples: Optional[int] = None
    max_eval_samples: Optional[int] = None
    lr: Optional[float] = None  # overrides the recipe's lr_per_256 x batch / 256
    micro_batch: Optional[int] = None  # None: the whole batch on CPU, fitted to memory on GPU
    memory_budget_gib: Optional[float] = None  # GPU only; default the whole GPU
    grad_checkpointing: bool = False
    compile: bool = False
    deterministic: bool = False
    hflip: bool = True
    ckpt_root: str = 'results/ckpt'
    threads: Optional[int] = None
    workers: int = 4  # DataLoader workers of the image-folder path
    stop_after_epochs: Optional[int] = None  # end the process after this many epochs of this invocation (tests)

    def key(self, data_digest: str) -> str:
        """A short hash of what determines the run's results: its resume identity."""
        skip = {'data', 'out_dir', 'ckpt_root', 'threads', 'workers', 'stop_after_epochs'}
        fields = {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}
        fields['data_sha256'] = data_digest
        blob = json.dumps(fields, sort_keys=True, default=str).encode()
        return f'{self.variant}-s{self.seed}-{hashlib.sha256(blob).hexdigest()[:12]}'


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when present (else CPU, with a warning); 'cuda' without a GPU is an error."""
    if name == 'auto':
        if torch.cuda.is_available():
            return torch.device('cuda')
        _logger.warning('device: auto found no GPU; training on the CPU')
        return torch.device('cpu')
    if name.startswith('cuda') and not torch.cuda.is_available():
        raise RuntimeError(f'device: {name} was asked for, but torch finds no CUDA GPU on this machine '
                           f'(torch {torch.__version__}); use device: auto or cpu')
    if name not in ('cpu',) and not name.startswith('cuda'):
        raise ValueError(f'device must be auto, cpu or cuda[:N], got {name!r}')
    return torch.device(name)


def hardware_string(device: torch.device) -> str:
    if device.type == 'cuda':
        return f'{torch.cuda.get_device_name(device)} (torch {torch.__version__}, timm {timm.__version__})'
    return (f'CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads '
            f'(torch {torch.__version__}, timm {timm.__version__})')


def _seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=False)
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')


def build_model(cfg: RunConfig, num_classes: int, in_chans: int, recipe) -> torch.nn.Module:
    if cfg.spec:  # registers a new name; an error when a registered name is given other multipliers
        register_variant(cfg.variant, **cfg.spec)
    elif cfg.variant not in VARIANTS:
        raise ValueError(f'unknown variant {cfg.variant!r} and no (depth, width, resolution) given; '
                         f'registered: {", ".join(sorted(VARIANTS))}')
    kwargs = dict(num_classes=num_classes, in_chans=in_chans, base_resolution=cfg.base_resolution,
                  drop_path_rate=recipe.drop_path)
    if recipe.bn_momentum is not None:
        kwargs['bn_momentum'] = recipe.bn_momentum
    if recipe.bn_eps is not None:
        kwargs['bn_eps'] = recipe.bn_eps
    model = timm.create_model(cfg.variant, **kwargs)
    if recipe.zero_init_head:
        torch.nn.init.zeros_(model.get_classifier().weight)
    return model


def _peak_mem_gib(device: torch.device) -> float:
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2 ** 30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # KiB on Linux


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches: DeviceBatches, autocast) -> Dict[str, float]:
    """Loss and top-1 (percent) of ``model`` over ``batches``."""
    model.eval()
    loss_sum, correct, n = 0.0, 0, 0
    for x, y in batches:
        with autocast():
            out = model(x)
        loss_sum += F.cross_entropy(out.float(), y, reduction='sum').item()
        correct += (out.argmax(1) == y).sum().item()
        n += len(y)
    return {'loss': loss_sum / max(n, 1), 'top1': 100.0 * correct / max(n, 1)}


class _Progress:
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


def _rng_state(generator: torch.Generator) -> Dict[str, Any]:
    state = {'torch': torch.get_rng_state(), 'numpy': np.random.get_state(), 'python': random.getstate(),
             'generator': generator.get_state()}
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Dict[str, Any], generator: torch.Generator) -> None:
    torch.set_rng_state(state['torch'])
    np.random.set_state(state['numpy'])
    random.setstate(state['python'])
    generator.set_state(state['generator'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


def _write_metrics(path: Path, rows: List[Dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=METRIC_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, buf.getvalue().encode())


def _write_json(path: Path, payload: Dict[str, Any]) -> None:
    write_atomic(path, (json.dumps(payload, indent=2, default=float) + '\n').encode())


def train_run(cfg: RunConfig) -> Dict[str, Any]:
    """Train one variant with one seed; resume from its last good checkpoint when there is one.

    Returns:
        The final result (also written to ``out_dir/final.json``). A diverged run returns ``status: failed``.

    Raises:
        RuntimeError, ValueError, DatasetError: configuration, data or hardware errors, before any training.
    """
    if cfg.epochs <= 0:
        raise ValueError(f'epochs must be a positive whole number, got {cfg.epochs!r}')
    recipe = get_recipe(cfg.recipe)
    device = resolve_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    _seed_everything(cfg.seed, cfg.deterministic)
    folder = FolderData(cfg.data) if Path(cfg.data).is_dir() else None
    if folder is not None:
        data = None
        classes, in_chans, dataset_name = folder.classes, folder.in_chans, folder.name
        run_key = cfg.key(folder.digest())
    else:
        data = load_prepared(cfg.data)  # verifies the file against its recorded SHA-256, which keys the run
        classes, in_chans, dataset_name = list(data['classes']), int(data['x_train'].shape[1]), str(data['dataset'])
        run_key = cfg.key(recorded_sha256(cfg.data))
    num_classes = len(classes)
    ckpt_dir = Path(cfg.ckpt_root) / run_key
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = build_model(cfg, num_classes, in_chans, recipe).to(device).to(memory_format=torch.channels_last)
    if cfg.grad_checkpointing:
        model.set_grad_checkpointing(True)
    scaling = model.pretrained_cfg['scaling']
    input_size = model.pretrained_cfg['input_size'][-1]
    params = sum(p.numel() for p in model.parameters())
    use_bf16 = device.type == 'cuda' and torch.cuda.is_bf16_supported()

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16)

    generator = torch.Generator().manual_seed(cfg.seed)
    eval_bs = max(cfg.batch_size, 256)
    if folder is not None:
        train_batches, val_batches, test_batches, mean, std = folder.loaders(
            model, cfg.batch_size, eval_bs, device, generator, workers=cfg.workers, max_train=cfg.max_train_samples,
            max_eval=cfg.max_eval_samples)
    else:
        mean, std = data['mean'].tolist(), data['std'].tolist()
        train_batches = DeviceBatches(data['x_train'], data['y_train'], device, input_size, mean, std,
                                      cfg.batch_size, train=True, generator=generator, hflip=cfg.hflip,
                                      max_samples=cfg.max_train_samples)
        val_batches = DeviceBatches(data['x_val'], data['y_val'], device, input_size, mean, std, eval_bs,
                                    max_samples=cfg.max_eval_samples)
        test_batches = DeviceBatches(data['x_test'], data['y_test'], device, input_size, mean, std, eval_bs,
                                     max_samples=cfg.max_eval_samples)
    lr = cfg.lr if cfg.lr is not None else recipe.lr_per_256 * cfg.batch_size / 256
    optimizer = create_optimizer_v2(model, opt=recipe.opt, lr=lr, weight_decay=recipe.weight_decay,
                                    **recipe.opt_kwargs)
    updates_per_epoch = len(train_batches)
    scheduler, _ = create_scheduler_v2(optimizer, sched=recipe.sched, num_epochs=cfg.epochs,
                                       warmup_epochs=recipe.warmup(cfg.epochs), warmup_lr=recipe.warmup_lr,
                                       step_on_epochs=False, updates_per_epoch=updates_per_epoch,
                                       **recipe.sched_kwargs)
    ema = ModelEmaV3(model, decay=recipe.ema_decay, use_warmup=True) if recipe.ema_decay else None
    criterion = LabelSmoothingCrossEntropy(recipe.label_smoothing) if recipe.label_smoothing else \
        torch.nn.CrossEntropyLoss()
    step_model = torch.compile(model) if cfg.compile else model

    def forward_backward(x, y, scale: float):
        """Forward and backward of one micro-batch, its loss scaled by its share of the batch; (logits, loss)."""
        with autocast():
            out = step_model(x)
            loss = criterion(out.float(), y)
        (loss * scale).backward()
        return out.detach(), loss.detach()

    micro = cfg.micro_batch or cfg.batch_size
    if device.type == 'cuda' and not cfg.micro_batch:
        if cfg.memory_budget_gib:
            total = torch.cuda.get_device_properties(device).total_memory / 2 ** 30
            torch.cuda.set_per_process_memory_fraction(min(1.0, cfg.memory_budget_gib / total), device)

        # The probe takes a whole step (optimizer state included), then the initial weights, batch-norm statistics
        # and optimizer state are restored, so probing changes nothing but the chosen micro-batch.
        initial_model = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        initial_optimizer = copy.deepcopy(optimizer.state_dict())

        def probe(m: int) -> None:
            model.train()
            x = torch.randn(m, in_chans, input_size, input_size, device=device).contiguous(
                memory_format=torch.channels_last)
            forward_backward(x, torch.zeros(m, dtype=torch.long, device=device), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        micro, ckpt_on = fit_micro_batch(probe, cfg.batch_size, lambda: model.set_grad_checkpointing(True))
        model.load_state_dict(initial_model)
        optimizer.load_state_dict(initial_optimizer)
        torch.cuda.reset_peak_memory_stats(device)
        _logger.info('micro-batch %d x %d accumulation steps, gradient checkpointing %s', micro,
                     accumulation_steps(cfg.batch_size, micro), 'on' if ckpt_on or cfg.grad_checkpointing else 'off')

    rows: List[Dict[str, Any]] = []
    start_epoch, best_val, wall_before = 0, -1.0, 0.0
    state = load_latest(ckpt_dir)
    if state is not None:
        model.load_state_dict(state['model'])
        optimizer.load_state_dict(state['optimizer'])
        scheduler.load_state_dict(state['scheduler'])
        if ema is not None:
            ema.load_state_dict(state['ema'])
        _set_rng_state(state['rng'], generator)
        start_epoch, rows, best_val = state['epoch'], state['metrics'], state['best_val']
        wall_before, micro = state['wall_s'], state.get('micro_batch', micro)
        _logger.info('resuming %s from epoch %d (%s)', cfg.variant, start_epoch, ckpt_dir)

    t_run = time.perf_counter()
    status, error = 'ok', None
    epochs_this_call = 0
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        t0 = time.perf_counter()
        loss_sum, correct, seen, num_updates = 0.0, 0, 0, epoch * updates_per_epoch
        progress = _Progress(len(train_batches), f'{cfg.variant} s{cfg.seed} epoch {epoch + 1}/{cfg.epochs}')
        try:
            for x, y in train_batches:
                optimizer.zero_grad(set_to_none=True)
                while True:
                    try:
                        losses, hits = [], 0
                        for xc, yc in zip(x.split(micro), y.split(micro)):
                            out, loss = forward_backward(xc, yc, len(yc) / len(y))
                            losses.append(loss * len(yc))
                            hits += (out.argmax(1) == yc).sum().item()
                        break
                    except Exception as e:  # noqa: BLE001 - an OOM mid-run shrinks the micro-batch
                        if not is_oom(e) or micro == 1:
                            raise
                        optimizer.zero_grad(set_to_none=True)
                        torch.cuda.empty_cache()
                        micro = max(1, micro // 2)
                        _logger.warning('out of memory; micro-batch now %d with %d accumulation steps', micro,
                                        accumulation_steps(len(y), micro))
                batch_loss = (torch.stack(losses).sum() / len(y)).item()
                if not math.isfinite(batch_loss):
                    raise TrainingDiverged(f'loss became {batch_loss} at epoch {epoch + 1}, update '
                                           f'{num_updates + 1}; lower the learning rate or check the data')
                optimizer.step()
                num_updates += 1
                scheduler.step_update(num_updates=num_updates)
                if ema is not None:
                    ema.update(model, step=num_updates)
                loss_sum += batch_loss * len(y)
                correct += hits
                seen += len(y)
                progress.update(batch_loss)
        except TrainingDiverged as e:
            progress.close()
            status, error = 'failed', str(e)
            _logger.error('%s seed %d failed: %s', cfg.variant, cfg.seed, e)
            break
        progress.close()
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        train_s = time.perf_counter() - t0
        eval_model = ema.module if ema is not None else model
        val = evaluate(eval_model, val_batches, autocast)
        best_val = max(best_val, val['top1'])
        row = {'epoch': epoch + 1, 'train_loss': round(loss_sum / seen, 5),
               'train_top1': round(100 * correct / seen, 3), 'val_loss': round(val['loss'], 5),
               'val_top1': round(val['top1'], 3),
               'lr': optimizer.param_groups[0]['lr'], 'img_per_s': round(seen / train_s, 1),
               'peak_mem_gib': round(_peak_mem_gib(device), 3), 'micro_batch': micro,
               'epoch_s': round(time.perf_counter() - t0, 2)}
        rows.append(row)
        _logger.info('%s seed %d epoch %d/%d: train loss %.4f top-1 %.2f%% | val loss %.4f top-1 %.2f%% | lr %.3g | '
                     '%.0f img/s | peak %.2f GiB', cfg.variant, cfg.seed, epoch + 1, cfg.epochs, row['train_loss'],
                     row['train_top1'], row['val_loss'], row['val_top1'], row['lr'], row['img_per_s'],
                     row['peak_mem_gib'])
        wall = wall_before + time.perf_counter() - t_run
        save_checkpoint(ckpt_dir, {
            'model': model.state_dict(), 'optimizer': optimizer.state_dict(), 'scheduler': scheduler.state_dict(),
            'ema': ema.state_dict() if ema is not None else None, 'rng': _rng_state(generator), 'epoch': epoch + 1,
            'metrics': rows, 'best_val': best_val, 'wall_s': wall, 'micro_batch': micro,
            'config': dataclasses.asdict(cfg)})
        _write_metrics(out_dir / 'metrics.csv', rows)
        epochs_this_call += 1
        if cfg.stop_after_epochs and epochs_this_call >= cfg.stop_after_epochs and epoch + 1 < cfg.epochs:
            _logger.info('stopping after %d epochs as asked (stop_after_epochs); the same command resumes',
                         epochs_this_call)
            return {'status': 'stopped', 'epoch': epoch + 1}

    wall = wall_before + time.perf_counter() - t_run
    result = {'variant': cfg.variant, 'seed': cfg.seed, 'dataset': dataset_name, 'status': status,
              'error': error, 'test_top1': None, 'best_val_top1': round(best_val, 3) if best_val >= 0 else None,
              'epochs': len(rows), 'wall_time_s': round(wall, 2), 'hardware': hardware_string(device),
              'depth': scaling['depth'], 'width': scaling['width'], 'resolution': scaling['resolution'],
              'input_size': int(input_size), 'params': int(params), 'recipe': cfg.recipe,
              'batch_size': cfg.batch_size, 'micro_batch': micro, 'run_key': run_key,
              'max_train_samples': cfg.max_train_samples, 'max_eval_samples': cfg.max_eval_samples}
    final_model = ema.module if ema is not None else model
    if status == 'ok':
        test = evaluate(final_model, test_batches, autocast)
        result['test_top1'] = round(test['top1'], 3)
        result['test_samples'] = test_batches.num_samples
        _logger.info('%s seed %d: test top-1 %.2f%% on %d images, best val %.2f%%, %.0f s', cfg.variant, cfg.seed,
                     result['test_top1'], result['test_samples'], best_val, wall)
    spec = VARIANTS[cfg.variant]
    buf = io.BytesIO()  # written for failed runs too (their last weights), so downstream rules find their input
    torch.save({'variant': cfg.variant, 'status': status, 'spec': dataclasses.asdict(spec),
                'num_classes': num_classes, 'in_chans': in_chans, 'base_resolution': cfg.base_resolution,
                'input_size': int(input_size), 'mean': mean, 'std': std, 'classes': [str(c) for c in classes],
                'state_dict': {k: v.detach().cpu() for k, v in final_model.state_dict().items()}}, buf)
    write_atomic(out_dir / 'model.pt', buf.getvalue())
    _write_metrics(out_dir / 'metrics.csv', rows)
    _write_json(out_dir / 'final.json', result)
    return result
