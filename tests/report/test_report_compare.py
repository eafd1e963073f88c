"""The report's comparisons (effscale_timm.report.compare through effscale_timm.decision): every compound row against
every single-axis row at its compute, with the pooled seed variance computed by hand; words from the four of the
rule; unmatched rows described only; verdicts resting on upsampled pixels withheld; the budget check."""
import math
import re

import numpy as np
import pytest
from scipy import stats

from effscale_timm.decision import mde
from effscale_timm.report.stage import build_report
from report_study import report  # noqa: F401 - the module-scoped study fixture
from report_study import EXPECTED, N_IMAGES, STUDY, TOP1, _build, _row_line, _study, _write_profile, _write_run

# The study's pooled seed variance by hand: within-arm sums of squares 8 + 2 + 2 + 0.5 + 2 over 13 runs of 5 arms.
POOLED_DF = 13 - 5
POOLED_SD = math.sqrt(14.5 / POOLED_DF)


def test_exact_statistics(report):
    out, _ = report
    rows = {r['variant']: r for r in out['rows']}
    assert [r['variant'] for r in out['rows']] == list(STUDY)  # config (profile) order
    assert rows['effscale_b0']['mean'] == 82.0 and rows['effscale_b0']['std'] == 2.0
    assert rows['effscale_depth_b0']['mean'] == 84.0 and rows['effscale_depth_b0']['std'] == pytest.approx(math.sqrt(2))
    assert (rows['effscale_depth_b0']['n_ok'], rows['effscale_depth_b0']['n_failed']) == (2, 1)
    assert (rows['effscale_resolution_b0']['n_ok'], rows['effscale_resolution_b0']['n_missing']) == (2, 1)
    assert rows['effscale_depth_b0']['top1'] == [83.0, 85.0]  # the failed run is never used
    assert rows['effscale_depth_b0']['val_mean'] == 85.0 and rows['effscale_b0']['train_top1_mean'] == 88.0


def test_every_matched_axis_is_tested_with_the_pooled_variance(report):
    out, md = report
    c, = out['comparisons']
    d = c['decision']
    assert (d.pooled.df, d.pooled.n_runs, d.pooled.n_arms) == (POOLED_DF, 13, 5)
    assert d.pooled.sd == pytest.approx(POOLED_SD, rel=1e-12)
    # depth and width measure 1.8 GMACs like the compound model; resolution 1.9 (5.6% off) is not matched
    assert [r['variant'] for r in c['matched']] == ['effscale_depth_b0', 'effscale_width_b0']
    assert [r['variant'] for r, _ in c['unmatched']] == ['effscale_resolution_b0']
    for test, (delta, factor) in zip(d.tests, [(3.0, 1 / 3 + 1 / 2), (5.0, 2 / 3)]):
        se = POOLED_SD * math.sqrt(factor)
        assert test.contrast.estimate == pytest.approx(delta) and test.se == pytest.approx(se, rel=1e-12)
        assert test.p_better == pytest.approx(stats.t.sf(delta / se, POOLED_DF), rel=1e-9)
        half = stats.t.ppf(0.975, POOLED_DF) * se
        assert (test.low, test.high) == pytest.approx((delta - half, delta + half), rel=1e-12)
    # one compound row: the two directions split 5% (2.5% each); both one-sided p are below: "better"
    assert d.alpha_side == 0.025 and d.word == 'better' and d.text == 'better'
    assert '**better** against the matched axes effscale_depth_b0 (Δ +3.00' in out['verdict']
    assert 'df = runs − arms = 8' in out['verdict'] and 'intersection–union' in out['verdict']
    line = next(line for line in md.splitlines() if line.startswith('| 1 | effscale_compound_b0 |'))
    assert '| effscale_depth_b0 (85.00) |' in line and f'| +{3:.2f} [' in line and '| better |' in line


def test_an_unmatched_row_is_described_never_judged(report):
    out, _ = report
    text = out['verdict']
    assert 'Described only (compute not matched, so no verdict words and no test): effscale_resolution_b0 at 1.06×' \
        in text
    assert 'Not compared (no row at its compute): resolution.' in text


def test_a_compound_row_without_a_matched_axis_gets_no_words_and_leaves_the_family(tmp_path):
    """B1 at 0.7 GMACs has no single-axis row at its compute: described only; the compound row keeps the whole 5%."""
    top1 = dict(TOP1, effscale_b1=[75.0, 75.5, 76.0])
    out = _build(tmp_path, top1=top1)
    by_name = {c['compound']['variant']: c for c in out['comparisons']}
    assert by_name['effscale_b1']['decision'] is None and 'described only' in by_name['effscale_b1']['reason']
    assert by_name['effscale_compound_b0']['decision'].alpha_side == 0.025  # a family of one
    line = next(line for line in out['verdict'].splitlines() if line.startswith('- **effscale_b1**'))
    assert 'better' not in line and 'worse' not in line and 'equivalent' not in line and 'inconclusive' not in line


def test_worse_needs_one_matched_axis_to_win_after_holm(tmp_path):
    top1 = dict(TOP1, effscale_compound_b0=[80.0, 80.5, 81.0], effscale_width_b0=[81.0, 81.5, 82.0])
    d = _build(tmp_path, top1=top1)['comparisons'][0]['decision']
    holm = sorted(t.p_worse for t in d.tests)
    assert d.word == 'worse' and min(t.p_worse_holm for t in d.tests) == pytest.approx(2 * holm[0])


def test_equivalent_within_the_margin_and_inconclusive_with_the_rules_mde(tmp_path):
    top1 = {v: [84.0, 84.1, 84.2] for v in STUDY}
    same = _build(tmp_path / 'same', top1=top1, margin=0.5)['comparisons'][0]['decision']
    assert same.word == 'equivalent' and same.text == 'equivalent within ±0.5'
    narrow = _build(tmp_path / 'narrow', top1=top1, margin=0.05)['comparisons'][0]['decision']
    assert narrow.word == 'inconclusive' and narrow.text == f'inconclusive (MDE {narrow.mde:.2f})'
    assert narrow.mde == mde([t.contrast for t in narrow.tests], narrow.pooled, narrow.alpha_side)


def test_one_seed_per_arm_gives_no_test_and_no_nan(tmp_path):
    top1 = {v: values[:1] for v, values in TOP1.items()}
    out = _build(tmp_path, top1=top1)
    c, = out['comparisons']
    assert c['decision'] is None and 'pooled df 0' in c['reason']
    assert not re.search(r'\bnan\b', out['table_md'].read_text(), re.I)


def test_an_upsampled_resolution_verdict_is_withheld_and_says_why(tmp_path):
    """The compound model's 40 px input comes from 28 px images: its words are computed but withheld."""
    out = _build(tmp_path, native_size=28)
    c, = out['comparisons']
    assert c['decision'].word == 'better' and c['withheld'].startswith('withheld: effscale_compound_b0 scales '
                                                                       'resolution to 40 px from 28 px images')
    assert '**Verdict withheld:' in out['verdict'] and 'interpolated' in out['verdict']
    md = out['table_md'].read_text()
    assert '40 px (upsampled from 28 px)' in _row_line(md, 'effscale_compound_b0')
    assert 'better; withheld (upsampled)' in md
    native = _build(tmp_path / 'native', native_size=64)
    assert native['comparisons'][0]['withheld'] is None
    assert '40 px (images 64 px)' in _row_line(native['table_md'].read_text(), 'effscale_compound_b0')


def test_the_budget_check_labels_a_verdict_that_moves(tmp_path):
    runs, profiles = _study(tmp_path)
    budget = [_write_run(tmp_path / 'budget', v, s, t, native_size=None) for v, values in
              {'effscale_compound_b0': [84.0, 84.5, 85.0], 'effscale_depth_b0': [86.0, 86.5, 87.0],
               'effscale_width_b0': [83.0, 83.5, 84.0]}.items() for s, t in enumerate(values)]
    out = build_report(runs, profiles, [], tmp_path / 'reports', budget_jsons=budget, budget_factor=2)
    b = out['comparisons'][0]['budget']
    depth, width = b['pairs']
    assert depth['delta'] == pytest.approx(3.0) and depth['delta_longer'] == pytest.approx(-2.0) and depth['moved']
    assert width['delta_longer'] == pytest.approx(1.0) and width['moved'] == (abs(1.0 - 5.0) > b['mde'])
    assert b['label'] == 'budget-dependent' and 'better; budget-dependent' in out['table_md'].read_text()
    assert '## Budget check' in out['table_md'].read_text()


def test_the_noise_sentence_says_what_it_counts(report):
    out, md = report
    assert 'count the spread between training runs (seeds) on this test set of 400 images' in md
    assert 'do not count the sampling noise of the test set itself' in md
    # the per-image test-set standard error of compound - depth, from the predictions written by the fixture
    assert re.search(r'at most about \d+\.\d\d \(effscale_compound_b0 − effscale_depth_b0\)', md)


def test_a_run_whose_own_files_are_damaged_counts_as_failed_and_the_report_goes_on(tmp_path):
    runs, profiles = _study(tmp_path)
    folder = tmp_path / 'runs' / 'digits' / 'effscale_compound_b0'
    (folder / 'seed1' / 'test_predictions.npz').unlink()
    metrics = folder / 'seed2' / 'metrics.csv'
    metrics.write_bytes(metrics.read_bytes()[:-7])  # cut short
    out = build_report(runs, profiles, [], tmp_path / 'reports')
    compound = next(r for r in out['rows'] if r['variant'] == 'effscale_compound_b0')
    assert (compound['n_ok'], compound['n_failed']) == (1, 2)
    errors = dict(compound['failures'])
    assert 'no such predictions file' in errors[1] and str(folder / 'seed1' / 'test_predictions.npz') in errors[1]
    assert 'cut short' in errors[2] and str(metrics) in errors[2]
    md = out['table_md'].read_text()
    assert f'effscale_compound_b0 seed 2: its files are damaged: {metrics}' in md
    assert '1 ok, 2 failed, 0 missing' in _row_line(md, 'effscale_compound_b0')


def test_no_verdict_without_compound_runs(tmp_path):
    top1 = {v: t for v, t in TOP1.items() if v != 'effscale_compound_b0'}
    runs, profiles = _study(tmp_path, top1)
    profiles.append(_write_profile(tmp_path, 'effscale_compound_b0'))
    out = build_report(runs, profiles, [], tmp_path / 'out', EXPECTED)
    assert out['verdict'].startswith('No verdict: no compound variant has a usable run')
    assert '— (n=0)' in _row_line(out['table_md'].read_text(), 'effscale_compound_b0')
    assert '0 ok, 0 failed, 3 missing' in _row_line(out['table_md'].read_text(), 'effscale_compound_b0')


def test_the_per_row_interval_uses_the_pooled_variance(report):
    _, md = report
    half = stats.t.ppf(0.975, POOLED_DF) * POOLED_SD / math.sqrt(3)
    assert f'87.00 [{87 - half:.2f}, {87 + half:.2f}] (n=3)' in _row_line(md, 'effscale_compound_b0')
    assert N_IMAGES == 400 and np.isfinite(half)
