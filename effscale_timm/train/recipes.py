"""Training recipes as data, turned into timm's optimizer, scheduler and EMA by :mod:`effscale_timm.train.engine`.

Paper recipe: Tan & Le, arXiv:1905.11946, section 5.2 (ImageNet): RMSProp decay 0.9, momentum 0.9, epsilon 1e-3
(TF style, timm's ``rmsproptf``); batch-norm momentum 0.99 TF sense = 0.01 PyTorch sense; weight decay 1e-5;
learning rate 0.256 per 4096 images (0.016 per 256) x 0.97 every 2.4 epochs after a warmup; EMA 0.9999; stochastic
depth survival 0.8 (drop path 0.2); AutoAugment; label smoothing 0.1; 350 epochs. Our ``paper`` recipe replaces
AutoAugment by RandAugment ``rand-m9-mstd0.5`` plus random erasing (probability 0.2, per-pixel noise), the
augmentation of timm's reproduction (timm's ``docs/training_hparam_examples.md``, EfficientNet-B2 with
RandAugment: ``--aa rand-m9-mstd0.5 --remode pixel --reprob 0.2``, step decay 0.97 every 2.4 epochs), because the
device-resident data path implements RandAugment; and it compresses the step decay into the run's length
(:meth:`Recipe.sched_kwargs_for`).

The seed study's recipe: of what it reports, only RMSProp (momentum 0.9, alpha 0.9, epsilon 0.1), a linear warmup
followed by exponential decay, and 35 epochs are used here; its learning rate, warmup length, decay rate, weight
decay and drop path are not reported, and ``seed`` fills them with our assumptions (``Recipe.assumed``).

What each recipe still differs from its source by is in its ``note``; ``assumed`` names the fields that are our
choices rather than the source's.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple


@dataclass(frozen=True)
class Recipe:
    """Everything about a training recipe that is not the model or the data.

    The engine reads the fields directly, except the scheduler's arguments: :meth:`sched_kwargs_for` (the run's
    length scales the decay interval) and :meth:`warmup`. ``auto_augment`` and ``re_prob`` go to the data's
    ``splits(auto_augment=..., re_prob=...)``.
    """
    opt: str  # a timm optimizer name (create_optimizer_v2)
    lr_per_256: float  # learning rate per 256 images of effective batch (linear scaling rule)
    weight_decay: float
    opt_kwargs: Dict[str, Any] = field(default_factory=dict)
    sched: str = 'cosine'  # a timm scheduler name (create_scheduler_v2)
    sched_kwargs: Dict[str, Any] = field(default_factory=dict)  # as the source gives them, for sched_epochs
    sched_epochs: Optional[int] = None  # the run length sched_kwargs' decay_epochs belong to; None: not scaled
    warmup_epochs: float = 0.0  # capped at warmup_cap of a short run
    warmup_cap: float = 0.1
    warmup_lr: float = 1e-6
    ema_decay: Optional[float] = None  # ModelEmaV3 decay, with timm's warmup of the decay
    label_smoothing: float = 0.0
    drop_path: float = 0.0
    bn_momentum: Optional[float] = None  # PyTorch sense
    bn_eps: Optional[float] = None
    zero_init_head: bool = False  # start the classifier at zero (loss starts at ln(classes), not ~5)
    auto_augment: Optional[str] = None  # timm RandAugment string, e.g. 'rand-m9-mstd0.5'; None: crop and flip only
    re_prob: float = 0.0  # random erasing probability (timm's 'pixel' mode: per-pixel normal noise)
    epochs: int = 35  # the recipe's own length, used when the config gives none
    assumed: Tuple[str, ...] = ()  # the fields that are our choices, not the source's
    sources: str = ''  # where the other fields come from
    note: str = ''  # what still differs from the source

    def __post_init__(self):
        names = {f.name for f in dataclasses.fields(self)}
        unknown = [a for a in self.assumed if a not in names]
        if unknown:
            raise ValueError(f'assumed names fields a Recipe does not have: {unknown}')
        if not 0.0 <= self.re_prob <= 1.0:
            raise ValueError(f're_prob must be in [0, 1], got {self.re_prob!r}')

    def warmup(self, epochs: int) -> float:
        """Warmup epochs for a run of ``epochs``: the recipe's, capped at ``warmup_cap`` of the run."""
        return min(self.warmup_epochs, self.warmup_cap * epochs)

    def sched_kwargs_for(self, epochs: int) -> Dict[str, Any]:
        """The scheduler's keyword arguments for a run of ``epochs`` (a new dict).

        With ``sched_epochs`` set, ``decay_epochs`` is scaled by ``epochs / sched_epochs``, so a shorter run decays
        as far by its end as the source's run did (the paper's x0.97 every 2.4 of 350 epochs becomes every 0.24 of
        35 epochs: 145 decays, lr x 0.012, either way).
        """
        if epochs <= 0:
            raise ValueError(f'epochs must be positive, got {epochs!r}')
        kwargs = dict(self.sched_kwargs)
        if self.sched_epochs and 'decay_epochs' in kwargs:
            kwargs['decay_epochs'] = kwargs['decay_epochs'] * epochs / self.sched_epochs
        return kwargs


PAPER_DIFFERENCES = (
    'still differs from the paper: RandAugment rand-m9-mstd0.5 + random erasing 0.2 (timm\'s reproduction) instead '
    'of AutoAugment; the step decay compressed into the run (x0.97 every 2.4 x epochs/350 epochs); warmup capped at '
    '10% of a short run (3.5 of 35 epochs instead of 5 of 350); the config\'s epochs (e.g. 35, not 350), batch '
    '(the config\'s, lr scaled linearly from 0.256 per 4096), data (small images such as Fashion-MNIST or CIFAR, '
    'not ImageNet) and base resolution (the config\'s, not 224 px; augmentation at the native size before '
    'resizing); GPUs (bf16 autocast, timm\'s RMSpropTF) instead of TPUs')


RECIPES: Dict[str, Recipe] = {
    'paper': Recipe(
        opt='rmsproptf', lr_per_256=0.016, weight_decay=1e-5, opt_kwargs=dict(alpha=0.9, momentum=0.9, eps=1e-3),
        sched='step', sched_kwargs=dict(decay_epochs=2.4, decay_rate=0.97), sched_epochs=350, warmup_epochs=5,
        warmup_lr=1e-6, ema_decay=0.9999, label_smoothing=0.1, drop_path=0.2, bn_momentum=0.01, bn_eps=1e-3,
        auto_augment='rand-m9-mstd0.5', re_prob=0.2, epochs=350,
        assumed=('sched_epochs', 'warmup_cap', 'warmup_lr', 'auto_augment', 're_prob'),
        sources='Tan & Le 2019 section 5.2 (ImageNet); augmentation and warmup_lr from timm\'s reproduction '
                '(docs/training_hparam_examples.md: --aa rand-m9-mstd0.5 --remode pixel --reprob 0.2 '
                '--warmup-lr 1e-6)',
        note=PAPER_DIFFERENCES),
    'seed': Recipe(
        opt='rmsprop', lr_per_256=0.016, weight_decay=1e-5, opt_kwargs=dict(alpha=0.9, momentum=0.9, eps=0.1),
        sched='step', sched_kwargs=dict(decay_epochs=1, decay_rate=0.94), warmup_epochs=3, warmup_lr=1e-6,
        label_smoothing=0.0, drop_path=0.2, epochs=35,
        assumed=('lr_per_256', 'warmup_epochs', 'warmup_lr', 'sched_kwargs', 'weight_decay', 'drop_path'),
        sources='the seed study: RMSProp (momentum 0.9, alpha 0.9, eps 0.1), linear warmup then exponential '
                'decay, 35 epochs',
        note='the seed study reports neither its learning rate, warmup length, decay rate, weight decay nor drop '
             'path: those are ours (the paper\'s lr per 256 and weight decay, x0.94 per epoch, 3 warmup epochs, '
             'drop path 0.2); unreported regularisation is left out (no EMA, no label smoothing, no RandAugment)'),
    'fast': Recipe(
        opt='adamw', lr_per_256=4e-3, weight_decay=0.05, sched='cosine', sched_kwargs=dict(min_lr=1e-5),
        warmup_epochs=1, warmup_cap=0.2, warmup_lr=1e-5, label_smoothing=0.1, drop_path=0.05, zero_init_head=True,
        epochs=30,
        assumed=('opt', 'lr_per_256', 'weight_decay', 'sched', 'sched_kwargs', 'warmup_epochs', 'warmup_cap',
                 'warmup_lr', 'label_smoothing', 'drop_path', 'zero_init_head', 'epochs'),
        sources='ours, for short budgets on small images',
        note='short budgets on small images: AdamW 4e-3 per 256, cosine after a short warmup, classifier started '
             'at zero (timm\'s init gives a first loss of ~5 on 10 classes and a slow start), light regularisation'),
}


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; ``ValueError`` naming the recipes if there is none."""
    if name not in RECIPES:
        raise ValueError(f'recipe must be one of {sorted(RECIPES)}, got {name!r}')
    return RECIPES[name]
