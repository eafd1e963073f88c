"""Print every registered effscale variant: multipliers, input size, parameters and fvcore multiply-adds.

    python benchmarks/variants_table.py [--base-resolution 224] [--num-classes 1000] [--in-chans 3]

MACs are fvcore's convolution + linear count (the paper's FLOPS) and its total (with batch norm), at each
variant's own resolution for the given base.
"""
import argparse

import timm

import effscale_timm
from effscale_timm.profile import profile_variant


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--base-resolution', type=int, default=224)
    ap.add_argument('--num-classes', type=int, default=1000)
    ap.add_argument('--in-chans', type=int, default=3)
    args = ap.parse_args()
    print(f'# effscale variants at base {args.base_resolution} px, {args.num_classes} classes, {args.in_chans} '
          f'input channels (timm {timm.__version__})\n')
    print('| name | depth | width | resolution | px | dropout | params M | GMACs conv+linear | GMACs total |')
    print('|---|---|---|---|---|---|---|---|---|')
    for name in timm.list_models('effscale_*'):
        p = profile_variant(name, num_classes=args.num_classes, in_chans=args.in_chans,
                            base_resolution=args.base_resolution, latency=False, activations=False)
        spec = effscale_timm.variant_spec(name)
        print(f'| {name} | {spec.depth:g} | {spec.width:g} | {spec.resolution:.4g} | {p["input_size"]} | '
              f'{spec.dropout:g} | {p["params"] / 1e6:.3f} | {p["gmacs"]:.3f} | {p["gmacs_total"]:.3f} |')


if __name__ == '__main__':
    main()
