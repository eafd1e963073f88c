"""Print effscale_b0..b7 profiled with fvcore beside the paper's Table 2 as a markdown table.

Paper: Tan & Le, `EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks`, arXiv:1905.11946,
Table 2 (ImageNet, 1000 classes, each model at its own resolution). The paper's FLOPS are multiply-adds; the
comparable count is fvcore's convolution + linear MACs.

Usage::

    python benchmarks/profile_table.py [--latency] [--threads 1]
"""
import argparse
import time

from effscale_timm.profile import paper_table

HEADER = ['variant', 'd', 'w', 'r', 'px', 'params M (ours / timm / paper)', 'GMACs conv+linear', 'GMACs total',
          'GMACs paper', 'rel. error conv+linear', 'rel. error total']


def _cells(row, latency):
    paper = row['paper']
    cells = [row['variant'], f'{row["depth"]:g}', f'{row["width"]:g}', f'{row["resolution"]:.4g}',
             str(row['input_size']),
             f'{row["params"] / 1e6:.3f} / {paper["timm_params_m"]:.3f} / {paper["params_m"]:g}',
             f'{row["gmacs"]:.3f}', f'{row["gmacs_total"]:.3f}', f'{paper["macs_b"]:g}',
             f'{row["gmacs_rel_error"]:+.1%}', f'{row["gmacs_total_rel_error"]:+.1%}']
    if latency:
        cells.append(f'{row["cpu_latency_ms"]:.1f}')
    return cells


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--latency', action='store_true', help='also measure batch-1 CPU latency')
    parser.add_argument('--threads', type=int, default=1, help='CPU threads for the latency (default 1)')
    args = parser.parse_args()
    start = time.perf_counter()
    rows = paper_table(latency=args.latency, threads=args.threads)
    header = HEADER + ([f'CPU ms (batch 1, {args.threads} thread)'] if args.latency else [])
    print('| ' + ' | '.join(header) + ' |')
    print('|' + '---|' * len(header))
    for row in rows:
        print('| ' + ' | '.join(_cells(row, args.latency)) + ' |')
    print(f'\nfvcore conv+linear MACs are the paper-comparable count (the paper folds batch norm into the '
          f'convolutions); FLOPs = 2 x MACs. torch {rows[0]["torch"]}, timm {rows[0]["timm"]}; '
          f'{time.perf_counter() - start:.1f} s.')


if __name__ == '__main__':
    main()
