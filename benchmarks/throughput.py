r"""Training throughput: effscale's real training loop (the engine's ``train_run``) against plain timm, same process.

effscale column: ``train_run`` of ``effscale_b0`` - the engine's own loop (``DeviceBatches`` on the real prepared
split, ``Step``, optimizer, scheduler, recipe ``fast``), 2 epochs of ``--steps`` batches each; the img/s of the second
epoch (after warm-up) from the run's ``metrics.csv``. Baselines: timm's ``efficientnet_b0`` in a plain loop (AdamW,
cross-entropy, one ``.item()`` per step), in channels_last and in NCHW, fp32 on the CPU (bf16 autocast on a GPU); the
same pad-crop / flip / resize augmentation, either batched on in-memory tensors (``--workers 0``, the default) or
per image in a torch ``DataLoader`` with ``--workers N`` processes. Same model size, px and batch in every column.

    python benchmarks/throughput.py --data results/data/fashion_mnist.npz --sizes 32 --batch-size 128 \
        --steps 30 --threads 2
    python benchmarks/throughput.py --data results/data/fashion_mnist.npz --sizes 32 224 --batch-size 256 \
        --device cuda --compile

Prints a markdown table (img/s; ratio = engine / baseline). ``benchmarks/gpu_suite.py`` reuses the loops here.
"""
from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple

import numpy as np
import timm
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

import effscale_timm  # noqa: F401 - registers effscale_b0
from effscale_timm.data import load_prepared
from effscale_timm.files.metrics import read_metrics
from effscale_timm.train.engine import RunConfig, train_run


# --- the engine, through its public surface -----------------------------------------------------------------------

def last_epoch(out_dir: Path) -> Dict[str, Optional[float]]:
    """The last epoch of a run's ``metrics.csv`` (img_per_s, peak_mem_gib, micro_batch, ...), as the report reads it."""
    epochs = read_metrics(Path(out_dir) / 'metrics.csv')
    if not epochs:
        raise RuntimeError(f'{out_dir}/metrics.csv has no epochs')
    return epochs[-1]


def engine_rate(data: str, px: int, batch: int, steps: int, device: str, compile_: Optional[bool] = None,
                threads: Optional[int] = None, variant: str = 'effscale_b0') -> float:
    """img/s of the engine's training loop: ``train_run`` for 2 epochs of ``steps`` batches, second epoch."""
    with tempfile.TemporaryDirectory(prefix='effscale-throughput-') as tmp:
        cfg = RunConfig(variant=variant, data=str(data), out_dir=f'{tmp}/run', ckpt_root=f'{tmp}/ckpt',
                        epochs=2, batch_size=batch, base_resolution=px, device=device,
                        max_train_samples=steps * batch, max_eval_samples=batch, compile=compile_, threads=threads)
        train_run(cfg)
        return float(last_epoch(Path(tmp) / 'run')['img_per_s'])


# --- plain timm ---------------------------------------------------------------------------------------------------

class CpuAugmented(Dataset):
    """Per-image CPU augmentation for a DataLoader: reflect pad-crop, flip, bilinear resize, normalise."""

    def __init__(self, x: np.ndarray, y: np.ndarray, size: int, mean, std):
        self.x, self.y, self.size = torch.from_numpy(x), torch.from_numpy(y).long(), size
        self.mean, self.std = torch.tensor(mean).view(-1, 1, 1), torch.tensor(std).view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> Tuple[torch.Tensor, torch.Tensor]:
        x = self.x[i].float() / 255
        p = max(1, x.shape[-1] // 8)
        x = F.pad(x[None], (p, p, p, p), mode='reflect')[0]
        oy, ox = np.random.randint(0, 2 * p + 1, 2)
        x = x[:, oy:oy + self.x.shape[-2], ox:ox + self.x.shape[-1]]
        if np.random.rand() < 0.5:
            x = x.flip(-1)
        x = F.interpolate(x[None], size=(self.size, self.size), mode='bilinear', align_corners=False)[0]
        return (x - self.mean) / self.std, self.y[i]


class ResidentBatches:
    """Endless random batches from uint8 tensors kept on ``device``, augmented there as a plain user would write it
    (reflect pad-crop, flip, bilinear resize, normalise; all batched, NCHW float)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, device: torch.device, size: int, mean, std, batch_size: int):
        self.x = torch.from_numpy(np.ascontiguousarray(x)).to(device)
        self.y = torch.from_numpy(np.asarray(y, dtype=np.int64)).to(device)
        self.device, self.size, self.batch_size = device, size, batch_size
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, -1, 1, 1)

    def augment(self, xb: torch.Tensor) -> torch.Tensor:
        n, c, h, w = xb.shape
        p = max(1, w // 8)
        x = F.pad(xb.float() / 255, (p, p, p, p), mode='reflect')
        oy = torch.randint(0, 2 * p + 1, (n, 1), device=self.device)
        ox = torch.randint(0, 2 * p + 1, (n, 1), device=self.device)
        rows = (oy + torch.arange(h, device=self.device))[:, None, :, None]
        cols = (ox + torch.arange(w, device=self.device))[:, None, None, :]
        x = x[torch.arange(n, device=self.device)[:, None, None, None],
              torch.arange(c, device=self.device)[None, :, None, None], rows, cols]
        x = torch.where((torch.rand(n, device=self.device) < 0.5)[:, None, None, None], x.flip(-1), x)
        x = F.interpolate(x, size=(self.size, self.size), mode='bilinear', align_corners=False)
        return (x - self.mean) / self.std

    def __iter__(self) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        while True:
            idx = torch.randint(0, len(self.y), (self.batch_size,), device=self.device)
            yield self.augment(self.x[idx]), self.y[idx]


def endless(loader: DataLoader) -> Iterator:
    while True:
        yield from loader


def plain_batches(x, y, px: int, mean, std, batch: int, device: torch.device, workers: int) -> Iterator:
    """Plain timm's input: a DataLoader with per-image CPU augmentation (``workers`` > 0), else resident tensors."""
    if workers <= 0:
        return iter(ResidentBatches(x, y, device, px, mean, std, batch))
    loader = DataLoader(CpuAugmented(x, y, px, mean, std), batch_size=batch, shuffle=True, num_workers=workers,
                        pin_memory=device.type == 'cuda', drop_last=True, persistent_workers=True)
    return endless(loader)


def plain_rate(model: torch.nn.Module, batches: Iterator, device: torch.device, steps: int, warmup: int = 3,
               amp_dtype: Optional[torch.dtype] = None, channels_last: bool = False) -> float:
    """img/s of a plain timm training loop (AdamW, cross-entropy, one ``.item()`` per step) over ``steps`` steps
    after ``warmup`` steps."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    seen, t0 = 0, time.perf_counter()
    for i in range(warmup + steps):
        if i == warmup:
            if device.type == 'cuda':
                torch.cuda.synchronize()
            seen, t0 = 0, time.perf_counter()
        x, y = next(batches)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()
        seen += len(y)
    return seen / (time.perf_counter() - t0)


def plain_timm_rate(arrays: Dict[str, np.ndarray], px: int, batch: int, steps: int, device: torch.device,
                    workers: int, channels_last: bool, amp_dtype: Optional[torch.dtype] = None,
                    warmup: int = 3) -> float:
    """img/s of timm's ``efficientnet_b0`` in :func:`plain_rate` on the prepared training images."""
    x, y = arrays['x_train'], arrays['y_train']
    model = timm.create_model('efficientnet_b0', num_classes=len(arrays['classes']), in_chans=x.shape[1])
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    batches = plain_batches(x, y, px, arrays['mean'].tolist(), arrays['std'].tolist(), batch, device, workers)
    return plain_rate(model, batches, device, steps, warmup, amp_dtype, channels_last)


# --- the table ----------------------------------------------------------------------------------------------------

def _hardware(device: torch.device) -> str:
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    return f'CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads'


def _row(args, arrays, px: int, device: torch.device) -> str:
    amp = torch.bfloat16 if device.type == 'cuda' else None
    best = {'cl': 0.0, 'nchw': 0.0, 'engine': 0.0}
    for _ in range(args.repeats):
        best['engine'] = max(best['engine'], engine_rate(args.data, px, args.batch_size, args.steps, device.type,
                                                         args.compile, args.threads))
        for key, channels_last in (('cl', True), ('nchw', False)):
            rate = plain_timm_rate(arrays, px, args.batch_size, args.steps, device, args.workers, channels_last,
                                   amp, args.warmup)
            best[key] = max(best[key], rate)
    e, cl, nchw = best['engine'], best['cl'], best['nchw']
    return f'| {px} | {args.batch_size} | {cl:,.0f} | {nchw:,.0f} | {e:,.0f} | {e / cl:.2f}× | {e / nchw:.2f}× |'


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', required=True, help='prepared .npz (effscale prepare)')
    ap.add_argument('--sizes', type=int, nargs='+', default=[32, 224], help='input px (base_resolution of B0)')
    ap.add_argument('--batch-size', type=int, default=128)
    ap.add_argument('--steps', type=int, default=30, help='timed steps (the engine: batches per epoch)')
    ap.add_argument('--warmup', type=int, default=3, help='untimed plain timm steps first')
    ap.add_argument('--workers', type=int, default=0, help='0: plain timm augments batched in memory; N: a '
                                                           'DataLoader with N worker processes, per image')
    ap.add_argument('--threads', type=int, default=None)
    ap.add_argument('--device', default='auto', help='auto, cpu or cuda')
    ap.add_argument('--compile', action=argparse.BooleanOptionalAction, default=None,
                    help="torch.compile in the engine (default: the engine's own default)")
    ap.add_argument('--repeats', type=int, default=1, help='best of this many measurements per column')
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(('cuda' if torch.cuda.is_available() else 'cpu') if args.device == 'auto' else args.device)
    arrays = load_prepared(args.data)
    precision = 'bf16 autocast' if device.type == 'cuda' else 'fp32'
    feed = f'DataLoader, {args.workers} workers' if args.workers > 0 else 'in-memory batched augmentation'
    compiled = 'default' if args.compile is None else ('on' if args.compile else 'off')
    print(f'# throughput, {_hardware(device)}, torch {torch.__version__}, timm {timm.__version__}, B0, batch '
          f'{args.batch_size}, {args.steps} timed steps (engine: 2nd of 2 epochs, compile {compiled}), plain timm '
          f'{precision} + {feed}, real {arrays["dataset"]}, best of {args.repeats}\n')
    print('| input px | batch | plain timm channels_last img/s | plain timm NCHW img/s | effscale engine img/s '
          '| engine / channels_last | engine / NCHW |')
    print('|---|---|---|---|---|---|---|')
    for px in args.sizes:
        print(_row(args, arrays, px, device), flush=True)


if __name__ == '__main__':
    main()
