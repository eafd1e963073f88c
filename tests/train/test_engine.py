"""The training engine through `effscale train`: outputs, resume after a kill, failures, memory fitting."""
import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import cli_env, effscale
from effscale_timm.train.memory import accumulation_steps, fit_micro_batch
from effscale_timm.train.recipes import RECIPES

TINY = ['--variant', 'effscale_b0', '--epochs', '3', '--batch-size', '64', '--base-resolution', '32',
        '--max-train-samples', '256', '--max-eval-samples', '128', '--device', 'cpu', '--deterministic',
        '--no-hflip', '--threads', '2']


def _final(d):
    return json.loads((d / 'final.json').read_text())


def _metrics(d):
    with open(d / 'metrics.csv') as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope='module')
def uninterrupted(digits_npz, tmp_path_factory):
    out = tmp_path_factory.mktemp('run')
    effscale('train', *TINY, '--data', digits_npz, '--out-dir', out / 'run', '--ckpt-root', out / 'ckpt')
    return out / 'run'


@pytest.mark.slow
def test_run_writes_metrics_model_and_final(uninterrupted):
    final = _final(uninterrupted)
    assert final['status'] == 'ok' and final['epochs'] == 3
    assert 0 <= final['test_top1'] <= 100 and final['best_val_top1'] is not None
    assert final['input_size'] == 32 and final['params'] > 1e6 and final['hardware'].startswith('CPU')
    rows = _metrics(uninterrupted)
    assert [int(r['epoch']) for r in rows] == [1, 2, 3]
    assert set(rows[0]) >= {'train_loss', 'train_top1', 'val_top1', 'lr', 'img_per_s', 'peak_mem_gib'}
    assert float(rows[-1]['train_loss']) < float(rows[0]['train_loss'])  # it learns
    state = torch.load(uninterrupted / 'model.pt', weights_only=False)
    assert state['variant'] == 'effscale_b0' and state['num_classes'] == 10 and state['in_chans'] == 1
    assert final['final_train_loss'] == float(rows[-1]['train_loss'])
    assert final['final_val_top1'] == float(rows[-1]['val_top1'])
    assert final['final_val_loss'] == float(rows[-1]['val_loss'])  # the scaling law fits it


@pytest.mark.slow
def test_run_keeps_per_image_test_predictions(uninterrupted, digits_npz):
    import numpy as np
    final = _final(uninterrupted)
    with np.load(uninterrupted / 'test_predictions.npz') as p:
        pred, label = p['pred'], p['label']
    assert len(pred) == len(label) == final['test_samples']
    with np.load(digits_npz) as d:  # the fixed test order: the first test images of the prepared file
        assert np.array_equal(label, d['y_test'][:len(label)])
    assert round(100 * float((pred == label).mean()), 3) == final['test_top1']


@pytest.mark.slow
def test_sigkill_then_same_command_resumes_to_identical_metrics(digits_npz, uninterrupted, tmp_path):
    out, ckpt = tmp_path / 'run', tmp_path / 'ckpt'
    cmd = [sys.executable, '-m', 'effscale_timm.cli', 'train', *TINY, '--data', str(digits_npz), '--out-dir',
           str(out), '--ckpt-root', str(ckpt)]
    proc = subprocess.Popen(cmd, env=cli_env(), stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 120
    while not list(ckpt.glob('*/last.pt')) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, 'training ended before it could be killed'
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / 'final.json').exists()
    again = effscale('train', *TINY, '--data', digits_npz, '--out-dir', out, '--ckpt-root', ckpt)
    assert 'resuming effscale_b0 from epoch' in again.stderr
    a, b = _final(out), _final(uninterrupted)
    assert a['test_top1'] == b['test_top1'] and a['best_val_top1'] == b['best_val_top1']
    strip = [{k: v for k, v in r.items() if k not in ('img_per_s', 'epoch_s', 'peak_mem_gib')} for r in
             (_metrics(out), _metrics(uninterrupted))[0]]
    ref = [{k: v for k, v in r.items() if k not in ('img_per_s', 'epoch_s', 'peak_mem_gib')} for r in
           _metrics(uninterrupted)]
    assert strip == ref


@pytest.mark.slow
def test_corrupt_checkpoint_is_never_used(digits_npz, tmp_path):
    out, ckpt = tmp_path / 'run', tmp_path / 'ckpt'
    effscale('train', *TINY, '--data', digits_npz, '--out-dir', out, '--ckpt-root', ckpt, '--stop-after-epochs', '2')
    last = next(ckpt.glob('*/last.pt'))
    data = bytearray(last.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the middle: torch.load alone may not notice
    last.write_bytes(bytes(data))
    again = effscale('train', *TINY, '--data', digits_npz, '--out-dir', out, '--ckpt-root', ckpt)
    assert 'corrupt or truncated' in again.stderr and 'previous good checkpoint' in again.stderr
    assert 'resuming effscale_b0 from epoch 1' in again.stderr
    assert _final(out)['epochs'] == 3
    assert [p.name for p in last.parent.iterdir()] == ['last.pt']  # a finished run keeps its last epoch only


@pytest.mark.slow
def test_truncated_checkpoint_everywhere_starts_over(digits_npz, tmp_path):
    out, ckpt = tmp_path / 'run', tmp_path / 'ckpt'
    effscale('train', *TINY, '--data', digits_npz, '--out-dir', out, '--ckpt-root', ckpt, '--stop-after-epochs', '1')
    last = next(ckpt.glob('*/last.pt'))
    last.write_bytes(last.read_bytes()[:1000])
    again = effscale('train', *TINY, '--data', digits_npz, '--out-dir', out, '--ckpt-root', ckpt)
    assert 'starting over' in again.stderr and 'resuming' not in again.stderr
    assert _final(out)['status'] == 'ok'


@pytest.mark.slow
def test_nan_loss_marks_the_run_failed(digits_npz, tmp_path):
    out = tmp_path / 'run'
    proc = effscale('train', *TINY, '--lr', '1e30', '--data', digits_npz, '--out-dir', out, '--ckpt-root',
                    tmp_path / 'ckpt')
    final = _final(out)
    assert final['status'] == 'failed' and final['test_top1'] is None
    assert 'loss became' in final['error'] and 'loss became' in proc.stderr
    assert (out / 'model.pt').exists()  # downstream rules still find their input


def test_a_nan_between_reads_falls_back_to_the_last_good_checkpoint(digits_npz, tmp_path, monkeypatch, one_thread):
    """The loss is read every log_interval updates, so NaN updates may be applied before the check sees them: the run
    then goes back to its last good checkpoint, and no NaN weights are saved."""
    from effscale_timm.train import engine, loop
    from effscale_timm.train.options import RunConfig

    real_call, calls = loop.Step.__call__, []

    def poisoned(self, x, y):  # from the 6th update on (epoch 2 of 4 updates each): NaN loss and NaN weights
        loss_sum, hits = real_call(self, x, y)
        calls.append(1)
        if len(calls) > 5:
            with torch.no_grad():
                next(self.model.parameters()).fill_(float('nan'))
            loss_sum = loss_sum * float('nan')
        return loss_sum, hits

    monkeypatch.setattr(loop.Step, '__call__', poisoned)
    cfg = RunConfig(variant='effscale_b0', data=str(digits_npz), out_dir=str(tmp_path / 'run'), epochs=3,
                    batch_size=64, max_train_samples=256, max_eval_samples=128, device='cpu', hflip=False,
                    log_interval=3, ckpt_root=str(tmp_path / 'ckpt'))
    result = engine.train_run(cfg)
    assert result.status == 'failed' and 'weights are those of epoch 1' in result.error
    assert 'by update 7' in result.error and result.epochs == 1  # read at updates 3, 4 (end), 7
    saved = torch.load(tmp_path / 'run' / 'model.pt', weights_only=False)['state_dict']
    assert all(torch.isfinite(v).all() for v in saved.values() if v.is_floating_point())
    assert len(_metrics(tmp_path / 'run')) == 1


@pytest.mark.slow
def test_compiled_training_runs_and_reports_its_compile_time(digits_npz, tmp_path):
    """torch.compile is the default on a GPU; its path is checked here on the CPU (a tiny network; about a minute of
    compiling on a fresh machine)."""
    out = tmp_path / 'run'
    effscale('train', '--variant', 'x_tiny_compiled', '--depth', '0.25', '--width', '0.25', '--resolution', '1',
             '--data', digits_npz, '--out-dir', out, '--ckpt-root', tmp_path / 'ckpt', '--epochs', '2', '--batch-size',
             '32', '--max-train-samples', '64', '--max-eval-samples', '32', '--device', 'cpu', '--threads', '2',
             '--compile')
    final, rows = _final(out), _metrics(out)
    assert final['status'] == 'ok' and final['compiled'] is True and final['compile_s'] > 0
    assert float(rows[1]['img_per_s']) > float(rows[0]['img_per_s'])  # the first epoch held the compiling


@pytest.mark.slow
def test_cuda_without_gpu_is_a_clear_error(digits_npz, tmp_path):
    if torch.cuda.is_available():
        pytest.skip('this machine has a GPU')
    args = [a if a != 'cpu' else 'cuda' for a in TINY]
    proc = effscale('train', *args, '--data', digits_npz, '--out-dir', tmp_path, check=False)
    assert proc.returncode == 2 and 'no CUDA GPU' in proc.stderr


@pytest.mark.slow
def test_auto_device_falls_back_to_cpu_with_a_warning(digits_npz, tmp_path):
    if torch.cuda.is_available():
        pytest.skip('this machine has a GPU')
    args = [a if a != 'cpu' else 'auto' for a in TINY] + ['--epochs', '1']
    proc = effscale('train', *args, '--data', digits_npz, '--out-dir', tmp_path / 'r', '--ckpt-root', tmp_path / 'c')
    assert 'found no GPU; training on the CPU' in proc.stderr
    assert _final(tmp_path / 'r')['hardware'].startswith('CPU')


# timm's decay_batch_step from 128: 96, 64, 48, 32, 24, 16, 12, 8, 6, 4, 3, 2, 1 (two steps per power of two).
@pytest.mark.parametrize('fits_without, fits_with, expected', [
    # 8 still too big: checkpointing goes on (8 -> 6 would cross MIN_MICRO_BATCH) and 8 is tried again, and fits.
    (6, 12, [(128, False), (96, False), (64, False), (48, False), (32, False), (24, False), (16, False),
             (12, False), (8, False), (8, True)]),
    # Checkpointing alone is not enough: shrinking goes on below 8, with checkpointing left on.
    (2, 4, [(128, False), (96, False), (64, False), (48, False), (32, False), (24, False), (16, False),
            (12, False), (8, False), (8, True), (6, True), (4, True)]),
    # 48 fits: no checkpointing.
    (48, 48, [(128, False), (96, False), (64, False), (48, False)]),
])
def test_fit_micro_batch_shrinks_then_checkpoints(fits_without, fits_with, expected):
    """Micro-batches are tried in timm's decay_batch_step order from the batch size; gradient checkpointing is
    switched on exactly once, when the next step would go below MIN_MICRO_BATCH, and the same size is retried."""
    calls = []
    checkpointing = []

    def probe(m):
        calls.append((m, bool(checkpointing)))
        if m > (fits_with if checkpointing else fits_without):
            raise torch.cuda.OutOfMemoryError('CUDA out of memory. Tried to allocate 2.00 GiB')

    micro, ckpt = fit_micro_batch(probe, 128, lambda: checkpointing.append(True))
    assert calls == expected
    assert micro == expected[-1][0] and ckpt == expected[-1][1]
    assert checkpointing == ([True] if ckpt else [])
    assert accumulation_steps(128, micro) == {8: 16, 4: 32, 48: 3}[micro]  # effective batch >= 128, never less


def test_fit_micro_batch_does_not_hide_other_errors():
    def probe(m):
        raise RuntimeError('Expected all tensors to be on the same device')

    with pytest.raises(RuntimeError, match='same device'):
        fit_micro_batch(probe, 64, lambda: None)


def test_recipes_are_the_documented_ones():
    paper = RECIPES['paper']
    assert paper.opt == 'rmsproptf' and paper.opt_kwargs['eps'] == 1e-3 and paper.lr_per_256 == 0.016
    assert paper.sched_kwargs == {'decay_epochs': 2.4, 'decay_rate': 0.97} and paper.bn_momentum == 0.01
    assert paper.ema_decay == 0.9999 and paper.drop_path == 0.2 and paper.label_smoothing == 0.1
    seed = RECIPES['seed']
    assert seed.opt == 'rmsprop' and seed.opt_kwargs == {'alpha': 0.9, 'momentum': 0.9, 'eps': 0.1}
    assert seed.epochs == 35


@pytest.mark.slow
@pytest.mark.parametrize('recipe', sorted(RECIPES))
def test_every_recipe_builds_timm_optimizer_and_scheduler(recipe, digits_npz, tmp_path):
    out = tmp_path / 'r'
    effscale('train', *TINY, '--epochs', '1', '--recipe', recipe, '--data', digits_npz, '--out-dir', out,
             '--ckpt-root', tmp_path / 'c')
    assert _final(out)['status'] == 'ok' and _final(out)['recipe'] == recipe


def test_out_of_memory_mid_run_falls_back_to_a_smaller_micro_batch(digits_npz, tmp_path, monkeypatch, caplog):
    """A GPU OOM in a training step (simulated: no GPU here) halves the micro-batch and accumulates instead."""
    import logging

    from effscale_timm.train import engine

    real_build = engine.build_model

    def build_model_that_fits_16(*args, **kwargs):
        model = real_build(*args, **kwargs)
        forward = model.forward

        def limited(x):
            if model.training and x.shape[0] > 16:
                raise torch.cuda.OutOfMemoryError('CUDA out of memory. Tried to allocate 1.00 GiB')
            return forward(x)
        model.forward = limited
        return model

    monkeypatch.setattr(engine, 'build_model', build_model_that_fits_16)
    cfg = engine.RunConfig(variant='effscale_b0', data=str(digits_npz), out_dir=str(tmp_path / 'r'), epochs=1,
                           batch_size=64, device='cpu', max_train_samples=128, max_eval_samples=64, hflip=False,
                           ckpt_root=str(tmp_path / 'c'))
    with caplog.at_level(logging.WARNING):
        result = engine.train_run(cfg)
    assert result.status == 'ok' and result.micro_batch == 16 and result.batch_size == 64
    assert 'micro-batch now 32' in caplog.text and 'micro-batch now 16' in caplog.text


def _image_tree(root, bad=False):
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    for split, n in (('train', 8), ('val', 4)):
        for cls in ('cat', 'dog'):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(folder / f'{i}.png')
    if bad:
        (root / 'train' / 'dog' / 'zz.png').write_bytes(b'\x89PNG truncated')
    return root


@pytest.mark.slow
def test_image_folder_trains_through_the_dataloader_path(tmp_path):
    root = _image_tree(tmp_path / 'images')
    out = tmp_path / 'r'
    effscale('train', '--variant', 'effscale_b0', '--epochs', '1', '--batch-size', '8', '--base-resolution', '32',
             '--device', 'cpu', '--workers', '0', '--data', root, '--out-dir', out, '--ckpt-root', tmp_path / 'c')
    final = _final(out)
    assert final['status'] == 'ok' and final['dataset'] == 'imagefolder:images' and final['test_samples'] == 8
    assert torch.load(out / 'model.pt', weights_only=False)['classes'] == ['cat', 'dog']


@pytest.mark.slow
def test_image_folder_with_a_corrupt_image_names_it(tmp_path):
    root = _image_tree(tmp_path / 'images', bad=True)
    proc = effscale('train', '--variant', 'effscale_b0', '--epochs', '1', '--batch-size', '20', '--device', 'cpu',
                    '--workers', '0', '--data', root, '--out-dir', tmp_path / 'r', '--ckpt-root', tmp_path / 'c',
                    check=False)
    assert proc.returncode == 2 and 'zz.png: unreadable image' in proc.stderr
