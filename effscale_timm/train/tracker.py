"""Experiment trackers: where a run's scalars go besides its log and ``metrics.csv`` (config ``tracker``).

``tracker: tensorboard`` writes, with ``torch.utils.tensorboard.SummaryWriter``, to ``<run dir>/tensorboard/``:

- at every read of the training sums (the first update, then every ``log_interval``): ``train/loss``,
  ``train/top1`` (the epoch's running means so far), ``train/lr`` and ``train/img_per_s``;
- at the end of every epoch: ``epoch/train_loss``, ``epoch/train_top1``, ``epoch/val_loss``, ``epoch/val_top1``,
  ``epoch/lr``, ``epoch/img_per_s``, ``epoch/epoch_s`` and ``epoch/epoch`` (the epoch number).

Every scalar's step is the number of optimizer updates done, one x-axis for both. A resumed run opens the writer
with ``purge_step`` just past the updates its checkpoint holds, so TensorBoard drops what a killed process logged
after its last checkpoint. Without a tracker (the default) nothing is written. Only the process that writes results
(rank 0) tracks.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

from ..errors import ConfigError

TRACKERS = ('tensorboard',)  # the values of RunConfig.tracker (None: no tracker)
TENSORBOARD_DIR = 'tensorboard'


class Tracker:
    """No tracker: every call does nothing."""

    def scalars(self, prefix: str, values: Dict[str, Optional[float]], step: int) -> None:
        """Record ``values`` as ``prefix/name`` at ``step`` (None values are left out)."""

    def flush(self) -> None:
        """Make what was recorded readable now (the end of an epoch)."""

    def close(self) -> None:
        """Flush and release the writer."""


class TensorBoardTracker(Tracker):
    """Scalars to a TensorBoard event file in ``log_dir``."""

    def __init__(self, log_dir: Path, purge_step: Optional[int] = None):
        try:
            import tensorboard  # noqa: F401 - torch's SummaryWriter writes through the tensorboard package
        except ImportError:
            raise ConfigError('tracker: tensorboard needs the tensorboard package (pip install tensorboard, '
                              'pinned in constraints.txt)') from None
        from torch.utils.tensorboard import SummaryWriter
        self.writer = SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)

    def scalars(self, prefix: str, values: Dict[str, Optional[float]], step: int) -> None:
        for name, value in values.items():
            if value is not None:
                self.writer.add_scalar(f'{prefix}/{name}', float(value), step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def open_tracker(name: Optional[str], run_dir: Path, updates_done: int = 0, main: bool = True) -> Tracker:
    """The tracker ``name`` (:data:`TRACKERS`, or None for none) of the run writing to ``run_dir``;
    ``updates_done``: the updates of the checkpoint it resumes from. Ranks other than the main one get none.

    Raises:
        ConfigError: an unknown tracker, or its package is not installed.
    """
    if name is None or not main:
        return Tracker()
    if name not in TRACKERS:
        raise ConfigError(f'tracker must be one of {", ".join(TRACKERS)} or null, got {name!r}')
    # Events up to the checkpoint's last update were written before it was saved; later ones by a killed process.
    return TensorBoardTracker(Path(run_dir) / TENSORBOARD_DIR, purge_step=updates_done + 1 if updates_done else None)
