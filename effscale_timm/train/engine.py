"""The training engine behind ``effscale train``: one run of one variant and seed, resumable after a kill.

Paper: Tan & Le, arXiv:1905.11946. The recipes are data (:mod:`effscale_timm.train.recipes`) turned into timm's
``create_optimizer_v2``, ``create_scheduler_v2`` and ``ModelEmaV3``. The data comes through one interface
(:func:`effscale_timm.data.training_data.open_training_data`): prepared arrays augmented on the device, or an image
folder read by a DataLoader. channels_last always, bf16 autocast on a GPU, fp32 on the CPU; optional
``torch.compile``. On a GPU the micro-batch is fitted to a memory budget and the effective batch kept by gradient
accumulation (:mod:`effscale_timm.train.memory`).

A run writes, in its output folder (:mod:`effscale_timm.files`): the epochs' metrics
(:mod:`~effscale_timm.files.metrics`), the trained model (:mod:`~effscale_timm.files.model_file`, and its Hub-ready
folder ``hub/`` that ``timm.create_model`` loads, :mod:`~effscale_timm.files.hub_folder`), its record
(:class:`~effscale_timm.files.run_record.RunRecord`: test top-1, best and final validation top-1, final train loss and
top-1, wall time, hardware, status) and the per-image test predictions (:mod:`~effscale_timm.files.predictions`, for
paired comparisons). Epoch checkpoints
(:class:`~effscale_timm.train.state.TrainingState`) live in a folder keyed by the run's configuration, so the same
command after a kill resumes.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np
import timm
import torch
from timm.loss import LabelSmoothingCrossEntropy
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from timm.utils import ModelEmaV3

from ..data.splits import Splits
from ..data.training_data import open_training_data
from ..files.hub_folder import HUB_DIR, export_model_file
from ..files.metrics import METRICS, write_metrics
from ..files.model_file import MODEL_FILE, save_trained_model
from ..files.predictions import PREDICTIONS, write_predictions
from ..files.run_record import RunRecord, write_run
from ..models import VariantSpec, resolve_variant
from .checkpoint import load_latest, save_checkpoint
from .device import autocast_factory, hardware_string, limit_memory, peak_mem_gib, resolve_device
from .distributed import RankShard, Ranks, average_bn, convert_sync_bn, join, leave, wrap
from .loop import Step, TrainingDiverged, evaluate, train_one_epoch
from .lr_sweep import read_lr
from .memory import probe_micro_batch
from .options import RunConfig
from .recipes import Recipe, get_recipe
from .state import TrainingState
from .tracker import Tracker, open_tracker

_logger = logging.getLogger(__name__)

__all__ = ['RunConfig', 'TrainingDiverged', 'build_model', 'train_run']


def _seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=False)
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')


def build_model(cfg: RunConfig, num_classes: int, in_chans: int, recipe: Recipe) -> torch.nn.Module:
    """``timm.create_model`` of the run's (registered) variant with the recipe's drop path and batch-norm args."""
    kwargs = dict(num_classes=num_classes, in_chans=in_chans, base_resolution=cfg.base_resolution,
                  drop_path_rate=recipe.drop_path if cfg.drop_path is None else cfg.drop_path)
    if recipe.bn_momentum is not None:
        kwargs['bn_momentum'] = recipe.bn_momentum
    if recipe.bn_eps is not None:
        kwargs['bn_eps'] = recipe.bn_eps
    model = timm.create_model(cfg.variant, **kwargs)
    if recipe.zero_init_head:
        torch.nn.init.zeros_(model.get_classifier().weight)
    return model


@dataclass
class _Run:
    """What :func:`train_run` sets up once: configuration, data, state and the update step."""
    cfg: RunConfig
    spec: VariantSpec
    device: torch.device
    data: Any  # PreparedData or FolderData
    splits: Splits
    state: TrainingState
    step: Step
    autocast: Callable
    ckpt_dir: Path
    out_dir: Path
    run_key: str
    ranks: Ranks
    compiled: bool
    compile_s: Optional[float] = None  # the first update of this process, when compiled
    tracker: Tracker = dataclasses.field(default_factory=Tracker)  # opened once the run knows where it resumes


def _state(cfg: RunConfig, recipe: Recipe, model: torch.nn.Module, updates_per_epoch: int,
           generator: torch.Generator) -> TrainingState:
    """Optimizer, scheduler (stepped per update) and EMA from the recipe, in a fresh :class:`TrainingState`."""
    lr = cfg.lr if cfg.lr is not None else recipe.lr_per_256 * cfg.batch_size / 256
    optimizer = create_optimizer_v2(model, opt=recipe.opt, lr=lr, weight_decay=recipe.weight_decay,
                                    **recipe.opt_kwargs)
    scheduler, _ = create_scheduler_v2(optimizer, sched=recipe.sched, num_epochs=cfg.epochs,
                                       warmup_epochs=recipe.warmup(cfg.epochs), warmup_lr=recipe.warmup_lr,
                                       step_on_epochs=False, updates_per_epoch=updates_per_epoch,
                                       **recipe.sched_kwargs_for(cfg.epochs))
    ema = ModelEmaV3(model, decay=recipe.ema_decay, use_warmup=True) if recipe.ema_decay else None
    return TrainingState(model, optimizer, scheduler, ema, generator,
                         micro_batch=cfg.micro_batch or cfg.batch_size // cfg.nproc_per_node)


def _model(cfg: RunConfig, recipe: Recipe, data, device: torch.device) -> torch.nn.Module:
    """The variant on ``device``, channels_last, with gradient checkpointing and SyncBatchNorm when asked."""
    model = build_model(cfg, len(data.classes), data.in_chans, recipe)
    if cfg.sync_bn:
        model = convert_sync_bn(model, device)
    model = model.to(device).to(memory_format=torch.channels_last)
    if cfg.grad_checkpointing:
        model.set_grad_checkpointing(True)
    return model


def _step(cfg: RunConfig, recipe: Recipe, state: TrainingState, ranks: Ranks, device: torch.device,
          compiled: bool) -> Step:
    """The update step: DistributedDataParallel across processes, ``torch.compile``d when ``compiled``."""
    criterion = LabelSmoothingCrossEntropy(recipe.label_smoothing) if recipe.label_smoothing else \
        torch.nn.CrossEntropyLoss()
    step_model = wrap(state.model, ranks, device)
    if compiled:
        step_model = torch.compile(step_model, mode=cfg.compile_mode)
    return Step(state.model, state.optimizer, criterion, autocast_factory(device), state.micro_batch, step_model)


def _compiled(cfg: RunConfig, device: torch.device) -> bool:
    """``compile`` as asked; by default on a GPU and off on the CPU."""
    return cfg.compile if cfg.compile is not None else device.type == 'cuda'


def _setup(cfg: RunConfig) -> _Run:
    """Check the options, resolve the variant, join the torchrun job (if any), open the data and build model, state
    and step."""
    cfg.validate()
    recipe = get_recipe(cfg.recipe)
    spec = resolve_variant(cfg.variant, cfg.depth, cfg.width, cfg.resolution, cfg.dropout, backbone=cfg.backbone,
                           note='custom (effscale train)')
    cfg = dataclasses.replace(cfg, depth=spec.depth, width=spec.width, resolution=spec.resolution,
                              dropout=spec.dropout, backbone=spec.backbone,
                              lr=read_lr(cfg.lr_from) if cfg.lr_from else cfg.lr)
    ranks, device = join(resolve_device(cfg.device))
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    _seed_everything(cfg.seed, cfg.deterministic)
    data = open_training_data(cfg.data)
    model = _model(cfg, recipe, data, device)
    generator = torch.Generator().manual_seed(cfg.seed)
    splits = data.splits(model, cfg.batch_size, max(cfg.batch_size, 256), device, generator, hflip=cfg.hflip,
                         max_train=cfg.max_train_samples, max_eval=cfg.max_eval_samples, workers=cfg.workers,
                         auto_augment=recipe.auto_augment, re_prob=recipe.re_prob)
    if ranks.world > 1:
        splits = dataclasses.replace(splits, train=RankShard(splits.train, ranks))
    state = _state(cfg, recipe, model, len(splits.train), generator)
    compiled = _compiled(cfg, device)
    step = _step(cfg, recipe, state, ranks, device, compiled)
    run_key = cfg.key(data.digest())
    return _Run(cfg, spec, device, data, splits, state, step, step.autocast, Path(cfg.ckpt_root) / run_key,
                Path(cfg.out_dir), run_key, ranks, compiled)


def _fit_and_resume(run: _Run) -> None:
    """Fit the micro-batch to GPU memory when it is not fixed (which also applies the memory budget and turns on
    gradient checkpointing when needed), then resume from the last good checkpoint, if any, with its micro-batch."""
    budget = _memory_budget(run) if run.device.type == 'cuda' else None
    if run.device.type == 'cuda' and not run.cfg.micro_batch:
        input_size = run.state.model.pretrained_cfg['input_size'][-1]
        step_model, run.step.step_model = run.step.step_model, run.state.model  # probe without DDP or compiling
        run.state.micro_batch = probe_micro_batch(run.step, run.data.in_chans, input_size,
                                                  run.cfg.batch_size // run.ranks.world, budget)
        run.step.step_model = step_model
    elif budget:
        limit_memory(run.device, budget)
    saved = load_latest(run.ckpt_dir)
    if saved is not None:
        run.state.load_state_dict(saved)
        _logger.info('resuming %s from epoch %d (%s)', run.cfg.variant, run.state.epoch, run.ckpt_dir)
    run.step.micro_batch = run.state.micro_batch


def _memory_budget(run: _Run) -> Optional[float]:
    """The GiB this process may use on its GPU: the configured budget, else its share of a packed GPU."""
    if run.cfg.memory_budget_gib or run.cfg.trainings_per_gpu == 1:
        return run.cfg.memory_budget_gib
    return torch.cuda.get_device_properties(run.device).total_memory / 2 ** 30 / run.cfg.trainings_per_gpu


def _epoch_row(run: _Run, train: Dict[str, float], val: Dict[str, float], epoch_s: float) -> Dict[str, Any]:
    row = {'epoch': run.state.epoch, 'train_loss': round(train['loss'], 5), 'train_top1': round(train['top1'], 3),
           'val_loss': round(val['loss'], 5), 'val_top1': round(val['top1'], 3),
           'lr': run.state.optimizer.param_groups[0]['lr'], 'img_per_s': round(train['seen'] / train['seconds'], 1),
           'peak_mem_gib': round(peak_mem_gib(run.device), 3), 'micro_batch': run.step.micro_batch,
           'epoch_s': round(epoch_s, 2)}
    _logger.info('%s seed %d epoch %d/%d: train loss %.4f top-1 %.2f%% | val loss %.4f top-1 %.2f%% | lr %.3g | '
                 '%.0f img/s | peak %.2f GiB', run.cfg.variant, run.cfg.seed, row['epoch'], run.cfg.epochs,
                 row['train_loss'], row['train_top1'], row['val_loss'], row['val_top1'], row['lr'],
                 row['img_per_s'], row['peak_mem_gib'])
    return row


def _one_epoch(run: _Run, t_run: float, wall_before: float) -> None:
    """Train and validate one epoch, then checkpoint it and rewrite the metrics file."""
    state, cfg = run.state, run.cfg
    t0 = time.perf_counter()
    desc = f'{cfg.variant} s{cfg.seed} epoch {state.epoch + 1}/{cfg.epochs}'
    train = train_one_epoch(state, run.splits.train, run.step, desc, cfg.log_interval, run.tracker)
    average_bn([state.model] + ([state.ema] if state.ema is not None else []), run.ranks)
    if run.compiled and run.compile_s is None:
        run.compile_s = train['first_step_s']
        _logger.info('torch.compile: the first update took %.1f s (compiling)', run.compile_s)
    val = evaluate(state.eval_model, run.splits.val, run.autocast)
    state.epoch += 1
    state.best_val = max(state.best_val, val['top1'])
    state.micro_batch = run.step.micro_batch
    state.rows.append(_epoch_row(run, train, val, time.perf_counter() - t0))
    state.wall_s = wall_before + time.perf_counter() - t_run
    _track_epoch(run)
    if run.ranks.main:
        save_checkpoint(run.ckpt_dir, dict(state.state_dict(), config=dataclasses.asdict(cfg)))
        write_metrics(run.out_dir / METRICS, state.rows)


def _track_epoch(run: _Run) -> None:
    """The epoch's row to the tracker, at the updates done (the x-axis of its per-update scalars too)."""
    row = run.state.rows[-1]
    names = ('epoch', 'train_loss', 'train_top1', 'val_loss', 'val_top1', 'lr', 'img_per_s', 'epoch_s')
    run.tracker.scalars('epoch', {k: row[k] for k in names}, run.state.epoch * len(run.splits.train))
    run.tracker.flush()


def _train_epochs(run: _Run) -> Dict[str, Any]:
    """Epochs from where the state is to the end; ``{'status': ok | failed | stopped, 'error'}``."""
    t_run, wall_before, done_here = time.perf_counter(), run.state.wall_s, 0
    while run.state.epoch < run.cfg.epochs:
        try:
            _one_epoch(run, t_run, wall_before)
        except TrainingDiverged as e:
            return _diverged(run, e, wall_before + time.perf_counter() - t_run)
        done_here += 1
        stop = run.cfg.stop_after_epochs
        if stop and done_here >= stop and run.state.epoch < run.cfg.epochs:
            _logger.info('stopping after %d epochs as asked (stop_after_epochs); the same command resumes', done_here)
            return {'status': 'stopped', 'epoch': run.state.epoch}
    return {'status': 'ok', 'error': None}


def _diverged(run: _Run, error: TrainingDiverged, wall_s: float) -> Dict[str, Any]:
    """A NaN loss: back to the last good checkpoint (so no NaN weights are saved), and the run is marked failed."""
    saved = load_latest(run.ckpt_dir)
    if saved is not None:
        run.state.load_state_dict(saved)
    where = f'the weights are those of epoch {run.state.epoch}' if saved is not None else \
        'no checkpoint was written before it'
    _logger.error('%s seed %d failed: %s; %s', run.cfg.variant, run.cfg.seed, error, where)
    run.state.wall_s = wall_s
    return {'status': 'failed', 'error': f'{error} ({where})'}


def _result(run: _Run, status: str, error) -> Tuple[RunRecord, Dict[str, np.ndarray]]:
    """The run's record (test top-1 included when the run finished) and the per-image test predictions."""
    cfg, state, model = run.cfg, run.state, run.state.model
    record = RunRecord(
        variant=cfg.variant, seed=cfg.seed, dataset=run.data.name, status=status, error=error,
        best_val_top1=round(state.best_val, 3) if state.best_val >= 0 else None, epochs=len(state.rows),
        wall_time_s=round(state.wall_s, 2), hardware=hardware_string(run.device), backbone=run.spec.backbone,
        depth=run.spec.depth,
        width=run.spec.width, resolution=run.spec.resolution, input_size=int(model.pretrained_cfg['input_size'][-1]),
        params=int(sum(p.numel() for p in model.parameters())), recipe=cfg.recipe, batch_size=cfg.batch_size,
        micro_batch=run.step.micro_batch, run_key=run.run_key,
        lr=state.optimizer.param_groups[0].get('initial_lr', cfg.lr),
        lr_source='lr_sweep' if cfg.lr_from else ('config' if cfg.lr is not None else 'recipe'),
        native_size=run.data.native_size, processes=run.ranks.world, compiled=run.compiled,
        compile_s=None if run.compile_s is None else round(run.compile_s, 2),
        max_train_samples=cfg.max_train_samples, max_eval_samples=cfg.max_eval_samples)
    if state.rows:
        last = state.rows[-1]
        record.final_train_loss, record.final_train_top1 = last['train_loss'], last['train_top1']
        record.final_val_top1, record.final_val_loss = last['val_top1'], last['val_loss']
    predictions = {'pred': np.zeros(0, np.int64), 'label': np.zeros(0, np.int64)}
    if status == 'ok':
        test = evaluate(state.eval_model, run.splits.test, run.autocast, keep_predictions=True)
        record.test_top1, record.test_samples = round(test['top1'], 3), run.splits.test.num_samples
        record.test_loss = round(test['loss'], 5)
        predictions = {'pred': test['pred'], 'label': test['label']}
        _logger.info('%s seed %d: test top-1 %.2f%% on %d images, best val %.2f%%, %.0f s', cfg.variant, cfg.seed,
                     record.test_top1, record.test_samples, state.best_val, state.wall_s)
    return record, predictions


def train_run(cfg: RunConfig) -> Optional[RunRecord]:
    """Train one variant with one seed; resume from its last good checkpoint when there is one.

    Returns:
        The run's record (also written to ``out_dir``), with ``status: failed`` for a diverged run; None when
        nothing was written: ``stop_after_epochs`` ended this process early, or this is not rank 0 of a torchrun
        job.

    Raises:
        ValueError (DatasetError, ConfigError), HardwareError: configuration, data or hardware errors, before any
            training.
    """
    run = _setup(cfg)
    try:
        run.out_dir.mkdir(parents=True, exist_ok=True)
        _fit_and_resume(run)
        run.tracker = open_tracker(run.cfg.tracker, run.out_dir, run.state.epoch * len(run.splits.train),
                                   run.ranks.main)
        outcome = _train_epochs(run)
        if outcome['status'] == 'stopped' or not run.ranks.main:
            return None
        return _write_results(run, outcome)
    finally:
        run.tracker.close()
        leave()


def _write_results(run: _Run, outcome: Dict[str, Any]) -> RunRecord:
    """Test the run (when it finished) and write its predictions, model (``model.pt`` and, from it, the Hub-ready
    folder that timm loads natively), metrics and, last, its record; a finished run's ``prev.pt`` is removed (half
    of its checkpoints' disk)."""
    record, predictions = _result(run, outcome['status'], outcome['error'])
    write_predictions(run.out_dir / PREDICTIONS, predictions['pred'], predictions['label'])
    model_pt = save_trained_model(run.out_dir / MODEL_FILE, run.state.eval_model, run.cfg.variant, run.spec,
                                  record.status, run.cfg.base_resolution, run.splits.mean, run.splits.std,
                                  run.data.classes)
    export_model_file(model_pt, run.out_dir / HUB_DIR)
    write_metrics(run.out_dir / METRICS, run.state.rows)
    write_run(run.out_dir, record)
    if record.status == 'ok':  # last.pt stays (the final epoch, plain torch.load); its fallback is no longer needed
        (run.ckpt_dir / 'prev.pt').unlink(missing_ok=True)
    return record
