"""The design-space study through the real `snakemake` CLI on real data (scikit-learn digits, config/
design_space_tiny.yaml): the sampling checkpoint on measured MACs, one training per sample by the train rule,
reports/design_space.md with the EDF comparison and the share regression with their intervals, the figure, and the
words "no conclusion" because the 1-epoch runs sit at chance level. A dry run of the GPU config, and a bad regime
refused in one line, are here too."""
import json

import pytest
import yaml

from conftest import ROOT, job_counts, snakemake

pytestmark = pytest.mark.slow  # starts processes or runs Snakemake: `make test`, not `make test-fast`

TINY = yaml.safe_load((ROOT / 'config/design_space_tiny.yaml').read_text())


@pytest.fixture(scope='module')
def design_study(tmp_path_factory):
    workdir = tmp_path_factory.mktemp('design')
    out = snakemake(workdir, config=TINY)
    return workdir, out


def test_samples_are_measured_distinct_and_a_third_corners(design_study):
    workdir = design_study[0]
    samples = json.loads((workdir / 'results/design_space/digits/samples.json').read_text())
    members = samples['members']
    assert len(members) == 10 and samples['regime'] == 2.0 and samples['base_resolution'] == 48
    assert all(abs(m['ratio'] / 2 - 1) <= 0.05 for m in members.values())
    assert sum(m['group'] == 'corner' for m in members.values()) == 3
    assert samples['draws'] == 10 + sum(samples['rejected'].values())
    for name in members:  # one training each, with the design's seed and epochs, the loss recorded
        record = json.loads((workdir / f'results/design_space/digits/runs/{name}/seed0/final.json').read_text())
        assert record['status'] == 'ok' and record['epochs'] == 1 and record['final_val_loss'] > 0
        assert record['depth'] == pytest.approx(members[name]['depth'])


def test_report_gives_the_edf_comparison_the_regression_and_no_conclusion(design_study):
    workdir = design_study[0]
    text = (workdir / 'reports/design_space.md').read_text()
    assert '**Answer.** No conclusion: runs near chance level' in text and 'fixed subset of 128 images' in text
    assert 'Groups: 7 interior, 3 corners.' in text
    assert '| Δ mean error, interior − corners (points) |' in text and 'percentile bootstrap, 4,000' in text
    for term in ('depth', 'width', 'resolution', 'depth×width', 'depth×resolution', 'width×resolution'):
        assert f'| {term} | ' in text
    assert '| pure resolution |' in text and 't intervals at n − 6 degrees of freedom (n = 10' in text
    assert 'draws:' in text and 'rejected because rounding' in text
    png = (workdir / 'reports/design_space.png').read_bytes()
    assert png.startswith(b'\x89PNG') and len(png) > 5000


def test_a_second_run_does_nothing(design_study):
    out = snakemake(design_study[0], config=TINY)
    assert 'Nothing to be done' in out.stdout + out.stderr


def test_a_regime_at_b0_is_one_line_naming_the_key(tmp_path):
    config = dict(TINY, design_space=dict(TINY['design_space'], regime=1.0))
    out = snakemake(tmp_path, config=config, check=False)
    assert out.returncode != 0 and 'config error: design_space.regime: must be a number above 1' in out.stderr
    assert not (tmp_path / 'results').exists()


def test_real_design_space_config_dry_run(tmp_path):
    out = snakemake(tmp_path, '-n', '--configfile', str(ROOT / 'config/design_space.yaml'))
    # before the sampling checkpoint: prepare, the sampling, the report (its 50 trainings join once sampled)
    assert job_counts(out.stdout) == {'prepare': 1, 'design_sample': 1, 'design_report': 1, 'all': 1}


def test_a_resnet50_design_space_samples_and_trains_resnet50(tmp_path):
    """`backbone: resnet50`: the sampling step runs for real (fvcore on ResNet-50 at the base), its regime is
    ResNet-50's own MACs, and every sample's training is asked to build ResNet-50."""
    config = dict(TINY, backbone='resnet50')
    snakemake(tmp_path, 'results/design_space/digits/samples.json', config=config)
    samples = json.loads((tmp_path / 'results/design_space/digits/samples.json').read_text())
    assert samples['backbone'] == 'resnet50' and len(samples['members']) == 10
    assert all(m['backbone'] == 'resnet50' and abs(m['ratio'] / 2 - 1) <= 0.05 for m in samples['members'].values())
    out = snakemake(tmp_path, '-n', '-p', config=config)
    trains = [line for line in out.stdout.splitlines() if 'effscale train' in line]
    assert len(trains) == 10 and all('--backbone resnet50' in line for line in trains)
