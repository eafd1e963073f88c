"""Device-side augmentation speed: RandAugment (timm's ``rand-m9-mstd0.5``) and random erasing on a batch of uint8
images, per batch, best of several repeats; a table on stdout. (Speed is measured here, never in a timed test.)

    python benchmarks/augment.py [--sizes 32 128] [--batch 128] [--repeats 5] [--threads 2] [--device cpu]
"""
import argparse
import time

import torch

from effscale_timm.data.augment import DeviceRandAugment, random_erasing


def best_ms(size: int, batch: int, repeats: int, device: str) -> float:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, generator=g).to(device)
    augment = DeviceRandAugment('rand-m9-mstd0.5', (0.5, 0.5, 0.5))
    augment(images, g)  # warm-up
    times = []
    for _ in range(repeats):
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        start = time.perf_counter()
        random_erasing(augment(images, g).float(), 0.2, g)
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--sizes', type=int, nargs='+', default=[32, 128])
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--repeats', type=int, default=5)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--device', default='cpu')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f'# device augmentation, batch {args.batch}, {args.threads} threads, {args.device}\n')
    print('| px | ms per batch (best of %d) | images/s |' % args.repeats)
    print('|---|---|---|')
    for size in args.sizes:
        ms = best_ms(size, args.batch, args.repeats, args.device)
        print(f'| {size} | {ms:.1f} | {args.batch / ms * 1e3:,.0f} |')


if __name__ == '__main__':
    main()
