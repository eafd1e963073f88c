"""B0 on real Fashion-MNIST over several seeds with `effscale train`: mean test top-1.

    python benchmarks/accuracy.py --data results/data/fashion_mnist.npz --epochs 35 --seeds 0 1 2 --device cuda

On a CPU use --max-train-samples / --epochs to fit the time you have; the table says what was run.
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from effscale_timm.files.run_record import read_run, record_path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', required=True)
    ap.add_argument('--variant', default='effscale_b0')
    ap.add_argument('--epochs', type=int, default=35)
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    ap.add_argument('--recipe', default='fast')
    ap.add_argument('--batch-size', type=int, default=256)
    ap.add_argument('--base-resolution', type=int, default=32)
    ap.add_argument('--device', default='auto')
    ap.add_argument('--max-train-samples', type=int, default=None)
    ap.add_argument('--extra', nargs=argparse.REMAINDER, default=[], help='more `effscale train` arguments')
    args = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix='effscale-accuracy-'))
    results = []
    for seed in args.seeds:
        cmd = [sys.executable, '-m', 'effscale_timm.cli', 'train', '--variant', args.variant, '--data', args.data,
               '--seed', str(seed), '--epochs', str(args.epochs), '--recipe', args.recipe, '--batch-size',
               str(args.batch_size), '--base-resolution', str(args.base_resolution), '--device', args.device,
               '--out-dir', str(out / f'seed{seed}'), '--ckpt-root', str(out / 'ckpt'), *args.extra]
        if args.max_train_samples:
            cmd += ['--max-train-samples', str(args.max_train_samples)]
        subprocess.run(cmd, check=True)
        results.append(read_run(record_path(out / f'seed{seed}')).to_json())
    tops = [r['test_top1'] for r in results]
    print(f'\n# accuracy: {args.variant}, recipe {args.recipe}, {args.epochs} epochs, batch {args.batch_size}, '
          f'{args.base_resolution} px base, {results[0]["hardware"]}\n')
    print('| seed | test top-1 % | best val % | wall s |')
    print('|---|---|---|---|')
    for r in results:
        print(f'| {r["seed"]} | {r["test_top1"]:.2f} | {r["best_val_top1"]:.2f} | {r["wall_time_s"]:.0f} |')
    std = statistics.stdev(tops) if len(tops) > 1 else float('nan')
    print(f'| mean ± std | {statistics.mean(tops):.2f} ± {std:.2f} | | |')


if __name__ == '__main__':
    main()
