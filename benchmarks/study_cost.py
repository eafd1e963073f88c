"""Estimate the GPU time of a study config from measured multiply-adds and one measured B0 throughput.

    python benchmarks/study_cost.py --config config/full.yaml [--b0-img-per-s 4562 --b0-px 224] [--train-images 54000]
    python benchmarks/study_cost.py --config config/search.yaml   # the coefficient search (config `search`)
    python benchmarks/study_cost.py --config config/design_space.yaml   # the design-space study (`design_space`)
    python benchmarks/study_cost.py --config config/full.yaml --pilot results/runs/*/*/seed*/final.json --target-mde 0.5

Method (an estimate, not a measurement): each variant's fvcore MACs (conv + linear) at the config's base are
counted on the CPU; its training throughput is taken as the measured B0 throughput scaled by B0's MACs over the
variant's (the default, 4,562 img/s, is plain timm B0 at 224 px, batch 256, bf16, channels_last on one H100, from
the project's reference facts). Evaluation (validation every epoch, test once) is counted as a third of a training
image. For a search config the grid is measured as the workflow measures it, at search.search_phi (the kept
candidates, each with the study's seeds at search.epochs; with successive halving every compound candidate at
halving.epochs and the better keep_fraction, costed at the candidates' mean MACs, at search.epochs); the paper's
members are measured; the found family's and the FLOP-matched members at phi are costed at 2^phi x B0's MACs (the
found family is only known after the choice; its member at the search's phi is within ±5% of 2^phi x B0, and the
matched ones within ±5% of it); fractional phi train with one seed; a learning-rate sweep is counted for every
variant that has its own (B0 and the members at whole phi, effscale_timm.search.family.lr_variant). A design-space
config is its samples at regime x B0's MACs (each within ±5%), one run each at design_space.epochs. Small inputs are
launch-bound on a GPU, so the estimate is optimistic there; measure with benchmarks/gpu_suite.py where a GPU is at
hand. The learning-rate sweep (rates x sweep seeds) and the budget check's longer runs are counted for the variants
that have them.

Planning seeds (--pilot): the run records of a pilot study give the seed standard deviation pooled over its arms;
for 2, 3, ... seeds per arm the table prints the minimum detectable effect of the report's own rule
(effscale_timm.decision.mde: compound better than every matched axis with 80% power) until it reaches --target-mde.
"""
import argparse
from typing import Dict, List, Sequence, Tuple

import yaml

from effscale_timm.backbones import BACKBONES
from effscale_timm.config import (budget_variants, dataset_shape, flop_match_blocks, resolve_variants, validate_config,
                                  variant_names)
from effscale_timm.decision import SIGNIFICANCE, Contrast, Pooled, mde, pooled_sd
from effscale_timm.files.run_record import read_run
from effscale_timm.flops import macs_of
from effscale_timm.scaling import SCALING_AXES, round_resolution
from effscale_timm.train.lr_sweep import default_rates

EVAL_COST = 1 / 3  # a forward pass is about a third of a training step


def variant_rows(config, b0_img_per_s, b0_macs, measured=None):
    """(name, px, macs, img/s) per variant: img/s scaled by MACs from its backbone's baseline where ``measured``
    gives that baseline's img/s at the same px as B0's measurement, else from B0's (``b0_img_per_s`` at ``b0_macs``).
    """
    classes, in_chans = dataset_shape(config)
    for name, spec in resolve_variants(config).items():
        px = round_resolution(spec['resolution'], config['base_resolution'])
        macs = macs_of(spec['depth'], spec['width'], px, classes, in_chans, spec['backbone'])
        ref_ips, ref_macs = (measured or {}).get(spec['backbone'], (b0_img_per_s, b0_macs))
        yield name, px, macs, ref_ips * ref_macs / macs


def _sweep_runs(config):
    """(runs, epochs) of one variant's learning-rate sweep, or (0, 0) without lr_sweep."""
    sweep = config.get('lr_sweep')
    if not sweep:
        return 0, 0
    rates = sweep.get('rates') or default_rates(config['recipe'], config['batch_size'])
    return len(rates) * len(sweep['seeds']), sweep['epochs']


def _candidate_rows(config, search, kept, ips):
    """The search's candidates: the halving round and the candidates' runs."""
    seeds, epochs = len(config['seeds']), search.get('epochs') or config['epochs']
    compound = [r for r in kept['kept'] if not r['single_axis']]
    references = [r for r in kept['kept'] if r['single_axis']]
    halving = search.get('halving')
    if not halving:
        for r in kept['kept']:
            yield r['name'], r['px'], r['macs'], ips(r['macs']), seeds, epochs
        return
    import math
    mean = sum(r['macs'] for r in compound) / len(compound)
    px = compound[0]['px']
    yield f'halving: {len(compound)} compound candidates', px, mean, ips(mean), seeds * len(compound), \
        halving['epochs']
    going_on = max(1, math.ceil(halving.get('keep_fraction', 0.5) * len(compound))) + len(references)
    yield f'{going_on} candidates on to search.epochs', px, mean, ips(mean), seeds * going_on, epochs


def search_rows(config, b0_img_per_s, b0_macs):
    """(name, px, macs, img/s, runs, epochs) of every network a `search` config trains."""
    from effscale_timm.search.family import STRATEGIES, lr_variant, member_spec, spec_macs, strategy_member
    from effscale_timm.search.grid import filter_by_measured_macs, grid

    search, base = config['search'], config['base_resolution']
    classes, in_chans = dataset_shape(config)
    seeds, search_phi = len(config['seeds']), search.get('search_phi', 1)
    kept = filter_by_measured_macs(grid(*(tuple(search['grid'][a]) for a in ('alpha', 'beta', 'gamma'))), base,
                                   classes, in_chans, tolerance=search['tolerance'], phi=search_phi)

    def ips(macs):
        return b0_img_per_s * b0_macs / macs
    yield from _candidate_rows(config, search, kept, ips)
    b0 = kept['b0_macs']
    sweep_runs, sweep_epochs = _sweep_runs(config)
    yield 'effscale_b0', base, b0, ips(b0), seeds, config['epochs']
    if sweep_runs:
        yield 'effscale_b0 (lr sweep)', base, b0, ips(b0), sweep_runs, sweep_epochs
    retrain = (search.get('epochs') or config['epochs']) != config['epochs']
    whole = list(range(1, search['phis'] + 1)) + ([search['hold_out_phi']] if search.get('hold_out_phi') else [])
    for phi, n_seeds in [(p, seeds) for p in whole] + [(p, 1) for p in search.get('fractional_phis') or []]:
        paper = strategy_member('compound_paper', phi)
        paper_macs = spec_macs(member_spec(paper), base, classes, in_chans)
        others = [s for s in STRATEGIES if s != 'compound_paper'
                  and not (s == 'compound_found' and phi == search_phi and not retrain)]
        px = round_resolution(member_spec(paper)['resolution'], base)
        yield f'{paper} ({n_seeds} seed(s))', px, paper_macs, ips(paper_macs), n_seeds, config['epochs']
        target = 2.0 ** phi * b0
        yield (f'phi={phi:g}: {len(others)} members at ~2^phi x B0', px, target, ips(target), n_seeds * len(others),
               config['epochs'])
        own = [s for s in STRATEGIES if lr_variant(strategy_member(s, phi), search_phi) == strategy_member(s, phi)]
        if sweep_runs and own:
            yield (f'phi={phi:g}: lr sweeps of {len(own)} members', px, target, ips(target), sweep_runs * len(own),
                   sweep_epochs)


def design_rows(config, b0_img_per_s, b0_macs):
    """(name, px, macs, img/s, runs, epochs) of a `design_space` config: its samples, each at regime x B0's MACs."""
    design, base = config['design_space'], config['base_resolution']
    classes, in_chans = dataset_shape(config)
    macs = design['regime'] * macs_of(1.0, 1.0, round_resolution(1.0, base), classes, in_chans)
    yield (f'{design["samples"]} samples at {design["regime"]:g}x B0', base, macs, b0_img_per_s * b0_macs / macs,
           design['samples'], design.get('epochs') or config['epochs'])


# (training images per epoch, validation + test images) after the prepare step's 10% validation carve
DATASET_IMAGES = {'fashion_mnist': (54000, 6000 + 10000), 'imagenette': (8522, 947 + 3925),
                  'cifar10': (45000, 5000 + 10000), 'cifar100': (45000, 5000 + 10000), 'digits': (1294, 144 + 359)}


def study_images(config, epoch_images: float, sweep_rates: int) -> Tuple[float, str]:
    """(images one variant processes over the study, its runs in words): the seeds' runs, the learning-rate sweep's
    runs (rates x sweep seeds) and, for the budget check's variants, the longer runs."""
    seeds, epochs, sweep = len(config['seeds']), config['epochs'], config.get('lr_sweep')
    images, runs = seeds * epochs * epoch_images, f'{seeds} x {epochs} ep'
    if sweep:
        n = sweep_rates * len(sweep['seeds'])
        images += n * sweep['epochs'] * epoch_images
        runs += f' + {n} x {sweep["epochs"]} ep sweep'
    return images, runs


def variant_hours(config, args, b0_macs) -> float:
    """Print one line per variant (its runs, the budget check's included) and return the total GPU hours."""
    train, evaluate = DATASET_IMAGES.get(config['dataset'], (args.train_images, args.eval_images))
    train, evaluate = args.train_images or train, args.eval_images or evaluate
    epoch_images = train + EVAL_COST * evaluate
    rates = len(config['lr_sweep'].get('rates') or default_rates(config['recipe'], config['batch_size'])) \
        if config.get('lr_sweep') else 0
    budget = set(budget_variants(config)) if config.get('budget_check') else set()
    total = 0.0
    measured = {b: (ips, macs_of(1.0, 1.0, args.b0_px, 1000, 3, b)) for b, ips in args.baseline_img_per_s}
    for name, px, macs, ips in variant_rows(config, args.b0_img_per_s, b0_macs, measured):
        images, runs = study_images(config, epoch_images, rates)
        if name in budget:
            images += len(config['seeds']) * config['budget_check'] * config['epochs'] * epoch_images
            runs += f' + {len(config["seeds"])} x {config["budget_check"] * config["epochs"]} ep budget check'
        hours = images / ips / 3600
        total += hours
        print(f'| {name} | {px} | {macs / 1e9:.3f} | {ips:,.0f} | {runs} | {hours:.2f} |')
    return total


def seeds_for(pilot: Sequence[str], config, target: float) -> None:
    """From a pilot's run records: the pooled seed SD, and the MDE and cost factor per number of seeds."""
    by_variant: Dict[str, List[float]] = {}
    for path in pilot:
        run = read_run(path)
        if run.usable:
            by_variant.setdefault(run.variant, []).append(run.test_top1)
    pooled = pooled_sd(list(by_variant.values()))
    if pooled is None:
        raise SystemExit('the pilot has no seed-to-seed spread to plan with (one seed per variant?)')
    arms = len(variant_names(config))
    blocks = flop_match_blocks(config)
    axes = len(blocks[0]['axes']) if blocks else len(SCALING_AXES)
    print(f'\n# Seeds for a target MDE of {target:g} points: pilot pooled seed SD {pooled.sd:.3f} points over '
          f'{pooled.n_runs} runs of {pooled.n_arms} arms; {arms} arms, compound against {axes} matched axes\n')
    print('| seeds per arm | MDE (points, 80% power) | cost × the config\'s seeds |')
    print('|---|---|---|')
    for n in range(2, 21):
        design = Pooled(pooled.sd, n * arms - arms, n * arms, arms)
        effect = mde([Contrast(str(i), 0.0, 2 / n, 1 / n) for i in range(axes)], design, SIGNIFICANCE / 2)
        print(f'| {n} | {effect:.3f} | {n / len(config["seeds"]):.2f} |')
        if effect <= target:
            print(f'\n{n} seeds per arm reach an MDE of {effect:.3f} <= {target:g} points.')
            return
    print(f'\nEven 20 seeds per arm do not reach an MDE of {target:g} points.')


def _measured(text: str) -> Tuple[str, float]:
    backbone, sep, ips = text.partition('=')
    if not sep or backbone not in BACKBONES:
        raise argparse.ArgumentTypeError(f'BACKBONE=IMG/S with a backbone of {sorted(BACKBONES)}, got {text!r}')
    return backbone, float(ips)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--config', default='config/full.yaml')
    ap.add_argument('--schema', default='workflow/schemas/config.schema.yaml')
    ap.add_argument('--base-resolution', type=int, default=None, help="override the config's base")
    ap.add_argument('--b0-img-per-s', type=float, default=4562.0, help='measured B0 training img/s')
    ap.add_argument('--b0-px', type=int, default=224, help='input size of that measurement')
    ap.add_argument('--baseline-img-per-s', nargs='*', type=_measured, default=[], metavar='BACKBONE=IMG/S',
                    help='a backbone\'s own measured baseline img/s at --b0-px (e.g. resnet50=2900); its variants are '
                         'scaled from it instead of from B0 (dense convolutions run more MACs per second than B0\'s '
                         'depthwise ones: scaled from B0 a ResNet is overestimated several times)')
    ap.add_argument('--train-images', type=int, default=None, help="training images per epoch (default: the dataset's)")
    ap.add_argument('--eval-images', type=int, default=None, help="validation + test images (default: the dataset's)")
    ap.add_argument('--pilot', nargs='*', default=None, help="a pilot study's run records (final.json): plan seeds")
    ap.add_argument('--target-mde', type=float, default=0.5, help='with --pilot: the MDE to reach, points')
    args = ap.parse_args()
    config = validate_config(yaml.safe_load(open(args.config)), args.schema)
    config['base_resolution'] = args.base_resolution or config['base_resolution']
    b0_macs = macs_of(1.0, 1.0, args.b0_px, 1000, 3)
    others = sorted({s['backbone'] for s in resolve_variants(config).values()} - {'efficientnet_b0'}
                    - {b for b, _ in args.baseline_img_per_s})
    print(f'# Estimated cost of {args.config} (base {config["base_resolution"]} px): B0 at {args.b0_px} px = '
          f'{args.b0_img_per_s:,.0f} img/s scaled by MACs' +
          ''.join(f'; {b} at {ips:,.0f} img/s' for b, ips in args.baseline_img_per_s) + '\n')
    if others and not config.get('search'):
        print(f'Not measured: {", ".join(others)}, scaled from B0 by MACs (an overestimate for dense '
              f'convolutions; give --baseline-img-per-s BACKBONE=IMG/S)\n')
    print('| variant | px | GMACs | est. img/s | runs | GPU hours |')
    print('|---|---|---|---|---|---|')
    studies = [rows(config, args.b0_img_per_s, b0_macs) for key, rows in (('search', search_rows),
                                                                         ('design_space', design_rows))
               if config.get(key)]
    total = variant_hours(config, args, b0_macs) if config.get('variants') else 0.0
    train, evaluate = DATASET_IMAGES.get(config['dataset'], (54000, 16000))
    epoch_images = (args.train_images or train) + EVAL_COST * (args.eval_images or evaluate)
    for rows in studies:
        for name, px, macs, ips, runs, run_epochs in rows:
            hours = runs * run_epochs * epoch_images / ips / 3600
            total += hours
            print(f'| {name} | {px} | {macs / 1e9:.3f} | {ips:,.0f} | {runs} x {run_epochs} ep | {hours:.2f} |')
    print(f'| **total** | | | | | **{total:.1f}** |')
    if args.pilot is not None:
        seeds_for(args.pilot, config, args.target_mde)


if __name__ == '__main__':
    main()
