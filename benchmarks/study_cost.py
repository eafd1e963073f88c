"""Estimate the GPU time of a study config from measured multiply-adds and one measured B0 throughput.

    python benchmarks/study_cost.py --config config/full.yaml [--b0-img-per-s 4562 --b0-px 224] [--train-images 54000]
    python benchmarks/study_cost.py --config config/search.yaml   # the coefficient search (config `search`)

Method (an estimate, not a measurement): each variant's fvcore MACs (conv + linear) at the config's base are
counted on the CPU; its training throughput is taken as the measured B0 throughput scaled by B0's MACs over the
variant's (the default, 4,562 img/s, is plain timm B0 at 224 px, batch 256, bf16, channels_last on one H100, from
the project's reference facts). Evaluation (validation every epoch, test once) is counted as a third of a training
image. For a search config the grid is measured as the workflow measures it (the kept candidates, each with the
study's seeds at search.epochs), and every family member at phi is costed at the paper's member's measured MACs
(the found family is only known after the choice, and its members are near 2^phi x B0 like the paper's; the
FLOP-matched ones are within ±5% of the found member by construction). Small inputs are launch-bound on a GPU, so the estimate is optimistic there; measure with
benchmarks/gpu_suite.py where a GPU is at hand.
"""
import argparse

import yaml

from effscale_timm.config import dataset_shape, resolve_variants, validate_config
from effscale_timm.flops import macs_of
from effscale_timm.scaling import round_resolution

EVAL_COST = 1 / 3  # a forward pass is about a third of a training step


def variant_rows(config, b0_img_per_s, b0_macs):
    classes, in_chans = dataset_shape(config)
    for name, spec in resolve_variants(config).items():
        px = round_resolution(spec['resolution'], config['base_resolution'])
        macs = macs_of(spec['depth'], spec['width'], px, classes, in_chans)
        yield name, px, macs, b0_img_per_s * b0_macs / macs


def search_rows(config, b0_img_per_s, b0_macs):
    """(name, px, macs, img/s, runs, epochs) of every network a `search` config trains."""
    from effscale_timm.search.family import member_spec, spec_macs, strategy_member
    from effscale_timm.search.grid import filter_by_measured_macs, grid

    search, base = config['search'], config['base_resolution']
    classes, in_chans = dataset_shape(config)
    seeds = len(config['seeds'])
    kept = filter_by_measured_macs(grid(*(tuple(search['grid'][a]) for a in ('alpha', 'beta', 'gamma'))), base,
                                   classes, in_chans, tolerance=search['tolerance'])
    for r in kept['kept']:
        yield r['name'], r['px'], r['macs'], b0_img_per_s * b0_macs / r['macs'], seeds, search.get('epochs') or \
            config['epochs']
    b0 = kept['b0_macs']
    yield 'effscale_b0', base, b0, b0_img_per_s * b0_macs / b0, seeds, config['epochs']
    phis = list(range(1, search['phis'] + 1)) + ([search['hold_out_phi']] if search.get('hold_out_phi') else [])
    for phi in phis:
        name = strategy_member('compound_paper', phi)
        spec = member_spec(name)
        macs = spec_macs(spec, base, classes, in_chans)
        # paper, found, depth, width, resolution; the found phi = 1 is the chosen candidate unless its epochs differ
        members = 5 if phi > 1 or (search.get('epochs') or config['epochs']) != config['epochs'] else 4
        yield (f'phi={phi}: {members} members at ~{name}', round_resolution(spec['resolution'], base), macs,
               b0_img_per_s * b0_macs / macs, seeds * members, config['epochs'])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--config', default='config/full.yaml')
    ap.add_argument('--schema', default='workflow/schemas/config.schema.yaml')
    ap.add_argument('--base-resolution', type=int, default=None, help="override the config's base")
    ap.add_argument('--b0-img-per-s', type=float, default=4562.0, help='measured B0 training img/s')
    ap.add_argument('--b0-px', type=int, default=224, help='input size of that measurement')
    ap.add_argument('--train-images', type=int, default=54000, help='training images per epoch')
    ap.add_argument('--eval-images', type=int, default=6000 + 10000, help='validation + test images')
    args = ap.parse_args()
    config = validate_config(yaml.safe_load(open(args.config)), args.schema)
    config['base_resolution'] = args.base_resolution or config['base_resolution']
    b0_macs = macs_of(1.0, 1.0, args.b0_px, 1000, 3)
    seeds, epochs, sweep = len(config['seeds']), config['epochs'], config.get('lr_sweep')
    print(f'# Estimated cost of {args.config} (base {config["base_resolution"]} px): B0 at {args.b0_px} px = '
          f'{args.b0_img_per_s:,.0f} img/s scaled by MACs\n')
    print('| variant | px | GMACs | est. img/s | runs | GPU hours |')
    print('|---|---|---|---|---|---|')
    total = 0.0
    if config.get('search'):
        for name, px, macs, ips, runs, run_epochs in search_rows(config, args.b0_img_per_s, b0_macs):
            hours = runs * run_epochs * (args.train_images + EVAL_COST * args.eval_images) / ips / 3600
            total += hours
            print(f'| {name} | {px} | {macs / 1e9:.3f} | {ips:,.0f} | {runs} x {run_epochs} ep | {hours:.2f} |')
        print(f'| **total** | | | | | **{total:.1f}** |')
        return
    for name, px, macs, ips in variant_rows(config, args.b0_img_per_s, b0_macs):
        images = seeds * epochs * (args.train_images + EVAL_COST * args.eval_images)
        if sweep:
            images += len(sweep['rates']) * sweep['epochs'] * (args.train_images + EVAL_COST * args.eval_images)
        hours = images / ips / 3600
        total += hours
        runs = f'{seeds} x {epochs} ep' + (f' + {len(sweep["rates"])} x {sweep["epochs"]} ep sweep' if sweep else '')
        print(f'| {name} | {px} | {macs / 1e9:.3f} | {ips:,.0f} | {runs} | {hours:.2f} |')
    print(f'| **total** | | | | | **{total:.1f}** |')


if __name__ == '__main__':
    main()
