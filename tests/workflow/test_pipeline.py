"""The Snakemake pipeline through the real `snakemake` CLI: a real tiny study on digits, caching, resumption after
SIGKILL, locking, lint, the SLURM profile, conda env pins, and configuration errors stopping every job."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, SNAKEMAKE, cli_env, job_counts, snakemake, untimed

pytestmark = pytest.mark.slow  # starts processes or runs Snakemake: `make test`, not `make test-fast`

VARIANTS = ['effscale_b0', 'effscale_depth_b0', 'effscale_width_b0', 'effscale_resolution_b0',
            {'name': 'effscale_custom', 'depth': 1.2, 'width': 1.1, 'resolution': 1.15}]
TINY = dict(dataset='digits', variants=VARIANTS, seeds=[0], epochs=2, recipe='fast', batch_size=64, device='cpu',
            base_resolution=32, max_train_samples=192, max_eval_samples=96, hflip=False, threads=2,
            deterministic=True)


@pytest.fixture(scope='module')
def study(tmp_path_factory):
    workdir = tmp_path_factory.mktemp('study')
    snakemake(workdir, config=TINY)
    return workdir


def _finals(workdir):
    return {p.parent.parent.name: json.loads(p.read_text())
            for p in sorted(Path(workdir).glob('results/runs/digits/*/seed0/final.json'))}


def test_tiny_real_run_produces_table_and_figures(study):
    table = (study / 'reports/table1.md').read_text().split('### The networks as built')[0]  # Table 1 itself
    rows = [line for line in table.splitlines() if line.startswith('| effscale_')]
    assert [r.split('|')[1].strip() for r in rows] == ['effscale_b0', 'effscale_depth_b0', 'effscale_width_b0',
                                                         'effscale_resolution_b0', 'effscale_custom']
    finals = _finals(study)
    assert set(finals) == {v if isinstance(v, str) else v['name'] for v in VARIANTS}
    for name, final in finals.items():
        assert final['status'] == 'ok'
        row = next(r for r in rows if r.startswith(f'| {name} '))
        assert f'{final["test_top1"]:.2f}' in row  # the measured number, not a filled-in one
    for png in ('accuracy_vs_flops.png', 'cams.png'):
        data = (study / 'reports' / png).read_bytes()
        assert data.startswith(b'\x89PNG') and len(data) > 5000
    assert (study / 'logs/train/digits/effscale_b0/seed0.log').read_text().count('epoch') >= 2


def test_a_training_logs_progress_between_its_epochs(study):
    """Under Snakemake stderr is the job's log, not a terminal: progress lines, not a bar, inside each epoch."""
    log = (study / 'logs/train/digits/effscale_width_b0/seed0.log').read_text()
    progress = [m.start() for m in re.finditer(r'epoch \d/2: update \d+/3 \(\d+%\) \| \d+ img/s \| lr \S+ \| '
                                               r'loss [0-9.]+ \| ETA \d+:\d\d', log)]
    epochs = [log.index(f'epoch {e}/2: train loss') for e in (1, 2)]
    assert progress and progress[0] < epochs[0] < next(p for p in progress if p > epochs[0]) < epochs[1], log


def test_tidy_tables_curves_and_hub_folders(study):
    import pandas as pd
    runs = pd.read_csv(study / 'reports/runs.csv')
    finals = _finals(study)
    assert sorted(runs.variant) == sorted(finals) and set(runs.status) == {'ok'}
    for column in ('depth_as_built', 'input_px', 'gmacs', 'mactivations', 'params', 'lr', 'lr_source', 'epochs',
                   'train_loss', 'val_top1', 'val_loss', 'test_top1', 'test_loss', 'wall_time_s', 'img_per_s',
                   'device'):
        assert runs[column].notna().all(), column
    assert dict(zip(runs.variant, runs.test_top1)) == {v: f['test_top1'] for v, f in finals.items()}
    epochs = pd.read_csv(study / 'reports/epochs.csv')
    assert len(epochs) == 2 * len(finals) and sorted(set(epochs.epoch)) == [1, 2]
    assert (study / 'reports/training_curves.png').read_bytes()[:4] == b'\x89PNG'
    for variant in finals:
        hub = study / f'results/runs/digits/{variant}/seed0/hub'
        assert json.loads((hub / 'config.json').read_text())['architecture'] == variant
        assert (hub / 'model.safetensors').stat().st_size > 10_000


def test_html_report_has_the_description_every_caption_and_the_data(study):
    snakemake(study, '--report', 'report.html', config=TINY)
    html = (study / 'report.html').read_text()
    for text in ('Does compound scaling beat scaling one axis', 'runs.csv', 'epochs.csv', 'training_curves.png',
                 'lowest to the highest seed', 'one row per variant and seed'):
        assert text in html, text


def test_second_run_with_nothing_changed_does_nothing(study):
    out = snakemake(study, config=TINY)
    assert 'Nothing to be done' in out.stdout + out.stderr


def test_changing_one_variant_reruns_only_its_jobs(study):
    config = dict(TINY, variants=VARIANTS[:-1] + [dict(VARIANTS[-1], depth=1.4)])
    out = snakemake(study, '-n', config=config)
    assert job_counts(out.stdout) == {'train': 1, 'profile': 1, 'cam': 1, 'report': 1, 'all': 1}
    assert 'effscale_custom' in out.stdout and 'variant=effscale_b0' not in out.stdout


def test_adding_a_seed_trains_only_the_new_runs(study):
    out = snakemake(study, '-n', config=dict(TINY, seeds=[0, 1]))
    assert job_counts(out.stdout) == {'train': 5, 'report': 1, 'all': 1}


def test_table_alone_builds_only_what_it_needs(tmp_path):
    out = snakemake(tmp_path, '-n', 'reports/table1.md', config=TINY)
    assert job_counts(out.stdout) == {'prepare': 1, 'train': 5, 'profile': 5, 'cam': 5, 'report': 1}


def test_default_config_dry_run(tmp_path):
    out = snakemake(tmp_path, '-n', '--configfile', str(ROOT / 'config.yaml'))
    assert job_counts(out.stdout) == {'prepare': 1, 'train': 5, 'profile': 5, 'cam': 5, 'report': 1, 'all': 1}


def test_lint_is_clean():
    proc = subprocess.run([SNAKEMAKE, '--lint'], cwd=ROOT, capture_output=True, text=True, env=cli_env())
    assert proc.returncode == 0 and 'Congratulations' in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_slurm_profile_dry_run(tmp_path):
    out = snakemake(tmp_path, '-n', '--workflow-profile', str(ROOT / 'profiles/slurm'), '--configfile',
                    str(ROOT / 'config/full.yaml'))
    counts = job_counts(out.stdout)
    assert counts['train'] == 9 * 5 and counts['profile'] == 9  # 6 models + 3 FLOP-matched, 5 seeds
    train_block = out.stdout[out.stdout.index('rule train:'):][:1500]
    assert re.search(r'gpu=1', train_block) and 'slurm_partition=gpu' in train_block
    assert 'runtime=240' in train_block and 'mem_mb=32000' in train_block  # config/full.yaml's, not the profile's


def test_gpu_trainings_ask_for_their_gpus_and_slots_and_pack(tmp_path):
    """On a 2-GPU-per-training study packed 2 per GPU: each train job asks for 2 GPUs (SLURM's --gpus) and 2 slots
    (the local limit, `--resources gpu_slots=G*k`), and its command carries both settings to the entry point."""
    out = snakemake(tmp_path, '-n', '--configfile', str(ROOT / 'config/full.yaml'), '--config', 'nproc_per_node=2',
                    'trainings_per_gpu=2', '--resources', 'gpu_slots=8')
    train_block = out.stdout[out.stdout.index('rule train:'):][:2500]
    assert re.search(r'\bgpu=2\b', train_block) and re.search(r'\bgpu_slots=2\b', train_block), train_block
    assert '--nproc-per-node 2' in train_block and '--trainings-per-gpu 2' in train_block, train_block
    cpu = snakemake(tmp_path / 'cpu', '-n', config=TINY)  # the CPU demo asks for no GPU at all
    cpu_block = cpu.stdout[cpu.stdout.index('rule train:'):][:2500]
    assert re.search(r'\bgpu=0\b', cpu_block) and re.search(r'\bgpu_slots=0\b', cpu_block), cpu_block


def test_env_files_agree_with_constraints():
    pins = {}
    for line in (ROOT / 'constraints.txt').read_text().splitlines():
        if '==' in line and not line.startswith('#'):
            name, version = line.split('==')
            pins[name.lower().replace('_', '-')] = version.strip()
    envs = sorted((ROOT / 'envs').glob('*.yaml'))
    assert {e.stem for e in envs} == {'data', 'train', 'profile', 'cam', 'report', 'search'}
    for env in envs:
        spec = yaml.safe_load(env.read_text())
        pip = next(d['pip'] for d in spec['dependencies'] if isinstance(d, dict))
        for req in pip:
            if '==' in req:
                name, version = req.split('==')
                assert pins[name.lower().replace('_', '-')] == version, f'{env.name}: {req}'
        python = next(d for d in spec['dependencies'] if isinstance(d, str) and d.startswith('python='))
        assert python == f'python={sys.version_info.major}.{sys.version_info.minor}'
    rules = ''.join(p.read_text() for p in (ROOT / 'workflow/rules').glob('*.smk'))
    for env in envs:
        assert f'envs/{env.name}' in rules


def test_sigkill_during_training_then_same_command_finishes_with_same_metrics(study, tmp_path):
    cmd = [SNAKEMAKE, '-s', str(ROOT / 'Snakefile'), '-d', str(tmp_path), '--cores', '2', '--configfile',
           str(tmp_path / 'test_config.yaml')]
    (tmp_path / 'test_config.yaml').write_text(yaml.safe_dump(TINY, sort_keys=False))
    proc = subprocess.Popen(cmd, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not list(tmp_path.glob('results/ckpt/*/last.pt')):
        time.sleep(0.1)
    assert proc.poll() is None, 'the pipeline ended before a checkpoint was written'
    # While it runs, a second invocation in the same directory is refused by Snakemake's lock.
    second = subprocess.run(cmd, capture_output=True, text=True, env=cli_env())
    assert second.returncode != 0 and 'cannot be locked' in second.stdout + second.stderr
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = [p.name for p in tmp_path.glob('results/ckpt/*')]
    out = subprocess.run(cmd, capture_output=True, text=True, env=cli_env())
    assert out.returncode == 0, out.stderr[-3000:]
    logs = ''.join(p.read_text() for p in tmp_path.glob('logs/train/digits/*/seed0.log'))
    assert 'resuming' in logs, f'no training resumed; checkpoints at the kill: {killed}'
    a, b = _finals(tmp_path), _finals(study)
    assert {k: v['test_top1'] for k, v in a.items()} == {k: v['test_top1'] for k, v in b.items()}
    assert (tmp_path / 'reports/table1.md').exists()
    assert not list(tmp_path.rglob('*.tmp'))


BAD_CONFIGS = [
    (dict(variants=['effscale_b9']), 'variants[0]: unknown variant'),
    (dict(variants=[{'name': 'x_custom', 'depth': 0}]), 'depth'),
    (dict(variants=[{'name': 'x_custom', 'width': 'two'}]), 'width'),
    (dict(epochs=0), 'epochs'),
    (dict(seeds=[]), 'seeds'),
    (dict(dataset='mnist'), 'dataset'),
    (dict(dataset='imagefolder', dataset_root='/nonexistent/images'), 'dataset_root'),
    (dict(variants=[{'name': 'x_small', 'resolution': 0.5}]), 'resolution'),
    (dict(devise='cpu'), 'devise'),
    (dict(variants=[{'name': 'effscale_b0', 'depth': 2.0}]), 'already registered'),
]


@pytest.mark.parametrize('change, key', BAD_CONFIGS, ids=[b[1].split(':')[0] for b in BAD_CONFIGS])
def test_config_errors_stop_before_any_job(change, key, tmp_path):
    out = snakemake(tmp_path, config=dict(TINY, **change), check=False)
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert key in text, text[-2000:]
    assert not (tmp_path / 'results').exists() and not (tmp_path / 'logs').exists()


def test_yaml_that_does_not_parse_is_refused(tmp_path):
    bad = tmp_path / 'bad.yaml'
    bad.write_text('dataset: digits\nvariants: [effscale_b0\n')
    proc = subprocess.run([SNAKEMAKE, '-s', str(ROOT / 'Snakefile'), '-d', str(tmp_path), '--cores', '1',
                           '--configfile', str(bad)], capture_output=True, text=True, env=cli_env())
    # Snakemake reads --configfile before the workflow runs, so the message is Snakemake's own.
    assert proc.returncode != 0 and 'not valid JSON or YAML' in proc.stdout + proc.stderr
    assert not (tmp_path / 'results').exists()


def test_html_report(study):
    snakemake(study, '--report', 'reports/report.html', config=TINY)
    html = (study / 'reports/report.html').read_text(errors='replace')
    assert 'table1.md' in html and 'accuracy_vs_flops.png' in html and 'cams.png' in html


def _table1(workdir):
    return (workdir / 'reports/table1.md').read_text().split('### The networks as built')[0]


def test_a_damaged_run_file_is_reported_then_remade_by_the_same_command(study):
    """A run's predictions cut short: the report still comes out, naming the file and counting the run as failed;
    the same command with --forcerun and the file, as the message says, retrains that run alone and the table is the
    same again. (Deleting it would not do: Snakemake 9 does not remake a missing file whose results are up to date.)"""
    before = _table1(study)
    relative = 'results/runs/digits/effscale_width_b0/seed0/test_predictions.npz'  # as the pipeline names it
    predictions = study / relative
    predictions.write_bytes(predictions.read_bytes()[:300])
    out = snakemake(study, config=TINY)
    assert 'Traceback' not in out.stderr
    table = (study / 'reports/table1.md').read_text()
    assert f'effscale_width_b0 seed 0: its files are damaged: {relative}: ' in table, table[-3000:]
    assert '0 ok, 1 failed' in next(r for r in _table1(study).splitlines() if r.startswith('| effscale_width_b0 '))
    assert 'run the same command again with --forcerun' in table
    again = snakemake(study, '--forcerun', relative, config=TINY)  # as the message says
    assert job_counts(again.stderr).get('train') == 1, again.stderr[-3000:]  # a real run's stats go to stderr
    assert untimed(_table1(study)) == untimed(before)  # the retrained run's speed is measured again


def test_corrupt_prepared_dataset_is_rebuilt_not_used(study):
    """Last in this file: it changes the study's prepared file."""
    npz = study / 'results/data/digits.npz'
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0xFF
    npz.write_bytes(bytes(data))
    out = snakemake(study, '-n', config=TINY)
    assert 'fails its checksum' in out.stdout + out.stderr
    counts = job_counts(out.stdout)
    assert counts.get('prepare') == 1 and counts.get('train') == 5, out.stdout[-3000:] + out.stderr[-3000:]
