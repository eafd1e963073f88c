"""The batches of one run, as every data implementation returns them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List


@dataclass
class Splits:
    """Train, validation and test batches (each iterable of (images, labels) on the training device, with ``len``
    and ``num_samples``) and the per-channel mean and std, in [0, 1] units, they were normalised with."""
    train: Iterable
    val: Iterable
    test: Iterable
    mean: List[float]
    std: List[float]
