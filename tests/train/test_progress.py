"""What a user sees of a running training: a progress line in the log every ``log_interval`` updates when stderr is
not a terminal (as under Snakemake, and under pytest), and with ``tracker: tensorboard`` the same per-update and
per-epoch scalars in an event file, read back with TensorBoard's own reader."""
import csv
import re

import pytest

from effscale_timm.train.engine import train_run
from effscale_timm.train.loop import clock
from effscale_timm.train.options import RunConfig
from effscale_timm.train.tracker import TENSORBOARD_DIR

UPDATES = 4  # per epoch: 64 images in batches of 16
LINE = re.compile(r'progress_tiny s0 epoch (\d)/2: update (\d)/4 \(\d+%\) \| \d+ img/s \| lr [0-9.e-]+ \| '
                  r'loss [0-9.]+ \| ETA \d+:\d\d$')
pytestmark = pytest.mark.usefixtures('one_thread')


def _config(digits_npz, root, **kwargs):
    return RunConfig(variant='progress_tiny', depth=0.25, width=0.25, data=str(digits_npz),
                     out_dir=str(root / 'run'), epochs=2, batch_size=16, base_resolution=32, max_train_samples=64,
                     max_eval_samples=32, device='cpu', ckpt_root=str(root / 'ckpt'), hflip=False, **kwargs)


def _scalars(run_dir):
    """{tag: [(step, value)]} of the run's event files, by TensorBoard's EventAccumulator."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(run_dir / TENSORBOARD_DIR))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()['scalars']}


def test_a_progress_line_after_the_first_update_and_every_log_interval(digits_npz, tmp_path, caplog):
    caplog.set_level('INFO', logger='effscale_timm')
    train_run(_config(digits_npz, tmp_path, log_interval=2))
    lines = [r.getMessage() for r in caplog.records if r.name == 'effscale_timm.train.loop']
    assert [LINE.match(line).groups() for line in lines] == [('1', '1'), ('1', '2'), ('1', '4'), ('2', '1'),
                                                              ('2', '2'), ('2', '4')], lines
    messages = [r.getMessage() for r in caplog.records]
    assert messages.index(lines[2]) < next(i for i, m in enumerate(messages) if 'epoch 1/2: train loss' in m) \
        < messages.index(lines[3])  # between the epochs' lines
    assert not (tmp_path / 'run' / TENSORBOARD_DIR).exists()  # no tracker unless asked


def test_tensorboard_holds_the_per_update_and_per_epoch_scalars(digits_npz, tmp_path):
    train_run(_config(digits_npz, tmp_path, tracker='tensorboard', log_interval=1))
    scalars = _scalars(tmp_path / 'run')
    for tag in ('train/loss', 'train/top1', 'train/lr', 'train/img_per_s'):
        assert [step for step, _ in scalars[tag]] == list(range(1, 2 * UPDATES + 1)), tag
    with open(tmp_path / 'run' / 'metrics.csv') as f:
        rows = list(csv.DictReader(f))
    for name in ('train_loss', 'val_top1', 'lr', 'epoch_s'):
        assert scalars[f'epoch/{name}'] == [(UPDATES * (i + 1), pytest.approx(float(r[name]), rel=1e-6))
                                            for i, r in enumerate(rows)], name
    assert scalars['train/loss'][UPDATES - 1][1] == pytest.approx(float(rows[0]['train_loss']), abs=1e-4)


def test_a_resumed_run_keeps_each_scalar_once(digits_npz, tmp_path):
    """The resumed process purges only what came after the checkpoint: every step is there once."""
    cfg = _config(digits_npz, tmp_path, tracker='tensorboard', log_interval=1)
    train_run(RunConfig(**{**cfg.__dict__, 'stop_after_epochs': 1}))
    train_run(cfg)
    scalars = _scalars(tmp_path / 'run')
    assert len(list((tmp_path / 'run' / TENSORBOARD_DIR).glob('events.out.tfevents.*'))) == 2
    assert [step for step, _ in scalars['train/loss']] == list(range(1, 2 * UPDATES + 1))
    assert scalars['epoch/epoch'] == [(UPDATES, 1.0), (2 * UPDATES, 2.0)]


def test_clock():
    assert (clock(0), clock(59.6), clock(61), clock(3600 + 62)) == ('0:00', '1:00', '1:01', '1:01:02')
