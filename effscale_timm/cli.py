"""``effscale <stage>``: the command line of every pipeline stage, one function of the package each.

Stages: ``prepare`` (dataset -> prepared .npz), ``train`` (one variant x seed), ``profile`` (MACs, params,
latency), ``cam`` (Grad-CAM of a trained model), ``report`` (table1.md and figures). Each Snakemake rule calls one
of them; a user can run them by hand with the same arguments (``effscale <stage> --help``).
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional


def _add_prepare(p: argparse.ArgumentParser) -> None:
    p.add_argument('--dataset', required=True, help='fashion_mnist, cifar10, cifar100, digits or imagefolder')
    p.add_argument('--out', required=True, help='the prepared .npz to write (a .sha256 is written beside it)')
    p.add_argument('--root', default=None, help='where the source files are, or are downloaded to')
    p.add_argument('--image-size', type=int, default=None, help='ImageFolder images are resized to this')
    p.add_argument('--val-fraction', type=float, default=0.1, help='training images carved out for validation')
    p.add_argument('--seed', type=int, default=0, help='seed of the validation carve')


def _run_prepare(args) -> int:
    from .data.prepared import prepare
    prepare(args.dataset, args.out, root=args.root, image_size=args.image_size, val_fraction=args.val_fraction,
            seed=args.seed)
    return 0


def _add_train(p: argparse.ArgumentParser) -> None:
    from .train.recipes import RECIPES
    p.add_argument('--variant', required=True, help='a registered effscale_* name, or a new name with --depth ...')
    p.add_argument('--data', required=True, help='prepared dataset .npz (effscale prepare), or an image folder with '
                   'train/ and val/ (read by a DataLoader with timm transforms; for data too large for memory)')
    p.add_argument('--out-dir', required=True, help='writes metrics.csv, model.pt and final.json here')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--epochs', type=int, default=10)
    p.add_argument('--recipe', default='fast', choices=sorted(RECIPES))
    p.add_argument('--batch-size', type=int, default=128, help='effective batch (micro-batches accumulate to it)')
    p.add_argument('--device', default='auto', help='auto (GPU if any, else CPU), cpu, cuda or cuda:N')
    p.add_argument('--base-resolution', type=int, default=32, help='input size in px at resolution multiplier 1')
    for axis in ('depth', 'width', 'resolution'):
        p.add_argument(f'--{axis}', type=float, default=None, help=f'{axis} multiplier of a custom variant')
    p.add_argument('--dropout', type=float, default=0.2, help='dropout of a custom variant')
    p.add_argument('--max-train-samples', type=int, default=None, help='train on a fixed subset (demos)')
    p.add_argument('--max-eval-samples', type=int, default=None, help='validate and test on a fixed subset (demos)')
    p.add_argument('--lr', type=float, default=None, help="override the recipe's learning rate")
    p.add_argument('--micro-batch', type=int, default=None, help='fix the micro-batch instead of fitting it')
    p.add_argument('--memory-budget-gib', type=float, default=None, help='GPU memory budget (default: the GPU)')
    p.add_argument('--grad-checkpointing', action='store_true', help="timm's gradient checkpointing from the start")
    p.add_argument('--compile', action='store_true', help='torch.compile the training step')
    p.add_argument('--deterministic', action='store_true', help='deterministic algorithms (bit-exact resume on CPU)')
    p.add_argument('--no-hflip', dest='hflip', action='store_false', help='no horizontal flips (e.g. digits)')
    p.add_argument('--ckpt-root', default='results/ckpt', help='epoch checkpoints, keyed by the run configuration')
    p.add_argument('--threads', type=int, default=None, help='CPU threads for torch')
    p.add_argument('--workers', type=int, default=4, help='DataLoader workers (image-folder data only)')
    p.add_argument('--stop-after-epochs', type=int, default=None, help=argparse.SUPPRESS)


def _run_train(args) -> int:
    from .train.engine import RunConfig, train_run
    custom = [getattr(args, a) for a in ('depth', 'width', 'resolution')]
    spec = None
    if any(v is not None for v in custom):
        spec = dict(depth=custom[0] or 1.0, width=custom[1] or 1.0, resolution=custom[2] or 1.0,
                    dropout=args.dropout)
    cfg = RunConfig(
        variant=args.variant, data=args.data, out_dir=args.out_dir, seed=args.seed, epochs=args.epochs,
        recipe=args.recipe, batch_size=args.batch_size, device=args.device, base_resolution=args.base_resolution,
        spec=spec, max_train_samples=args.max_train_samples, max_eval_samples=args.max_eval_samples, lr=args.lr,
        micro_batch=args.micro_batch, memory_budget_gib=args.memory_budget_gib,
        grad_checkpointing=args.grad_checkpointing, compile=args.compile, deterministic=args.deterministic,
        hflip=args.hflip, ckpt_root=args.ckpt_root, threads=args.threads, workers=args.workers,
        stop_after_epochs=args.stop_after_epochs)
    result = train_run(cfg)
    if result['status'] == 'failed':
        logging.getLogger('effscale').error('run failed (recorded in %s/final.json): %s', args.out_dir,
                                            result['error'])
    return 0


def _module_stage(name: str):
    import importlib
    module = importlib.import_module(f'effscale_timm.{name}')
    return module.add_arguments, module.run_cli


STAGES = {
    'prepare': ('prepare a dataset: read its source, carve validation, write a checksummed .npz',
                lambda: (_add_prepare, _run_prepare)),
    'train': ('train one variant with one seed (resumes after a kill)', lambda: (_add_train, _run_train)),
    'profile': ('multiply-adds (fvcore), params, activations and latency of one variant',
                lambda: _module_stage('profile')),
    'cam': ('Grad-CAM maps of a trained model on fixed test images', lambda: _module_stage('cam')),
    'report': ('table1.md, accuracy_vs_flops.png, cams.png and the verdict', lambda: _module_stage('report')),
}


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``effscale`` console script."""
    parser = argparse.ArgumentParser(prog='effscale', description=__doc__.split('\n\n')[0])
    parser.add_argument('-q', '--quiet', action='store_true', help='warnings and errors only')
    sub = parser.add_subparsers(dest='stage', metavar='STAGE', required=True)
    stage = (argv if argv is not None else sys.argv[1:])
    handlers = {}
    for name, (help_text, loader) in STAGES.items():
        # Only the chosen stage imports its module (keeps `effscale train` free of fvcore and matplotlib).
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name in stage:
            add, run = loader()
            add(p)
            handlers[name] = run
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, stream=sys.stderr,
                        format='%(asctime)s %(levelname)s %(name)s: %(message)s', datefmt='%H:%M:%S')
    from .data.sources import DatasetError
    from .config import ConfigError
    try:
        result = handlers[args.stage](args)
        return result if isinstance(result, int) else 0
    except (DatasetError, ConfigError, ValueError, RuntimeError, FileNotFoundError) as e:
        logging.getLogger('effscale').error('%s', e)
        print(f'effscale {args.stage}: error: {e}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
