"""Recipes as data: which fields are assumptions, the paper's augmentation, its decay scaled to the run's length."""
import dataclasses

import pytest
import torch
from timm.scheduler import create_scheduler_v2

from effscale_timm.train.recipes import RECIPES, Recipe, get_recipe


def test_seed_recipe_marks_what_the_seed_study_does_not_report():
    seed = RECIPES['seed']
    assert set(seed.assumed) == {'lr_per_256', 'warmup_epochs', 'warmup_lr', 'sched_kwargs', 'weight_decay',
                                 'drop_path'}
    # what the seed study does report, and is therefore not assumed
    assert seed.opt == 'rmsprop' and seed.opt_kwargs == {'alpha': 0.9, 'momentum': 0.9, 'eps': 0.1}
    assert seed.epochs == 35 and not {'opt', 'opt_kwargs', 'epochs'} & set(seed.assumed)
    assert 'seed study' in seed.sources


def test_every_recipe_names_real_fields_and_its_sources():
    fields = {f.name for f in dataclasses.fields(Recipe)}
    for name, recipe in RECIPES.items():
        assert set(recipe.assumed) <= fields and recipe.sources and recipe.note, name
    with pytest.raises(ValueError, match=r"does not have: \['learning_rate'\]"):
        Recipe(opt='sgd', lr_per_256=0.1, weight_decay=0.0, assumed=('learning_rate',))
    with pytest.raises(ValueError, match='re_prob must be in'):
        Recipe(opt='sgd', lr_per_256=0.1, weight_decay=0.0, re_prob=2.0)
    with pytest.raises(ValueError, match="recipe must be one of"):
        get_recipe('imagenet')


def test_paper_recipe_has_timms_reproduction_augmentation_and_says_what_differs():
    from effscale_timm.data.augment import DeviceRandAugment
    paper = RECIPES['paper']
    assert paper.auto_augment == 'rand-m9-mstd0.5' and paper.re_prob == 0.2
    config = DeviceRandAugment(paper.auto_augment, [0.5]).config
    assert (config.magnitude, config.magnitude_std, config.num_layers, config.prob) == (9, 0.5, 2, 0.5)
    assert {'auto_augment', 're_prob', 'sched_epochs'} <= set(paper.assumed)
    for difference in ('AutoAugment', 'epochs', 'batch', 'ImageNet', '224', 'TPU'):
        assert difference in paper.note, difference
    assert RECIPES['seed'].auto_augment is None and RECIPES['seed'].re_prob == 0.0


def _final_lr(recipe, epochs, updates_per_epoch=7):
    """The learning rate at the last update of a run, through timm's scheduler as the engine builds it."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler, _ = create_scheduler_v2(optimizer, sched=recipe.sched, num_epochs=epochs,
                                       warmup_epochs=recipe.warmup(epochs), warmup_lr=recipe.warmup_lr,
                                       step_on_epochs=False, updates_per_epoch=updates_per_epoch,
                                       **recipe.sched_kwargs_for(epochs))
    scheduler.step_update(num_updates=epochs * updates_per_epoch - 1)
    return optimizer.param_groups[0]['lr']


def test_paper_decay_is_scaled_to_the_run_length():
    paper = RECIPES['paper']
    assert paper.sched_kwargs_for(350) == {'decay_epochs': 2.4, 'decay_rate': 0.97}
    assert paper.sched_kwargs_for(35) == {'decay_epochs': pytest.approx(0.24), 'decay_rate': 0.97}
    assert paper.sched_kwargs == {'decay_epochs': 2.4, 'decay_rate': 0.97}  # the paper's own, not changed
    # a 35-epoch run ends as far down as the paper's 350 epochs: 0.97 ** 145
    assert _final_lr(paper, 35) == pytest.approx(_final_lr(paper, 350), rel=1e-6)
    assert _final_lr(paper, 35) == pytest.approx(0.97 ** 145, rel=0.01)
    unscaled = dataclasses.replace(paper, sched_epochs=None)
    assert _final_lr(unscaled, 35) > 0.97 ** 15  # without scaling: 14 decays only


def test_recipes_without_a_reference_length_keep_their_schedule():
    seed = RECIPES['seed']
    kwargs = seed.sched_kwargs_for(5)
    assert kwargs == seed.sched_kwargs and kwargs is not seed.sched_kwargs
    kwargs['decay_rate'] = 0.5
    assert seed.sched_kwargs['decay_rate'] == 0.94
    assert RECIPES['fast'].sched_kwargs_for(3) == {'min_lr': 1e-5}
    with pytest.raises(ValueError, match='epochs must be positive'):
        seed.sched_kwargs_for(0)
