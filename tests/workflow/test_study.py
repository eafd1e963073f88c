"""Tiny real studies through the real Snakemake CLI on digits: the verdict (2 seeds, single-axis models FLOP-matched to
the compound one, the budget check), the same comparison for ResNet-50 (`backbone: resnet50`), the learning-rate
sweep (2 seeds per rate, the choice on validation), and the paper's Table 3 study (config/table3.yaml) as a dry run."""
import json
import re
from pathlib import Path

import pytest

from conftest import ROOT, job_counts, snakemake

pytestmark = pytest.mark.slow  # starts processes or runs Snakemake: `make test`, not `make test-fast`

COMMON = dict(dataset='digits', recipe='fast', batch_size=64, device='cpu', base_resolution=32, max_train_samples=128,
              max_eval_samples=96, hflip=False, threads=1, deterministic=True)
STUDY = dict(COMMON, variants=['effscale_b0', 'effscale_width_b0', 'effscale_compound_b0'], seeds=[0, 1], epochs=1,
             flop_match={'target': 'effscale_compound_b0', 'axes': ['depth', 'width']}, equivalence_margin=0.75,
             budget_check=2)
MATCHED = ['effscale_depth_matched', 'effscale_width_matched']
RESNET = dict(COMMON, backbone='resnet50', seeds=[0, 1], epochs=1, max_train_samples=64, max_eval_samples=64,
              variants=[{'name': 'tiny_resnet50'},
                        {'name': 'tiny_resnet50_compound', 'depth': 1.2, 'width': 1.1, 'resolution': 1.15}],
              flop_match={'target': 'tiny_resnet50_compound', 'axes': ['depth', 'width']})
SWEEP = dict(COMMON, variants=['effscale_b0'], seeds=[0], epochs=3,
             lr_sweep={'rates': [0.002, 0.004, 0.008], 'seeds': [0, 1], 'epochs': 1})


@pytest.fixture(scope='module')
def study(tmp_path_factory):
    workdir = tmp_path_factory.mktemp('study3')
    dry = snakemake(workdir, '-n', config=STUDY)
    assert job_counts(dry.stdout) == {'prepare': 1, 'train': 10, 'budget_train': 6, 'profile': 5, 'cam': 5,
                                      'report': 1, 'all': 1}
    snakemake(workdir, config=STUDY)
    return workdir


def _cells(line):
    return [c.strip() for c in line.strip('|').split('|')]


def test_the_verdict_tests_every_matched_axis_with_the_pooled_df(study):
    text = (study / 'reports' / 'table1.md').read_text()
    rows = [_cells(line) for line in text.splitlines() if re.match(r'\| \d+ \| effscale_compound_b0 \|', line)]
    assert [r[2].split()[0] for r in rows] == MATCHED  # one line per matched axis, no other
    for r in rows:
        assert re.match(r'[-+]\d+\.\d+ \[[-+]\d+\.\d+, [-+]\d+\.\d+\]', r[4])  # Δ with its 95% interval
        assert re.match(r'[-+]\d+\.\d+ \(5\)', r[5])  # t with the pooled df: 10 runs of 5 arms
        assert re.match(r'\[[-+]\d+\.\d+, [-+]\d+\.\d+\]', r[8])  # TOST's 90% interval
    words = rows[0][9]
    assert re.match(r'(better|worse|equivalent within ±0\.75|inconclusive \(MDE \d+\.\d\d\))', words)
    assert 'df = runs − arms = 5' in text and 'intersection–union' in text and '±0.75' in text


def test_unmatched_rows_get_no_verdict_words(study):
    text = (study / 'reports' / 'table1.md').read_text()
    verdict = next(line for line in text.splitlines() if line.startswith('- **effscale_compound_b0**'))
    described = verdict.split('Described only')[1]
    assert 'effscale_width_b0' in described
    for word in ('better', 'worse', 'equivalent', 'inconclusive'):
        assert word not in described


def test_upsampled_digits_withhold_the_resolution_verdict_and_say_why(study):
    text = (study / 'reports' / 'table1.md').read_text()
    assert 'withheld: effscale_compound_b0 scales resolution to 40 px from 8 px images' in text
    b0 = next(line for line in text.splitlines() if line.startswith('| effscale_b0 |'))
    assert '32 px (upsampled from 8 px)' in b0


def test_the_budget_check_trains_the_compound_row_and_its_matched_axes_longer(study):
    for variant in ['effscale_compound_b0', *MATCHED]:
        finals = [json.loads(p.read_text()) for p in sorted(study.glob(f'results/budget/digits/{variant}/seed*/'
                                                                       f'final.json'))]
        assert [f['epochs'] for f in finals] == [2, 2]
    assert '## Budget check' in (study / 'reports' / 'table1.md').read_text()


def test_the_sweep_chooses_on_two_seeds_per_rate_and_the_report_shows_the_neighbours(tmp_path):
    dry = snakemake(tmp_path, '-n', config=SWEEP)
    assert job_counts(dry.stdout)['sweep_train'] == 6 and job_counts(dry.stdout)['choose_lr'] == 1
    snakemake(tmp_path, config=SWEEP)
    chosen = json.loads((tmp_path / 'results/sweep/digits/effscale_b0/chosen.json').read_text())
    assert [r['lr'] for r in chosen['rates']] == SWEEP['lr_sweep']['rates'] and chosen['seeds'] == [0, 1]
    assert all(r['n'] == 2 for r in chosen['rates'])
    best = max(chosen['rates'], key=lambda r: (r['mean'], -r['lr']))
    assert chosen['lr'] == best['lr'] and (chosen['edge'] is not None) == (best['lr'] in (0.002, 0.008))
    final = json.loads(Path(tmp_path / 'results/runs/digits/effscale_b0/seed0/final.json').read_text())
    assert final['lr'] == chosen['lr'] and final['lr_source'] == 'lr_sweep'
    text = (tmp_path / 'reports' / 'table1.md').read_text()
    assert '## Learning rates chosen on validation' in text and f'| effscale_b0 | {chosen["lr"]:g} |' in text


def test_a_resnet50_study_compares_compound_with_its_flop_matched_axes(tmp_path):
    """`backbone: resnet50`: every variant is a ResNet-50 (trained, profiled, its CAM at layer4), and the report
    compares the compound model with the ResNet single-axis models FLOP-matched to it, as for EfficientNet."""
    snakemake(tmp_path, config=RESNET)
    for variant in ('tiny_resnet50', 'tiny_resnet50_compound', *MATCHED):
        profile = json.loads((tmp_path / f'results/profile/digits/{variant}.json').read_text())
        assert profile['backbone'] == 'resnet50' and len(profile['stage_repeats']) == 4
        for seed in (0, 1):
            run = json.loads((tmp_path / f'results/runs/digits/{variant}/seed{seed}/final.json').read_text())
            assert run['backbone'] == 'resnet50' and run['status'] == 'ok'
    text = (tmp_path / 'reports' / 'table1.md').read_text()
    rows = [_cells(line) for line in text.splitlines() if re.match(r'\| \d+ \| tiny_resnet50_compound \|', line)]
    assert [r[2].split()[0] for r in rows] == MATCHED
    assert all(re.match(r'[-+]\d+\.\d+ \(4\)', r[5]) for r in rows)  # 8 runs of 4 arms
    assert 'resnet50' in (tmp_path / 'reports' / 'runs.csv').read_text()


def test_the_table3_study_dry_runs_with_both_backbones_flop_matched(tmp_path):
    """config/table3.yaml as a user would start it (solving its six FLOP matches takes a few minutes)."""
    dry = snakemake(tmp_path, '-n', '--configfile', str(ROOT / 'config/table3.yaml'), timeout=1500)
    assert job_counts(dry.stdout) == {'prepare': 1, 'sweep_train': 160, 'choose_lr': 16, 'train': 80, 'profile': 16,
                                      'cam': 16, 'report': 1, 'all': 1}
    for backbone in ('mobilenetv2_100', 'resnet50'):
        for axis in ('depth', 'width', 'resolution'):
            assert f'effscale_{backbone}_compound_{axis}_matched/seed4/final.json' in dry.stdout
