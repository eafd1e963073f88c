"""Training recipes as data, turned into timm's optimizer, scheduler and EMA by :mod:`effscale_timm.train.engine`.

Paper recipe: Tan & Le, arXiv:1905.11946, section 5.2 (ImageNet): RMSProp decay 0.9, momentum 0.9, epsilon 1e-3
(TF style, timm's ``rmsproptf``); batch-norm momentum 0.99 TF sense = 0.01 PyTorch sense; weight decay 1e-5;
learning rate 0.256 per 4096 images (0.016 per 256) x 0.97 every 2.4 epochs after a warmup; EMA 0.9999; stochastic
depth survival 0.8 (drop path 0.2); label smoothing 0.1 (as timm's reproduction uses). The seed study's recipe:
RMSProp (momentum 0.9, alpha 0.9, epsilon 0.1), linear warmup then exponential decay, 35 epochs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional


@dataclass(frozen=True)
class Recipe:
    """Everything about a training recipe that is not the model or the data."""
    opt: str  # a timm optimizer name (create_optimizer_v2)
    lr_per_256: float  # learning rate per 256 images of effective batch (linear scaling rule)
    weight_decay: float
    opt_kwargs: Dict[str, Any] = field(default_factory=dict)
    sched: str = 'cosine'  # a timm scheduler name (create_scheduler_v2)
    sched_kwargs: Dict[str, Any] = field(default_factory=dict)
    warmup_epochs: float = 0.0  # capped at warmup_cap of a short run
    warmup_cap: float = 0.1
    warmup_lr: float = 1e-6
    ema_decay: Optional[float] = None  # ModelEmaV3 decay, with timm's warmup of the decay
    label_smoothing: float = 0.0
    drop_path: float = 0.0
    bn_momentum: Optional[float] = None  # PyTorch sense
    bn_eps: Optional[float] = None
    zero_init_head: bool = False  # start the classifier at zero (loss starts at ln(classes), not ~5)
    epochs: int = 35  # the recipe's own length, used when the config gives none
    note: str = ''

    def warmup(self, epochs: int) -> float:
        """Warmup epochs for a run of ``epochs``: the recipe's, capped at ``warmup_cap`` of the run."""
        return min(self.warmup_epochs, self.warmup_cap * epochs)


RECIPES: Dict[str, Recipe] = {
    'paper': Recipe(
        opt='rmsproptf', lr_per_256=0.016, weight_decay=1e-5, opt_kwargs=dict(alpha=0.9, momentum=0.9, eps=1e-3),
        sched='step', sched_kwargs=dict(decay_epochs=2.4, decay_rate=0.97), warmup_epochs=5, warmup_lr=1e-6,
        ema_decay=0.9999, label_smoothing=0.1, drop_path=0.2, bn_momentum=0.01, bn_eps=1e-3, epochs=350,
        note='Tan & Le 2019, ImageNet recipe (timm rmsproptf, eps 1e-3)'),
    'seed': Recipe(
        opt='rmsprop', lr_per_256=0.016, weight_decay=1e-5, opt_kwargs=dict(alpha=0.9, momentum=0.9, eps=0.1),
        sched='step', sched_kwargs=dict(decay_epochs=1, decay_rate=0.94), warmup_epochs=3, warmup_lr=1e-6,
        label_smoothing=0.0, drop_path=0.2, epochs=35,
        note='the seed study: RMSProp (momentum 0.9, alpha 0.9, eps 0.1), linear warmup, exponential decay'),
    'fast': Recipe(
        opt='adamw', lr_per_256=4e-3, weight_decay=0.05, sched='cosine', sched_kwargs=dict(min_lr=1e-5),
        warmup_epochs=1, warmup_cap=0.2, warmup_lr=1e-5, label_smoothing=0.1, drop_path=0.05, zero_init_head=True,
        epochs=30,
        note='short budgets on small images: AdamW 4e-3 per 256, cosine after a short warmup, classifier started '
             'at zero (timm\'s init gives a first loss of ~5 on 10 classes and a slow start), light regularisation'),
}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f'recipe must be one of {sorted(RECIPES)}, got {name!r}')
    return RECIPES[name]
