"""The report: exact statistics, failed and missing runs, geometry, convergence, the comparator chosen on
validation, intervals and Holm-adjusted p-values equal to effscale_timm.stats on the same data, references beside the
variant with their multipliers, the verdict's words, the figures."""
import argparse
import json
import math
import re

import numpy as np
import pytest

from effscale_timm.models import VARIANTS
from effscale_timm.report import (add_arguments, attach_references, build_report, convergence, load_runs,
                                  parse_expected, run_cli, scaling_axis, summarize)
from effscale_timm.report_figure import _error_bars, _series
from effscale_timm.stats import binomial_interval, holm, minimum_detectable_effect, paired_bootstrap, welch_interval

PNG = b'\x89PNG\r\n\x1a\n'
N_IMAGES = 400  # test images per run: any top-1 that is a multiple of 0.25 is exact
LABELS = np.arange(N_IMAGES) % 10
B0_MAPS = [[16, 16], [8, 8], [4, 4], [2, 2], [2, 2], [1, 1], [1, 1]]
# variant -> (depth, width, resolution, input px, params, stage repeats, head channels, stage maps): as built at 32 px
VARIANTS_AT_32 = {
    'effscale_b0': (1.0, 1.0, 1.0, 32, 4_020_000, [1, 2, 2, 3, 3, 4, 1], 1280, B0_MAPS),
    'effscale_depth_b0': (4.0, 1.0, 1.0, 32, 16_000_000, [4, 8, 8, 12, 12, 16, 4], 1280, B0_MAPS),
    'effscale_width_b0': (1.0, 2.0, 1.0, 32, 14_000_000, [1, 2, 2, 3, 3, 4, 1], 2560, B0_MAPS),
    'effscale_resolution_b0': (1.0, 1.0, 2.0, 64, 4_020_000, [1, 2, 2, 3, 3, 4, 1], 1280,
                               [[32, 32], [16, 16], [8, 8], [4, 4], [4, 4], [2, 2], [2, 2]]),
    'effscale_compound_b0': (1.4, 1.2, 1.3, 40, 7_000_000, [2, 3, 3, 5, 5, 6, 2], 1536,
                             [[20, 20], [10, 10], [5, 5], [3, 3], [3, 3], [2, 2], [2, 2]]),
    'effscale_b1': (1.1, 1.0, 240 / 224, 36, 6_500_000, [2, 3, 3, 4, 4, 5, 2], 1280,
                    [[18, 18], [9, 9], [5, 5], [3, 3], [3, 3], [2, 2], [2, 2]]),
    'effscale_width_matched': (1.0, 2.6, 1.0, 32, 20_000_000, [1, 2, 2, 3, 3, 4, 1], 3328, B0_MAPS),
}
STUDY = ('effscale_b0', 'effscale_depth_b0', 'effscale_width_b0', 'effscale_resolution_b0', 'effscale_compound_b0')
GMACS = {'effscale_b0': 0.4, 'effscale_depth_b0': 1.8, 'effscale_width_b0': 1.8, 'effscale_resolution_b0': 1.9,
         'effscale_compound_b0': 1.8, 'effscale_b1': 0.7, 'effscale_width_matched': 1.83}
# Seeds' test top-1 (None = failed run); seed 2 of the resolution model has no final.json at all (missing).
TOP1 = {
    'effscale_b0': [80.0, 82.0, 84.0],            # mean 82.00, std 2.00
    'effscale_depth_b0': [83.0, 85.0, None],      # mean 84.00, std 1.41; one failed
    'effscale_width_b0': [81.0, 82.0, 83.0],      # mean 82.00, std 1.00
    'effscale_resolution_b0': [83.0, 84.0],       # mean 83.50, std 0.71; seed 2 missing
    'effscale_compound_b0': [86.0, 87.0, 88.0],   # mean 87.00, std 1.00
}
EXPECTED = [(v, s) for v in STUDY for s in range(3)]
RISING = {('effscale_compound_b0', 0)}  # validation top-1 still rising at the end: not converged
SHORT = {'effscale_width_b0'}  # 3 epochs: too short to judge
NO_FINAL_TRAINING_FIELDS = {'effscale_resolution_b0'}  # final.json without final_*: read from metrics.csv


def _val_curve(final_val, rising):
    if rising:
        return [final_val - 10, final_val - 8, final_val - 6, final_val - 4, final_val - 2, final_val]
    return [final_val - 10, final_val - 3, final_val, final_val - 0.2, final_val - 0.1, final_val]


def _write_metrics(path, val, rising, epochs):
    curve = _val_curve(val, rising)[-epochs:]
    lines = ['epoch,train_loss,train_top1,val_loss,val_top1,lr,img_per_s,peak_mem_gib,micro_batch,epoch_s']
    for i, v in enumerate(curve, 1):
        lines.append(f'{i},{0.5 / i:.5f},{v + 5:.3f},{1.0 / i:.5f},{v:.3f},0.001,1000.0,0.1,64,1.0')
    path.write_text('\n'.join(lines) + '\n')


def _write_predictions(path, top1, key):
    correct = np.zeros(N_IMAGES, bool)
    hits = int(round(top1 / 100 * N_IMAGES))
    correct[np.random.default_rng(key).permutation(N_IMAGES)[:hits]] = True
    np.savez(path, pred=np.where(correct, LABELS, (LABELS + 1) % 10).astype(np.int64), label=LABELS.astype(np.int64))


def _write_run(root, variant, seed, top1, dataset='digits', val=None):
    d, w, r, px, params, *_ = VARIANTS_AT_32[variant]
    folder = root / 'runs' / dataset / variant / f'seed{seed}'
    folder.mkdir(parents=True, exist_ok=True)
    failed = top1 is None
    val = (top1 + 1 if not failed else 50.0) if val is None else val
    result = {'variant': variant, 'seed': seed, 'dataset': dataset, 'status': 'failed' if failed else 'ok',
              'error': 'CUDA out of memory' if failed else None, 'test_top1': None if failed else top1,
              'best_val_top1': val, 'epochs': 6, 'wall_time_s': 1800.0, 'hardware': 'test CPU', 'depth': d,
              'width': w, 'resolution': r, 'input_size': px, 'params': params}
    if not failed:
        result['test_samples'] = N_IMAGES
        if variant not in NO_FINAL_TRAINING_FIELDS:
            result.update(final_train_loss=0.25, final_train_top1=val + 5, final_val_top1=val)
        _write_predictions(folder / 'test_predictions.npz', top1, [seed, sorted(VARIANTS_AT_32).index(variant)])
    _write_metrics(folder / 'metrics.csv', val, (variant, seed) in RISING, 3 if variant in SHORT else 6)
    (folder / 'final.json').write_text(json.dumps(result))
    return folder / 'final.json'


def _write_profile(root, variant, gmacs=None):
    d, w, r, px, params, repeats, head, maps = VARIANTS_AT_32[variant]
    gmacs = GMACS[variant] if gmacs is None else gmacs
    path = root / 'profiles' / f'{variant}.json'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        'variant': variant, 'depth': d, 'width': w, 'resolution': r, 'input_size': px, 'params': params,
        'gmacs': gmacs, 'gmacs_total': gmacs * 1.03, 'gflops': 2 * gmacs, 'base_resolution': 32,
        'px_over_base': px / 32, 'stage_repeats': repeats, 'stage_channels': [16, 24, 40, 80, 112, 192, 320],
        'stage_feature_maps': maps, 'final_feature_map': maps[-1], 'head_channels': head}))
    return path


def _study(root, top1=TOP1, gmacs=None, val=None):
    """Run and profile files in config order; returns (run paths, profile paths). ``val``: variant -> per-seed
    validation top-1 (default test top-1 + 1)."""
    val = val or {}
    runs = [_write_run(root, v, s, t, val=val[v][s] if v in val else None)
            for v, values in top1.items() for s, t in enumerate(values)]
    profiles = [_write_profile(root, v, (gmacs or {}).get(v)) for v in top1]
    return runs, profiles


def _build(root, top1=TOP1, gmacs=None, val=None, expected=None):
    runs, profiles = _study(root, top1, gmacs, val)
    return build_report(runs, profiles, [], root / 'reports', expected, n_resamples=500)


def _row_line(md, variant):
    return next(line for line in md.splitlines() if line.startswith(f'| {variant} |'))


def _cells(md, variant):
    return [c.strip() for c in _row_line(md, variant).strip('|').split('|')]


@pytest.fixture(scope='module')
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp('study')
    out = _build(root, expected=EXPECTED)
    return out, out['table_md'].read_text()


def test_scaling_axis():
    assert scaling_axis(1, 1, 1) == 'baseline'
    assert [scaling_axis(4, 1, 1), scaling_axis(1, 2, 1), scaling_axis(1, 1, 2)] == ['depth', 'width', 'resolution']
    assert scaling_axis(1.4, 1.2, 1.3) == 'compound' and scaling_axis(1.1, 1.0, 240 / 224) == 'compound'


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
    # no final_* in final.json: the last epoch of metrics.csv (train loss 0.5 / 6, validation top-1 as written)
    assert rows['effscale_resolution_b0']['train_loss_mean'] == pytest.approx(0.08333)
    assert rows['effscale_resolution_b0']['val_mean'] == 84.5


def test_table_rows_units_geometry_and_convergence(report):
    _, md = report
    header = next(line for line in md.splitlines() if line.startswith('| variant |'))
    for column in ('px (px/base)', 'stage repeats', 'head channels', 'final map', 'GMACs (×B0)', 'final train loss',
                   'train top-1 %', 'val top-1 %', 'test top-1 % (mean ± std, n)', 'converged'):
        assert column in header, column
    b0 = _row_line(md, 'effscale_b0')
    assert '82.00 ± 2.00 (n=3)' in b0 and '3 ok, 0 failed, 0 missing' in b0 and '| baseline |' in b0
    assert '| 32 (1.000) |' in b0 and '| 1,2,2,3,3,4,1 = 16 (1.00×) |' in b0 and '| 1280 (1.00×) |' in b0
    assert '| 1×1 |' in b0 and '| 0.4000 (1.00×) |' in b0 and '| 0.250 | 88.00 | 83.00 |' in b0 and '| yes |' in b0
    depth = _row_line(md, 'effscale_depth_b0')
    assert '84.00 ± 1.41 (n=2)' in depth and '2 ok, 1 failed, 0 missing' in depth
    assert '| 4,8,8,12,12,16,4 = 64 (4.00×) |' in depth and '| 1.8000 (4.50×) |' in depth
    assert '| 2560 (2.00×) |' in _row_line(md, 'effscale_width_b0')
    assert '| too short to judge |' in _row_line(md, 'effscale_width_b0')
    res = _row_line(md, 'effscale_resolution_b0')
    assert '83.50 ± 0.71 (n=2)' in res and '2 ok, 0 failed, 1 missing' in res and '| 64 (2.000) |' in res
    assert '| 2×2 |' in res and '| 0.083 |' in res
    comp = _row_line(md, 'effscale_compound_b0')
    assert '| compound |' in comp and '| no (1/3 runs) |' in comp and '| 40 (1.250) |' in comp
    for unit in ('FLOPs = 2 × MACs', '10⁹ multiply-accumulates', 'ddof=1', 'CIFAR-10', 'ImageNet', 'percent',
                 'last 3 epochs', 'more than 0.5 points', 'fewer than 4 epochs are too short to judge'):
        assert unit in md, unit
    assert 'effscale_depth_b0 seed 2: CUDA out of memory' in md
    assert not re.search(r'\bnan\b', md, re.I)


def test_geometry_warning_below_2x2(report):
    _, md = report
    warnings = [line for line in md.splitlines() if line.startswith('Warning: ') and 'feature map' in line]
    assert {w.split()[1] for w in warnings} == {'effscale_b0', 'effscale_depth_b0', 'effscale_width_b0'}
    b0 = next(w for w in warnings if w.startswith('Warning: effscale_b0 '))
    assert 'at 32 px ends on a 1×1 feature map, below 2×2 (stages 6, 7 of 7)' in b0 and 'acts as a 1×1' in b0


def test_convergence_rule():
    assert convergence([50, 60, 70]) == 'too short'  # fewer than 4 epochs
    assert convergence([50, 70, 70.4, 70.5, 70.2]) == 'converged'  # last 3: 70.5 <= 70 + 0.5
    assert convergence([50, 70, 70.4, 70.6, 70.2]) == 'not converged'  # 70.6 > 70 + 0.5
    assert convergence([50, 60, 70, 80, 90, 95]) == 'not converged'
    assert convergence([80, 60, 61, 62]) == 'converged'  # below an earlier best: no longer rising


def _loaded(tmp_root, variant, seeds):
    return np.stack([np.load(tmp_root / 'runs' / 'digits' / variant / f'seed{s}' / 'test_predictions.npz')['pred']
                     == LABELS for s in seeds])


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


def test_figures_written_with_error_bars_only_where_n_is_2_or_more(tmp_path, report):
    out, md = report
    assert out['figure'].read_bytes()[:8] == PNG and out['figure'].stat().st_size > 10_000
    assert out['cams'] is None and 'Grad-CAM grid skipped' in md
    series = _series(out['rows'])
    assert set(series) == {'depth', 'width', 'resolution', 'compound'}
    assert all(points[0]['variant'] == 'effscale_b0' for points in series.values())
    one = _build(tmp_path, top1=dict(TOP1, effscale_compound_b0=[87.0]))
    points = _series(one['rows'])['compound']
    assert [p['variant'] for p in points] == ['effscale_b0', 'effscale_compound_b0']
    assert _error_bars(points) == ([0.4], [82.0], [2.0])  # the one-seed compound point has no bar


def test_cam_grid_in_report(tmp_path):
    from effscale_timm.cam import save_cam
    runs, profiles = _study(tmp_path)
    rng = np.random.default_rng(0)
    result = {'images': rng.integers(0, 256, (3, 1, 16, 16), dtype=np.uint8), 'labels': np.arange(3),
              'indices': np.arange(3), 'classes': ['a', 'b', 'c'], 'per_class': 1, 'seed': 0,
              'variants': ['effscale_b0'], 'preds': {'effscale_b0': np.array([0, 2, 2])},
              'cams': {'effscale_b0': rng.random((3, 16, 16), dtype=np.float32)},
              'flat': {'effscale_b0': np.zeros(3, bool)}, 'target_layers': {'effscale_b0': 'blocks.2'},
              'feature_sizes': {'effscale_b0': (4, 4)}, 'input_sizes': {'effscale_b0': 32},
              'model_paths': {'effscale_b0': 'model.pt'}}
    cam = save_cam(tmp_path / 'cam.npz', result)
    args = add_arguments(argparse.ArgumentParser()).parse_args(
        ['--runs', *map(str, runs), '--profiles', *map(str, profiles), '--cams', str(cam), '--out-dir',
         str(tmp_path / 'rep'), '--expected', 'effscale_b0:0', 'effscale_b0:5', '--bootstrap-resamples', '100'])
    out = run_cli(args)
    assert out['cams'].read_bytes()[:8] == PNG and out['cams'].stat().st_size > 5_000
    md = out['table_md'].read_text()
    assert '](cams.png)' in md and '3 ok, 0 failed, 1 missing' in _row_line(md, 'effscale_b0')
    assert out['comparisons'][0]['bootstrap'].n_resamples == 100


def test_runs_loading_rules(tmp_path):
    ok = _write_run(tmp_path, 'effscale_b0', 0, 80.0)
    absent = tmp_path / 'runs' / 'digits' / 'effscale_b0' / 'seed7' / 'final.json'
    runs = load_runs([ok, absent], expected_runs=[('effscale_width_b0', 1)])
    assert [(r['variant'], r['seed'], r['status']) for r in runs] == [
        ('effscale_b0', 0, 'ok'), ('effscale_b0', 7, 'missing'), ('effscale_width_b0', 1, 'missing')]
    assert runs[0]['convergence'] == 'converged' and runs[0]['final_val_top1'] == 81.0
    rows = summarize(runs, [])
    assert rows[0]['n_ok'] == 1 and rows[0]['std'] is None and rows[0]['axis'] == 'baseline'
    (ok.parent / 'metrics.csv').unlink()
    assert load_runs([ok])[0]['convergence'] == 'no metrics'
    with pytest.raises(ValueError, match='two run files'):
        load_runs([ok, ok])
    with pytest.raises(ValueError, match='several datasets'):
        load_runs([ok, _write_run(tmp_path, 'effscale_b0', 1, 80.0, dataset='cifar10')])
    assert parse_expected(['effscale_b0:2']) == [('effscale_b0', 2)]
    with pytest.raises(ValueError, match='variant:seed'):
        parse_expected(['effscale_b0'])


def _profiles_b0_to_b7():
    paper_macs = [0.39, 0.70, 1.0, 1.8, 4.2, 9.9, 19, 37]
    return [{'variant': f'effscale_b{i}', 'depth': VARIANTS[f'effscale_b{i}'].depth,
             'width': VARIANTS[f'effscale_b{i}'].width, 'resolution': VARIANTS[f'effscale_b{i}'].resolution,
             'gmacs': macs} for i, macs in enumerate(paper_macs)]


def test_references_sit_only_beside_the_variant_with_their_multipliers():
    """Paper Table 7's compound (1.4, 1.2, 1.3) is none of B1..B7: it sits beside effscale_compound_b0 only; the
    seed study's B1 beside effscale_b1; rows without multipliers (the seed's single-axis models) beside nothing."""
    profiles = _profiles_b0_to_b7() + [
        {'variant': v, 'depth': VARIANTS[v].depth, 'width': VARIANTS[v].width, 'resolution': VARIANTS[v].resolution,
         'gmacs': 1.8} for v in ('effscale_depth_b0', 'effscale_compound_b0')]
    profiles.append({'variant': 'deep2', 'depth': 2.0, 'width': 1.0, 'resolution': 1.0, 'gmacs': 0.8})
    rows = summarize([], profiles)
    unmatched = attach_references(rows)
    by_name = {r['variant']: r['refs'] for r in rows}
    assert by_name['effscale_compound_b0']['table7']['method'] == 'compound (d=1.4, w=1.2, r=1.3)'
    assert by_name['effscale_b3'] == {} and by_name['deep2'] == {}
    assert set(by_name['effscale_b1']) == {'seed_table1'}
    assert by_name['effscale_b1']['seed_table1']['method'] == 'compound B1'
    assert set(by_name['effscale_b0']) == {'table7', 'seed_table1'}
    assert by_name['effscale_depth_b0'] == {'table7': by_name['effscale_depth_b0']['table7']}  # seed's: no d given
    assert {(t, ref['method']) for t, ref in unmatched} == {
        ('seed_table1', 'depth only'), ('seed_table1', 'width only'), ('seed_table1', 'resolution only'),
        ('table7', 'width only (w=2)'), ('table7', 'resolution only (r=2)')}
    without_b1 = summarize([], [p for p in profiles if p['variant'] != 'effscale_b1'])
    assert ('seed_table1', 'compound B1') in {(t, r['method']) for t, r in attach_references(without_b1)}


def test_reference_compute_as_ratios_and_the_seed_studys_mismatch_in_words(tmp_path):
    top1 = dict(TOP1, effscale_b1=[85.0, 86.0])
    out = _build(tmp_path, top1=top1)
    md = out['table_md'].read_text()
    b1 = _row_line(md, 'effscale_b1')
    assert '| 0.7000 (1.75×) |' in b1 and '| 2.22× / 85.21 (compound B1) |' in b1  # ours beside theirs
    assert '| 4.50× / 79 (depth only (d=4)) |' in _row_line(md, 'effscale_depth_b0')
    assert '| 1.00× / 89.45 (baseline B0) | 1.00× / 77.3 (baseline B0) |' in _row_line(md, 'effscale_b0')
    assert ('seed study Table 1 (CIFAR-10): its compound model (compound B1) is at 2.22× its own B0\'s compute, its '
            'single-axis models at 3.68–4.09×; its compound model is not paper Table 7\'s') in md
    assert 'Compute is not matched, so its Δ = -3.59 points' in md and 'is not a finding about compound scaling' in md
    assert ('paper Table 7 (ImageNet): its compound model (compound (d=1.4, w=1.2, r=1.3)) is at 4.50× its own B0\'s '
            'compute, its single-axis models at 4.50–4.75×') in md
    assert 'depth only (d=4): Δ = +2.10 points' in md
    assert '| compound B1 | 1.1, 1, 1.07 | 1.82 | 2.22× | 85.21 | effscale_b1 | 1.75× |' in md
    assert 'compare with our GMACs ×B0, never with our GMACs' in md
    assert not [line for line in md.splitlines() if line.startswith('| effscale_') and 'variant' in line]


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


def test_a_smoke_study_says_why_no_conclusion_follows():
    from effscale_timm.report_markdown import smoke_reasons
    rows = [{'variant': 'effscale_b0', 'n_ok': 1, 'final_feature_map': [1, 1]},
            {'variant': 'effscale_resolution_b0', 'n_ok': 1, 'final_feature_map': [2, 2]}]
    runs = [{'status': 'ok', 'max_train_samples': 2048, 'epochs': 3}] * 2
    reasons = smoke_reasons(rows, runs)
    assert len(reasons) == 4 and 'one seed' in reasons[0] and '2,048' in reasons[1] and '3 epoch' in reasons[2]
    assert 'effscale_b0' in reasons[3] and 'resolution_b0' not in reasons[3]
    real = [dict(r, n_ok=3, final_feature_map=[4, 4]) for r in rows]
    assert smoke_reasons(real, [{'status': 'ok', 'max_train_samples': None, 'epochs': 35}] * 2) == []
