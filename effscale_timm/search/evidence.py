"""When a search or design-space study cannot conclude: runs near chance level, too few seeds, short smoke runs. The
search and design-space reports say "no conclusion" with these reasons, as Table 1's smoke section does
(:func:`effscale_timm.report.markdown.smoke_reasons`)."""
from __future__ import annotations

import statistics
from typing import List, Optional, Sequence

from ..files.run_record import RunRecord
from ..report.markdown import SMOKE_MIN_EPOCHS

# Runs are "near chance level" when their median test top-1 has not gone a quarter of the way from guessing
# (100 / classes) to perfect: 32.5% on 10 classes. Below it the error differences between networks are mostly the
# luck of a barely trained classifier, not the networks' shape (the tiny CPU studies' 1-epoch runs sit there).
NEAR_CHANCE_SHARE = 0.25


def chance_top1(num_classes: int) -> float:
    """Top-1 (%) of guessing one class at random."""
    return 100.0 / num_classes


def near_chance_threshold(num_classes: int) -> float:
    """The median test top-1 (%) below which runs count as near chance level (:data:`NEAR_CHANCE_SHARE`)."""
    chance = chance_top1(num_classes)
    return chance + NEAR_CHANCE_SHARE * (100.0 - chance)


def near_chance(runs: Sequence[RunRecord], num_classes: int) -> Optional[str]:
    """Why the runs are near chance level, or None: their median test top-1 against the threshold."""
    top1 = [r.test_top1 for r in runs if r.usable]
    if not top1:
        return None
    median, threshold = statistics.median(top1), near_chance_threshold(num_classes)
    if median >= threshold:
        return None
    return (f'runs near chance level (median test top-1 {median:.1f}% over {len(top1)} runs, below '
            f'{threshold:.1f}%, a quarter of the way from guessing, {chance_top1(num_classes):.0f}%, to 100%)')


def smoke_run_reasons(runs: Sequence[RunRecord]) -> List[str]:
    """Short runs or a training subset: why the runs are a smoke test of the pipeline, not a study."""
    ok = [r for r in runs if r.usable]
    reasons = []
    epochs = [r.epochs for r in ok if r.epochs]
    if epochs and max(epochs) < SMOKE_MIN_EPOCHS:
        reasons.append(f'{max(epochs)} epoch(s) of training')
    subsets = sorted({r.max_train_samples for r in ok if r.max_train_samples})
    if subsets:
        reasons.append(f'training on a fixed subset of {", ".join(f"{n:,}" for n in subsets)} images')
    return reasons


def no_conclusion_text(reasons: Sequence[str]) -> str:
    """The one sentence a report opens its verdict with when it cannot conclude."""
    return 'No conclusion: ' + '; '.join(reasons) + '.'
