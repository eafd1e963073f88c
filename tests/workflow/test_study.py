"""A tiny real study through the real Snakemake CLI: digits, 3 seeds, learning rates chosen on validation, and a
verdict with intervals, Holm-adjusted p-values and a comparator chosen on validation, never on test."""
import json
import re
import statistics
from pathlib import Path

import pytest

from conftest import job_counts, snakemake

pytestmark = pytest.mark.slow  # starts processes or runs Snakemake: `make test`, not `make test-fast`

SINGLE_AXIS = ['effscale_width_b0', 'effscale_resolution_b0']
STUDY = dict(dataset='digits', variants=['effscale_b0', *SINGLE_AXIS, 'effscale_compound_b0'], seeds=[0, 1, 2],
             epochs=2, recipe='fast', batch_size=64, device='cpu', base_resolution=32, max_train_samples=192,
             max_eval_samples=96, hflip=False, threads=2, deterministic=True,
             lr_sweep={'rates': [0.002, 0.008], 'epochs': 1})


@pytest.fixture(scope='module')
def study(tmp_path_factory):
    workdir = tmp_path_factory.mktemp('study3')
    dry = snakemake(workdir, '-n', config=STUDY)
    assert job_counts(dry.stdout) == {'prepare': 1, 'sweep_train': 8, 'choose_lr': 4, 'train': 12, 'profile': 4,
                                      'cam': 4, 'report': 1, 'all': 1}
    snakemake(workdir, config=STUDY)
    return workdir


def _finals(workdir, variant):
    return [json.loads(p.read_text()) for p in sorted(Path(workdir).glob(f'results/runs/digits/{variant}/seed*/final.json'))]


def test_every_run_trains_at_the_rate_chosen_on_validation(study):
    for variant in STUDY['variants']:
        chosen = json.loads((study / f'results/sweep/digits/{variant}/chosen.json').read_text())
        assert chosen['lr'] in STUDY['lr_sweep']['rates'] and len(chosen['candidates']) == 2
        best = max(c['final_val_top1'] for c in chosen['candidates'])
        assert chosen['lr'] == min(c['lr'] for c in chosen['candidates'] if c['final_val_top1'] == best)
        finals = _finals(study, variant)
        assert len(finals) == 3 and {f['lr'] for f in finals} == {chosen['lr']}
        assert {f['lr_source'] for f in finals} == {'lr_sweep'}


def test_verdict_has_intervals_p_values_and_a_comparator_chosen_on_validation(study):
    text = (study / 'reports' / 'table1.md').read_text()
    val = {v: statistics.mean(f['final_val_top1'] for f in _finals(study, v)) for v in SINGLE_AXIS}
    comparator = max(SINGLE_AXIS, key=lambda v: val[v])
    row = next(line for line in text.splitlines() if line.startswith('| 1 | effscale_compound_b0 |'))
    cells = [c.strip() for c in row.strip('|').split('|')]
    assert cells[2].startswith(comparator)  # the best single-axis row by validation, whatever test says
    assert re.match(r'\[[-+]\d+\.\d+, [-+]\d+\.\d+\]', cells[5])  # Welch 95% CI
    assert re.match(r'\d', cells[6]) and re.match(r'\d', cells[7])  # p and Holm-adjusted p
    assert re.match(r'\[[-+]\d+\.\d+, [-+]\d+\.\d+\]', cells[8])  # paired bootstrap CI over images and seeds
    assert re.match(r'\d+\.\d+ \(3 vs 3\)', cells[9])  # minimum detectable effect at n = 3
    assert re.search(r'compound (better|worse)|no detectable difference', cells[10])


def test_table_reports_convergence_and_geometry(study):
    text = (study / 'reports' / 'table1.md').read_text()
    b0 = next(line for line in text.splitlines() if line.startswith('| effscale_b0 |'))
    assert '1×1' in b0 and 'too short to judge' in b0 and '(n=3)' in b0
    assert 'effscale_b0 at 32 px ends on a 1×1 feature map, below 2×2' in text
