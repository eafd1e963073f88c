"""The options of one training run, declared once: :class:`RunConfig`'s fields.

``effscale train``'s arguments are derived from the fields (name, type, default and help), as timm's ``train.py`` lets
a YAML file set its argparse defaults; the workflow's train rule passes the study config's keys through
:func:`config_to_args`. A new training option is one field here (``config=True`` when a study config may set it)
plus its entry in ``workflow/schemas/config.schema.yaml``; a test checks that the two agree.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ..scaling import VARIANT_FIELDS
from .recipes import RECIPES
from .tracker import TRACKERS

DEVICE_PATTERN = r'^(auto|cpu|cuda(:[0-9]+)?)$'  # the schema's `device` pattern; a test checks they are equal
COMPILE_MODES = ('default', 'reduce-overhead', 'max-autotune')


def _opt(default: Any = dataclasses.MISSING, help: str = '', config: bool = True, key: bool = True,
         cli: bool = True, choices=None):
    """A :class:`RunConfig` field. ``config``: a study config may set it; ``key``: it changes the results (enters
    the run key); ``cli``: shown by ``effscale train --help``."""
    return field(default=default, metadata=dict(help=help, config=config, key=key, cli=cli, choices=choices))


@dataclass
class RunConfig:
    """One training run of one variant and seed."""
    variant: str = _opt(help='a registered effscale_* name, or a new name with --depth/--width/--resolution',
                        config=False)
    data: str = _opt(help='prepared dataset .npz (effscale prepare), or an image folder with train/ and val/ '
                          '(read by a DataLoader with timm transforms; for data too large for memory)',
                     config=False, key=False)
    out_dir: str = _opt(help='writes the run\'s record, metrics, model and test predictions here', config=False, key=False)
    seed: int = _opt(0, 'seed of initialisation, data order and augmentation', config=False)
    epochs: int = _opt(10, 'training epochs')
    recipe: str = _opt('fast', 'training recipe (effscale_timm/train/recipes.py)', choices=sorted(RECIPES))
    batch_size: int = _opt(128, 'effective batch (micro-batches accumulate to it)')
    device: str = _opt('auto', 'auto (GPU if any, else CPU), cpu, cuda or cuda:N')
    base_resolution: int = _opt(32, 'input size in px at resolution multiplier 1')
    depth: Optional[float] = _opt(None, 'depth multiplier (default: the registered variant\'s, or 1)', config=False)
    width: Optional[float] = _opt(None, 'width multiplier (default: the registered variant\'s, or 1)', config=False)
    resolution: Optional[float] = _opt(None, 'resolution multiplier (default: the registered variant\'s, or 1)',
                                       config=False)
    dropout: Optional[float] = _opt(None, 'dropout before the classifier (default: the variant\'s, or the '
                                          'backbone\'s)', config=False)
    backbone: Optional[str] = _opt(None, "the network scaled: efficientnet_b0, mobilenetv2_100 or resnet50 (default: "
                                         "the registered variant's, or efficientnet_b0)", config=False)
    drop_path: Optional[float] = _opt(None, "stochastic depth rate (default: the recipe's)")
    max_train_samples: Optional[int] = _opt(None, 'train on a fixed subset (demos)')
    max_eval_samples: Optional[int] = _opt(None, 'validate and test on a fixed subset (demos)')
    lr: Optional[float] = _opt(None, "learning rate (default: the recipe's lr_per_256 x batch / 256)")
    lr_from: Optional[str] = _opt(None, 'read the learning rate from this file (written by `effscale choose-lr` from '
                                        'an lr_sweep)', config=False, key=False)
    micro_batch: Optional[int] = _opt(None, 'fix the micro-batch (default: the whole batch on CPU, fitted to memory '
                                            'on GPU)')
    memory_budget_gib: Optional[float] = _opt(None, 'GPU memory budget in GiB (default: the whole GPU)')
    grad_checkpointing: bool = _opt(False, "timm's gradient checkpointing from the start")
    compile: Optional[bool] = _opt(None, 'torch.compile the training step (default: on a GPU, off on the CPU)',
                                   key=False)
    compile_mode: Optional[str] = _opt(None, "torch.compile's mode ('reduce-overhead': CUDA graphs)", key=False,
                                       choices=list(COMPILE_MODES))
    log_interval: int = _opt(50, 'updates between reads of the loss from the device (progress and NaN check)',
                             key=False)
    tracker: Optional[str] = _opt(None, 'experiment tracker: tensorboard writes per-update and per-epoch scalars to '
                                        '<out-dir>/tensorboard/ (default: none)', key=False, choices=list(TRACKERS))
    nproc_per_node: int = _opt(1, 'GPUs (processes, launched with torchrun) for this one training; the global batch '
                                  'is split between them', key=False)
    sync_bn: bool = _opt(False, 'SyncBatchNorm across the processes of a multi-GPU training')
    trainings_per_gpu: int = _opt(1, 'trainings packed on one GPU: each takes a free slot of the least busy GPU and '
                                     'gets that share of its memory as its budget', key=False)
    deterministic: bool = _opt(False, 'deterministic algorithms (bit-exact resume on CPU)')
    hflip: bool = _opt(True, 'random horizontal flips (off for digits, where a flip changes the class)')
    ckpt_root: str = _opt('results/ckpt', 'epoch checkpoints, in a folder per run key', config=False, key=False)
    threads: Optional[int] = _opt(None, 'CPU threads for torch', config=False, key=False)
    workers: int = _opt(4, 'DataLoader workers (image-folder data only)', key=False)
    stop_after_epochs: Optional[int] = _opt(None, 'end this process after this many epochs (tests)', config=False,
                                            key=False, cli=False)

    def key(self, data_digest: str) -> str:
        """A short hash of what determines the run's results: its resume identity (the checkpoint folder)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.metadata['key']}
        fields['data_sha256'] = data_digest
        fields['recipe_definition'] = dataclasses.asdict(RECIPES[self.recipe]) if self.recipe in RECIPES else None
        blob = json.dumps(fields, sort_keys=True, default=str).encode()
        return f'{self.variant}-s{self.seed}-{hashlib.sha256(blob).hexdigest()[:12]}'

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first option a run would fail on."""
        for name in ('epochs', 'batch_size', 'base_resolution', 'workers', 'log_interval', 'nproc_per_node',
                     'trainings_per_gpu'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == 'workers' else 1):
                raise ValueError(f'{name} must be a positive whole number, got {value!r}')
        if not re.match(DEVICE_PATTERN, str(self.device)):
            raise ValueError(f'device must be auto, cpu or cuda[:N], got {self.device!r}')
        if self.lr is not None and self.lr_from:
            raise ValueError('give either lr or lr_from, not both')
        if self.batch_size % self.nproc_per_node:
            raise ValueError(f'batch_size {self.batch_size} must split evenly over nproc_per_node '
                             f'{self.nproc_per_node} processes')
        if self.recipe not in RECIPES:
            raise ValueError(f'recipe must be one of {sorted(RECIPES)}, got {self.recipe!r}')


def _base_type(annotation) -> type:
    """``Optional[int]`` -> int, ``int`` -> int."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if args else annotation


def _field_types() -> Dict[str, type]:
    hints = typing.get_type_hints(RunConfig)
    return {f.name: _base_type(hints[f.name]) for f in dataclasses.fields(RunConfig)}


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``effscale train``'s arguments, one per :class:`RunConfig` field (``--batch-size`` for ``batch_size``)."""
    types = _field_types()
    for f in dataclasses.fields(RunConfig):
        flag = '--' + f.name.replace('_', '-')
        meta = f.metadata
        required = f.default is dataclasses.MISSING
        shown = meta['help'] + ('' if required or f.default is None else ' (default: %(default)s)')
        help_text = shown if meta['cli'] else argparse.SUPPRESS
        if types[f.name] is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default, help=help_text)
        else:
            parser.add_argument(flag, type=types[f.name], default=None if required else f.default,
                                required=required, choices=meta['choices'], help=help_text)
    return parser


def from_args(args: argparse.Namespace) -> RunConfig:
    """The :class:`RunConfig` of parsed ``effscale train`` arguments."""
    return RunConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(RunConfig)})


def config_keys() -> List[str]:
    """The study-config keys that training reads (each a :class:`RunConfig` field)."""
    return [f.name for f in dataclasses.fields(RunConfig) if f.metadata['config']]


def _flags(values: Dict[str, Any]) -> List[str]:
    """``effscale train`` flags of option values (booleans as ``--x`` / ``--no-x``)."""
    types, args = _field_types(), []
    for name, value in values.items():
        flag = name.replace('_', '-')
        if types[name] is bool:
            args.append(f'--{flag}' if value else f'--no-{flag}')
        else:
            args += [f'--{flag}', repr(value) if isinstance(value, float) else str(value)]
    return args


def to_argv(cfg: RunConfig) -> List[str]:
    """The ``effscale train`` arguments that give ``cfg`` back (how a launcher hands a run to its workers)."""
    return _flags({f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if getattr(cfg, f.name) is not None})


def config_to_args(config: Dict[str, Any], multipliers: Optional[Dict[str, float]] = None) -> List[str]:
    """``effscale train`` arguments for the training keys of a study config, plus a variant's multipliers.

    Keys absent from ``config`` or null keep :class:`RunConfig`'s defaults; booleans become ``--x`` / ``--no-x``.
    """
    values = {k: config[k] for k in config_keys() if config.get(k) is not None}
    values.update({k: v for k, v in (multipliers or {}).items() if k in VARIANT_FIELDS and v is not None})
    return _flags(values)
