"""``effscale <stage>``: the command line of every pipeline stage, one function of the package each.

Stages: ``prepare`` (dataset -> prepared .npz), ``train`` (one variant x seed), ``profile`` (MACs, params,
latency), ``cam`` (Grad-CAM of a trained model), ``report`` (table1.md and figures), ``choose-lr``, ``search``
(the coefficient search: ``grid``, ``match``, ``choose``, ``report``), ``export`` (a trained model for timm and the
Hub). Each Snakemake rule calls one
of them; a user can run them by hand with the same arguments (``effscale <stage> --help``).
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional


def _add_prepare(p: argparse.ArgumentParser) -> None:
    p.add_argument('--dataset', required=True,
                   help='fashion_mnist, cifar10, cifar100, digits, imagefolder or imagenette')
    p.add_argument('--out', required=True, help='the prepared .npz to write (a .sha256 is written beside it)')
    p.add_argument('--root', default=None, help='where the source files are, or are downloaded to')
    p.add_argument('--image-size', type=int, default=None,
                   help='the largest input any variant needs: image folders and Imagenette are stored up to it')
    p.add_argument('--release', default=None, choices=['full', '320px', '160px'],
                   help="Imagenette's release (default 320px)")
    p.add_argument('--val-fraction', type=float, default=0.1, help='training images carved out for validation')
    p.add_argument('--seed', type=int, default=0, help='seed of the validation carve')


def _run_prepare(args) -> int:
    from .data.prepared import prepare
    prepare(args.dataset, args.out, root=args.root, image_size=args.image_size, val_fraction=args.val_fraction,
            seed=args.seed, release=args.release)
    return 0


def _add_train(p: argparse.ArgumentParser) -> None:
    from .train.options import add_arguments
    add_arguments(p)


def _run_train(args) -> int:
    from .train.launch import run
    from .train.options import from_args
    return run(from_args(args))


def _module_stage(name: str):
    """(add_arguments, run_cli) of the stage module ``effscale_timm.<name>``."""
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
    'report': ('table1.md, accuracy_vs_flops.png, cams.png and the verdict', lambda: _module_stage('report.stage')),
    'choose-lr': ('choose a variant\'s learning rate on validation from its lr_sweep runs',
                  lambda: _module_stage('train.lr_sweep')),
    'search': ('the paper\'s coefficient search: grid, match, choose, report (config `search`)',
               lambda: _module_stage('search.cli')),
    'export': ('a finished run\'s model as a folder timm loads natively (model.safetensors, config.json), '
               'optionally pushed to the Hugging Face Hub', lambda: _module_stage('export')),
}


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``effscale`` console script."""
    parser = argparse.ArgumentParser(prog='effscale', description=__doc__.split('\n\n')[0])
    parser.add_argument('-q', '--quiet', action='store_true', help='warnings and errors only')
    sub = parser.add_subparsers(dest='effscale_stage', metavar='STAGE', required=True)
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
    from .errors import EffscaleError
    try:
        result = handlers[args.effscale_stage](args)
        return result if isinstance(result, int) else 0
    except (EffscaleError, ValueError) as e:  # the package's own errors: one line; anything else keeps its traceback
        print(f'effscale {args.effscale_stage}: error: {e}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
