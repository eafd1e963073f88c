"""The report's comparisons (effscale_timm.report.compare): the comparator chosen on validation, intervals and
Holm-adjusted p-values equal to effscale_timm.stats on the same data, and the verdict's words."""
import math
import re

import numpy as np
import pytest

from effscale_timm.report.stage import build_report
from effscale_timm.stats import binomial_interval, holm, minimum_detectable_effect, paired_bootstrap, welch_interval
from report_study import report  # noqa: F401 - the module-scoped study fixture
from report_study import EXPECTED, LABELS, STUDY, TOP1, _build, _row_line, _study, _write_profile


def _loaded(tmp_root, variant, seeds):
    return np.stack([np.load(tmp_root / 'runs' / 'digits' / variant / f'seed{s}' / 'test_predictions.npz')['pred']
                     == LABELS for s in seeds])


def test_exact_statistics(report):
    out, _ = report
    rows = {r['variant']: r for r in out['rows']}
    assert [r['variant'] for r in out['rows']] == list(STUDY)  # config (profile) order
    assert rows['effscale_b0']['mean'] == 82.0 and rows['effscale_b0']['std'] == 2.0
    assert rows['effscale_depth_b0']['mean'] == 84.0 and rows['effscale_depth_b0']['std'] == pytest.approx(math.sqrt(2))
    assert rows['effscale_resolution_b0']['std'] == pytest.approx(math.sqrt(0.5))
    assert (rows['effscale_depth_b0']['n_ok'], rows['effscale_depth_b0']['n_failed']) == (2, 1)
    assert (rows['effscale_resolution_b0']['n_ok'], rows['effscale_resolution_b0']['n_missing']) == (2, 1)
    assert rows['effscale_depth_b0']['top1'] == [83.0, 85.0]  # the failed run is never used
    assert rows['effscale_depth_b0']['val_mean'] == 85.0 and rows['effscale_b0']['train_top1_mean'] == 88.0
    assert rows['effscale_resolution_b0']['train_loss_mean'] == 0.25 and rows['effscale_resolution_b0']['val_mean'] == 84.5


def test_statistics_in_the_report_are_stats_on_the_same_data(tmp_path):
    out = _build(tmp_path)
    c, = out['comparisons']
    assert c['comparator']['variant'] == 'effscale_depth_b0'  # highest validation top-1 (85.0) at matched compute
    assert c['delta'] == 3.0 and c['matched'] and c['compute_ratio'] == 1.0
    assert c['welch'] == welch_interval(TOP1['effscale_compound_b0'], [83.0, 85.0])
    assert c['p_holm'] == c['welch'].p  # one comparison: Holm leaves p alone
    assert c['mde'] == minimum_detectable_effect(1.0, math.sqrt(2), 3, 2)
    boot = paired_bootstrap(_loaded(tmp_path, 'effscale_compound_b0', [0, 1, 2]),
                            _loaded(tmp_path, 'effscale_depth_b0', [0, 1]), n_resamples=500, seed=0)
    assert c['bootstrap'] == boot and boot.delta == pytest.approx(3.0)
    assert c['decision'] == 'no difference' and c['words'] == f'no detectable difference (MDE {c["mde"]:.2f} points)'
    text, md = out['verdict'], out['table_md'].read_text()
    assert f'Welch 95% CI [{c["welch"].low:+.2f}, {c["welch"].high:+.2f}] (df {c["welch"].df:.1f})' in text
    assert f'Paired bootstrap 95% CI [{boot.low:+.2f}, {boot.high:+.2f}] over 400 test images and 3 + 2 seeds' in text
    assert 'Δ test top-1 = +3.00 points (87.00%, n=3 vs 84.00%, n=2)' in text
    assert 'Compute is matched within ±5%' in text and 'ratio 1.000' in text
    assert 'effscale_depth_b0 1 failed, 0 missing' in text and text in md
    assert 'never on test' in text and 'Holm-adjusted' in text
    ci = binomial_interval(round(0.82 * 400), 400)
    assert (f'Test-set sampling noise: 400 test images; one run at 82.00% (effscale_b0\'s mean) has a 95% '
            f'Clopper–Pearson interval [{ci.low:.2f}, {ci.high:.2f}]') in md
    table = next(line for line in md.splitlines() if line.startswith('| 1 | effscale_compound_b0 |'))
    assert f'| {c["p_holm"]:.3g} |' in table and '| +3.00 |' in table


def test_comparator_is_chosen_on_validation_never_on_test(tmp_path):
    """Depth has the best test top-1 (84.00) but width the best validation top-1: width is the comparator."""
    val = {'effscale_width_b0': [90.0, 90.0, 90.0]}
    c, = _build(tmp_path, val=val)['comparisons']
    assert c['comparator']['variant'] == 'effscale_width_b0' and c['delta'] == 5.0
    assert c['chosen'].startswith('highest validation top-1')


def test_verdict_words_follow_from_the_interval_with_holm_across_comparisons(tmp_path):
    """Two compound rows: one clearly better, one clearly worse than the depth model; p Holm-adjusted over both."""
    top1 = dict(TOP1, effscale_depth_b0=[83.0, 84.0, 85.0], effscale_compound_b0=[90.0, 90.5, 91.0],
                effscale_b1=[75.0, 75.5, 76.0])
    out = _build(tmp_path, top1=top1, gmacs={'effscale_b1': 1.8})
    better, worse = out['comparisons']
    assert (better['compound']['variant'], worse['compound']['variant']) == ('effscale_compound_b0', 'effscale_b1')
    assert [better['p_holm'], worse['p_holm']] == holm([better['welch'].p, worse['welch'].p])
    assert better['welch'].low > 0 and better['bootstrap'].low > 0 and better['words'] == 'compound better'
    assert worse['welch'].high < 0 and worse['bootstrap'].high < 0 and worse['words'] == 'compound worse'
    assert '**compound better**' in out['verdict'] and '**compound worse**' in out['verdict']


def test_interval_excluding_zero_is_not_enough_after_holm(tmp_path):
    """A raw Welch p just under 0.05 is not significant once Holm doubles it for two comparisons."""
    top1 = dict(TOP1, effscale_depth_b0=[83.0, 84.0, 85.0], effscale_compound_b0=[85.5, 86.5, 87.5],
                effscale_b1=[84.0, 85.0, 86.0])
    out = _build(tmp_path, top1=top1, gmacs={'effscale_b1': 1.8})
    first = out['comparisons'][0]
    assert first['welch'].low > 0 and first['welch'].p < 0.05 <= first['p_holm']
    assert first['words'].startswith('no detectable difference (MDE') and 'Holm-adjusted p' in first['words']


def test_one_seed_gives_no_conclusion_and_no_nan(tmp_path):
    top1 = {v: values[:1] for v, values in TOP1.items()}
    out = _build(tmp_path, top1=top1)
    c, = out['comparisons']
    assert c['welch'] is None and c['mde'] is None and c['p_holm'] is None and c['bootstrap'] is not None
    assert c['words'] == 'no conclusion: one seed (effscale_compound_b0 n=1, effscale_depth_b0 n=1)'
    md = out['table_md'].read_text()
    assert not re.search(r'\bnan\b', md, re.I) and 'no conclusion: one seed' in out['verdict']


def test_missing_predictions_are_said_and_skipped(tmp_path):
    runs, profiles = _study(tmp_path)
    seed_dir = tmp_path / 'runs' / 'digits'
    (seed_dir / 'effscale_compound_b0' / 'seed1' / 'test_predictions.npz').unlink()
    out = build_report(runs, profiles, [], tmp_path / 'reports', n_resamples=200)
    c, = out['comparisons']
    assert c['bootstrap'].n_a == 2
    assert 'left out: effscale_compound_b0 seed 1: no test_predictions.npz' in out['verdict']
    for seed in (0, 1):
        (seed_dir / 'effscale_depth_b0' / f'seed{seed}' / 'test_predictions.npz').unlink()
    out = build_report(runs, profiles, [], tmp_path / 'reports', n_resamples=200)
    c, = out['comparisons']
    assert c['bootstrap'] is None and c['welch'] is not None
    assert 'paired bootstrap skipped: no per-image test predictions for one side' in out['verdict']


def test_verdict_with_unmatched_compute(tmp_path):
    out = _build(tmp_path, gmacs={'effscale_compound_b0': 0.9})
    c, = out['comparisons']
    assert not c['matched'] and c['comparator']['variant'] == 'effscale_depth_b0'  # no row at its compute: all
    assert 'compute is not matched' in out['verdict'] and '0.50×' in out['verdict']


def test_no_verdict_without_compound_runs(tmp_path):
    top1 = {v: t for v, t in TOP1.items() if v != 'effscale_compound_b0'}
    runs, profiles = _study(tmp_path, top1)
    profiles.append(_write_profile(tmp_path, 'effscale_compound_b0'))
    out = build_report(runs, profiles, [], tmp_path / 'out', EXPECTED)
    assert out['verdict'].startswith('No verdict: no compound variant has a finished run')
    assert '— (n=0)' in _row_line(out['table_md'].read_text(), 'effscale_compound_b0')
    assert '0 ok, 0 failed, 3 missing' in _row_line(out['table_md'].read_text(), 'effscale_compound_b0')


def test_verdict_prefers_the_single_axis_row_at_matched_compute(tmp_path):
    """With a FLOP-matched single-axis variant, the compound row is judged against it, not a cheaper row that is
    better on validation."""
    top1 = dict(TOP1, effscale_width_b0=[90.0, 91.0, 92.0], effscale_width_matched=[84.0, 85.0, 86.0])
    out = _build(tmp_path, top1=top1, gmacs={'effscale_width_b0': 0.9})
    c, = out['comparisons']
    # compound 87.00 vs the matched models: depth (val 85.0) and width_matched (val 86.0), not the unmatched width
    assert c['comparator']['variant'] == 'effscale_width_matched' and c['delta'] == 2.0 and c['matched']
    line = next(s for s in out['verdict'].splitlines() if s.startswith('- **effscale_compound_b0**'))
    assert 'vs **effscale_width_matched** (highest validation top-1 among single-axis rows at its compute' in line
    assert 'Compute is matched' in line
