"""Training throughput, end to end: effscale's engine path against a plain timm baseline, side by side.

Baseline: timm's ``efficientnet_b0``, fp32 NCHW, a torchvision ``DataLoader`` whose workers augment on the CPU
(pad-crop, flip, resize to the model's input) - the seed study's setup. effscale: the same network as
``effscale_b0``, uint8 images resident on the device and augmented there, channels_last, bf16 autocast on a GPU
(fp32 on the CPU), optional ``torch.compile``. Both: AdamW steps on real Fashion-MNIST (prepared .npz).

    python benchmarks/throughput.py --data results/data/fashion_mnist.npz --sizes 32 224 --steps 30

Prints a markdown table (img/s; speed-up = effscale / baseline).
"""
import argparse
import platform
import time

import numpy as np
import timm
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

import effscale_timm  # noqa: F401 - registers effscale_b0
from effscale_timm.data import load_prepared
from effscale_timm.data.device_batches import DeviceBatches


class _CpuAugmented(Dataset):
    def __init__(self, x, y, size, mean, std):
        self.x, self.y, self.size = torch.from_numpy(x), torch.from_numpy(y), size
        self.mean, self.std = torch.tensor(mean).view(-1, 1, 1), torch.tensor(std).view(-1, 1, 1)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        x = self.x[i].float() / 255
        p = x.shape[-1] // 8
        x = F.pad(x[None], (p, p, p, p), mode='reflect')[0]
        oy, ox = np.random.randint(0, 2 * p + 1, 2)
        x = x[:, oy:oy + self.x.shape[-2], ox:ox + self.x.shape[-1]]
        if np.random.rand() < 0.5:
            x = x.flip(-1)
        x = F.interpolate(x[None], size=(self.size, self.size), mode='bilinear', align_corners=False)[0]
        return (x - self.mean) / self.std, self.y[i]


def _steps(model, batches, device, steps, autocast_dtype=None, channels_last=False):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    done, t0, warm = 0, None, 3
    while done < steps + warm:
        for x, y in batches:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None):
                loss = F.cross_entropy(model(x).float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
            if done == warm:
                if device.type == 'cuda':
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
            if done == steps + warm:
                break
    if device.type == 'cuda':
        torch.cuda.synchronize()
    return steps * batches.batch_size / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', required=True)
    ap.add_argument('--sizes', type=int, nargs='+', default=[32, 224])
    ap.add_argument('--batch-size', type=int, default=256)
    ap.add_argument('--steps', type=int, default=30)
    ap.add_argument('--workers', type=int, default=8)
    ap.add_argument('--threads', type=int, default=None)
    ap.add_argument('--compile', action='store_true')
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    data = load_prepared(args.data)
    x, y, mean, std = data['x_train'], data['y_train'], data['mean'].tolist(), data['std'].tolist()
    c, n_cls = x.shape[1], len(data['classes'])
    bf16 = torch.bfloat16 if device.type == 'cuda' else None
    hw = torch.cuda.get_device_name() if device.type == 'cuda' else f'CPU {platform.machine()}, ' \
                                                                     f'{torch.get_num_threads()} threads'
    print(f'# throughput, {hw}, torch {torch.__version__}, timm {timm.__version__}, batch {args.batch_size}, '
          f'{args.steps} steps after 3 warm-up, real {data["dataset"]}\n')
    print('| input px | baseline img/s (timm fp32 NCHW + DataLoader) | effscale img/s | speed-up |')
    print('|---|---|---|---|')
    for size in args.sizes:
        base_model = timm.create_model('efficientnet_b0', num_classes=n_cls, in_chans=c).to(device)
        loader = DataLoader(_CpuAugmented(x, y, size, mean, std), batch_size=args.batch_size, shuffle=True,
                            num_workers=args.workers, pin_memory=device.type == 'cuda', drop_last=True,
                            persistent_workers=args.workers > 0)
        base = _steps(base_model, loader, device, args.steps)
        ours_model = timm.create_model('effscale_b0', num_classes=n_cls, in_chans=c, base_resolution=size)
        ours_model = ours_model.to(device).to(memory_format=torch.channels_last)
        step_model = torch.compile(ours_model) if args.compile else ours_model
        g = torch.Generator().manual_seed(0)
        batches = DeviceBatches(x, y, device, size, mean, std, args.batch_size, train=True, generator=g)
        ours = _steps(step_model, batches, device, args.steps, autocast_dtype=bf16, channels_last=True)
        print(f'| {size} | {base:,.0f} | {ours:,.0f} | {ours / base:.2f}× |')


if __name__ == '__main__':
    main()
