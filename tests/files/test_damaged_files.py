"""Fault injection: every kind of file a stage reads, damaged four ways (cut short, random bytes, empty, a file of
another kind), gives one line naming the file and what to do, exit status 2 and no output, never a traceback; the
report counts a run whose own files are damaged as failed and still writes the rest. The same pipeline command with
the damaged output deleted finishes with the same table: tests/workflow/test_pipeline.py."""
import json
import os
import shutil

import pytest
import torch

from conftest import DAMAGE, damaged_bytes
from effscale_timm import cli
from effscale_timm.train.checkpoint import read_checkpoint

pytestmark = pytest.mark.usefixtures('one_thread')
TINY = ['--variant', 'effscale_b0', '--epochs', '1', '--batch-size', '64', '--base-resolution', '32',
        '--max-train-samples', '128', '--max-eval-samples', '64', '--device', 'cpu', '--deterministic', '--no-hflip',
        '--threads', '1', '--seed', '0']


def _run(capsys, *args):
    """``effscale ARGS`` in this process: (exit status, stderr)."""
    capsys.readouterr()
    status = cli.main([str(a) for a in args])
    return status, capsys.readouterr().err


@pytest.fixture(scope='module')
def files(tmp_path_factory, digits_npz):
    """One real run of each stage on real digits: prepared data, a run's files, its profile, CAMs, an lr choice and a
    checkpoint, in a fresh folder."""
    root = tmp_path_factory.mktemp('pipeline')
    data = shutil.copy(digits_npz, root / 'digits.npz')
    shutil.copy(f'{digits_npz}.sha256', root / 'digits.npz.sha256')
    run = root / 'run'
    assert cli.main(['train', *TINY, '--data', str(data), '--out-dir', str(run), '--ckpt-root',
                     str(root / 'ckpt')]) == 0
    assert cli.main(['profile', '--variant', 'effscale_b0', '--num-classes', '10', '--in-chans', '1',
                     '--base-resolution', '32', '--no-latency', '--out', str(root / 'profile.json')]) == 0
    assert cli.main(['cam', '--model', str(run / 'model.pt'), '--data', str(data), '--out', str(root / 'cam.npz'),
                     '--threads', '1']) == 0
    assert cli.main(['choose-lr', '--runs', str(run / 'final.json'), '--out', str(root / 'chosen.json')]) == 0
    return {'data': data, 'model': run / 'model.pt', 'final': run / 'final.json', 'metrics': run / 'metrics.csv',
            'predictions': run / 'test_predictions.npz', 'profile': root / 'profile.json', 'cam': root / 'cam.npz',
            'lr_choice': root / 'chosen.json', 'checkpoint': next((root / 'ckpt').glob('*/last.pt')), 'run': run,
            'root': root}


def _wrong_kind(name, files):
    """A well-formed file of another kind, where ``name`` belongs."""
    other = {'data': 'cam', 'model': 'checkpoint', 'final': 'profile', 'metrics': 'final', 'predictions': 'cam',
             'profile': 'lr_choice', 'cam': 'predictions', 'lr_choice': 'final', 'checkpoint': 'model'}[name]
    return files[other].read_bytes()


def _damage(path, how, files, name):
    """A copy of ``path`` damaged ``how``, beside the good file (which the other cases read)."""
    bad = damaged_bytes(path.read_bytes(), how, _wrong_kind(name, files))
    copy = path.parent / f'damaged_{how}_{path.name}'
    copy.write_bytes(bad)
    if name == 'data':  # a prepared dataset's checksum is over its bytes: keep the good one beside the damaged copy
        shutil.copy(f'{path}.sha256', f'{copy}.sha256')
    return copy


def _one_line_naming(err, path, stage):
    lines = [line for line in err.splitlines() if 'error' in line.lower()]
    assert 'Traceback' not in err, err
    assert len(lines) == 1 and lines[0].startswith(f'effscale {stage}: error: {path}: '), err
    assert 'run the same command again' in lines[0] or 'run the step that writes it' in lines[0] \
        or 'prepare' in lines[0] or 'export' in lines[0], lines[0]


# kind -> (stage, its arguments with {bad} for the damaged file and {out} for the output it must not write)
READERS = {
    'data': ('cam', ['--model', '{model}', '--data', '{bad}', '--out', '{out}', '--threads', '1']),
    'model': ('cam', ['--model', '{bad}', '--data', '{data}', '--out', '{out}', '--threads', '1']),
    'final': ('choose-lr', ['--runs', '{bad}', '--out', '{out}']),
    'profile': ('report', ['--runs', '{final}', '--profiles', '{bad}', '--out-dir', '{out}']),
    'cam': ('report', ['--runs', '{final}', '--cams', '{bad}', '--out-dir', '{out}']),
    'lr_choice': ('report', ['--runs', '{final}', '--lr-choices', '{bad}', '--out-dir', '{out}']),
}


@pytest.mark.parametrize('how', DAMAGE)
@pytest.mark.parametrize('kind', sorted(READERS))
def test_a_damaged_input_is_one_line_naming_it_and_nothing_is_written(files, kind, how, capsys):
    bad = _damage(files[kind], how, files, kind)
    out = files['root'] / f'out_{kind}_{how}'
    stage, template = READERS[kind]
    args = [a.format(bad=bad, out=out, **{k: v for k, v in files.items() if k != 'root'}) for a in template]
    status, err = _run(capsys, stage, *args)
    assert status == 2, err
    _one_line_naming(err, bad, stage)
    assert not out.exists() and not list(files['root'].glob(f'*out_{kind}_{how}*')), 'half-written output'


@pytest.mark.parametrize('how', DAMAGE)
def test_train_with_a_damaged_lr_choice_names_it_before_training(files, how, capsys, tmp_path):
    bad = _damage(files['lr_choice'], how, files, 'lr_choice')
    status, err = _run(capsys, 'train', *TINY, '--data', files['data'], '--out-dir', tmp_path / 'run',
                       '--lr-from', bad, '--ckpt-root', tmp_path / 'ckpt')
    assert status == 2
    _one_line_naming(err, bad, 'train')
    assert not (tmp_path / 'run' / 'final.json').exists()


@pytest.mark.parametrize('how', DAMAGE)
@pytest.mark.parametrize('kind', ['final', 'metrics', 'predictions'])
def test_the_report_counts_a_run_with_damaged_files_as_failed_and_goes_on(files, kind, how, capsys, tmp_path):
    run = tmp_path / 'runs' / 'effscale_b0' / 'seed0'
    shutil.copytree(files['run'], run)
    damaged = _damage(run / files[kind].name, how, files, kind)
    os.replace(damaged, run / files[kind].name)
    status, err = _run(capsys, 'report', '--runs', run / 'final.json', '--profiles', files['profile'],
                       '--out-dir', tmp_path / 'reports', '--expected', 'effscale_b0:0')
    assert status == 0 and 'Traceback' not in err, err
    table = (tmp_path / 'reports' / 'table1.md').read_text()
    assert 'failed' in table and str(run / files[kind].name) in table, table


@pytest.mark.parametrize('how', DAMAGE)
def test_a_damaged_checkpoint_is_never_used_and_the_warning_names_it(files, how, caplog):
    bad = _damage(files['checkpoint'], how, files, 'checkpoint')
    with caplog.at_level('WARNING'):
        assert read_checkpoint(bad) is None
    assert str(bad) in caplog.text


def test_the_damage_cases_are_real(files):
    """Each good file reads; the damaged copies above differ from it (so the tests above cannot pass vacuously)."""
    assert json.loads(files['final'].read_text())['status'] == 'ok'
    assert read_checkpoint(files['checkpoint']) is not None
    assert torch.load(files['model'], weights_only=True)['variant'] == 'effscale_b0'
    for kind in READERS:
        assert _wrong_kind(kind, files) != files[kind].read_bytes()
