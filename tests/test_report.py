"""The report: exact statistics, failed and missing runs, units, reference columns, the verdict, the figures."""
import argparse
import json
import math

import numpy as np
import pytest

from effscale_timm.models import VARIANTS
from effscale_timm.report import (_series, add_arguments, attach_references, build_report, load_runs, parse_expected,
                                  run_cli, scaling_axis, summarize)

PNG = b'\x89PNG\r\n\x1a\n'
MULTIPLIERS = {  # variant -> (depth, width, resolution, input_size, params)
    'effscale_b0': (1.0, 1.0, 1.0, 32, 4_020_000),
    'effscale_depth_b0': (4.0, 1.0, 1.0, 32, 16_000_000),
    'effscale_width_b0': (1.0, 2.0, 1.0, 32, 14_000_000),
    'effscale_resolution_b0': (1.0, 1.0, 2.0, 64, 4_020_000),
    'effscale_compound_b0': (1.4, 1.2, 1.3, 40, 7_000_000),
}
GMACS = {'effscale_b0': 0.4, 'effscale_depth_b0': 1.8, 'effscale_width_b0': 1.8, 'effscale_resolution_b0': 1.9,
         'effscale_compound_b0': 1.8}
# Seeds' test top-1 (None = failed run); seed 2 of the resolution model has no final.json at all (missing).
TOP1 = {
    'effscale_b0': [80.0, 82.0, 84.0],            # mean 82.00, std 2.00
    'effscale_depth_b0': [83.0, 85.0, None],      # mean 84.00, std 1.41; one failed
    'effscale_width_b0': [81.0, 82.0, 83.0],      # mean 82.00, std 1.00
    'effscale_resolution_b0': [83.0, 84.0],       # mean 83.50, std 0.71; seed 2 missing
    'effscale_compound_b0': [86.0, 87.0, 88.0],   # mean 87.00, std 1.00
}
EXPECTED = [(v, s) for v in MULTIPLIERS for s in range(3)]


def _write_run(root, variant, seed, top1, dataset='digits'):
    d, w, r, px, params = MULTIPLIERS[variant]
    path = root / 'runs' / dataset / variant / f'seed{seed}' / 'final.json'
    path.parent.mkdir(parents=True, exist_ok=True)
    failed = top1 is None
    path.write_text(json.dumps({
        'variant': variant, 'seed': seed, 'dataset': dataset, 'status': 'failed' if failed else 'ok',
        'error': 'CUDA out of memory' if failed else None, 'test_top1': 50.0 if failed else top1,
        'best_val_top1': None if failed else top1 + 1, 'epochs': 3, 'wall_time_s': 1800.0, 'hardware': 'test CPU',
        'depth': d, 'width': w, 'resolution': r, 'input_size': px, 'params': params}))
    return path


def _write_profile(root, variant, gmacs=None):
    d, w, r, px, params = MULTIPLIERS[variant]
    gmacs = GMACS[variant] if gmacs is None else gmacs
    path = root / 'profiles' / f'{variant}.json'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({'variant': variant, 'depth': d, 'width': w, 'resolution': r, 'input_size': px,
                                'params': params, 'gmacs': gmacs, 'gmacs_total': gmacs * 1.03,
                                'gflops': 2 * gmacs}))
    return path


def _study(root, top1=TOP1, gmacs=None):
    """Run and profile files in config order; returns (run paths incl. none for missing, profile paths)."""
    runs = [_write_run(root, v, s, t) for v, values in top1.items() for s, t in enumerate(values)]
    profiles = [_write_profile(root, v, (gmacs or {}).get(v)) for v in MULTIPLIERS]
    return runs, profiles


def _row_line(md, variant):
    return next(line for line in md.splitlines() if line.startswith(f'| {variant} |'))


@pytest.fixture
def report(tmp_path):
    runs, profiles = _study(tmp_path)
    out = build_report(runs, profiles, [], tmp_path / 'reports', EXPECTED)
    return out, out['table_md'].read_text()


def test_scaling_axis():
    assert scaling_axis(1, 1, 1) == 'baseline'
    assert [scaling_axis(4, 1, 1), scaling_axis(1, 2, 1), scaling_axis(1, 1, 2)] == ['depth', 'width', 'resolution']
    assert scaling_axis(1.4, 1.2, 1.3) == 'compound' and scaling_axis(1.1, 1.0, 240 / 224) == 'compound'


def test_exact_statistics(report):
    out, _ = report
    rows = {r['variant']: r for r in out['rows']}
    assert [r['variant'] for r in out['rows']] == list(MULTIPLIERS)  # config (profile) order
    assert rows['effscale_b0']['mean'] == 82.0 and rows['effscale_b0']['std'] == 2.0
    assert rows['effscale_depth_b0']['mean'] == 84.0 and rows['effscale_depth_b0']['std'] == pytest.approx(math.sqrt(2))
    assert rows['effscale_resolution_b0']['std'] == pytest.approx(math.sqrt(0.5))
    assert (rows['effscale_depth_b0']['n_ok'], rows['effscale_depth_b0']['n_failed']) == (2, 1)
    assert (rows['effscale_resolution_b0']['n_ok'], rows['effscale_resolution_b0']['n_missing']) == (2, 1)
    assert rows['effscale_depth_b0']['top1'] == [83.0, 85.0]  # the failed run's 50.0 is never used


def test_table_rows_units_and_references(report):
    _, md = report
    b0 = _row_line(md, 'effscale_b0')
    assert '82.00 ± 2.00 (n=3)' in b0 and '3 ok, 0 failed, 0 missing' in b0 and '| baseline |' in b0
    depth = _row_line(md, 'effscale_depth_b0')
    assert '84.00 ± 1.41 (n=2)' in depth and '2 ok, 1 failed, 0 missing' in depth
    assert '3.35 / 86.31 (depth only)' in depth and '1.8 / 79 (depth only (d=4))' in depth
    res = _row_line(md, 'effscale_resolution_b0')
    assert '83.50 ± 0.71 (n=2)' in res and '2 ok, 0 failed, 1 missing' in res and '| 64 |' in res
    comp = _row_line(md, 'effscale_compound_b0')
    assert '| compound |' in comp and '1.8 / 81.1 (compound (d=1.4, w=1.2, r=1.3))' in comp
    assert '1.82 / 85.21 (compound "B1")' in comp
    assert '| 1.8000 | 3.6000 |' in comp  # GMACs and GFLOPs = 2 x GMACs
    for unit in ('GFLOPs = 2×MACs', '10⁹ multiply-accumulates', 'ddof=1', 'CIFAR-10', 'ImageNet', 'percent'):
        assert unit in md, unit
    assert 'effscale_depth_b0 seed 2: CUDA out of memory' in md


def test_verdict_matches_the_numbers(report):
    out, md = report
    text = out['verdict']
    assert 'effscale_compound_b0** (87.00%, n=3) is better than effscale_depth_b0 by 3.00 points' in text
    assert 'Compute is matched within ±5%' in text and 'ratio 1.000' in text
    assert 'exceeds the seed spread' in text and '1.00 + 1.41 = 2.41 points' in text
    assert 'beyond seed noise' in text
    assert 'effscale_depth_b0 0 failed' not in text and 'effscale_depth_b0 1 failed, 0 missing' in text
    assert text in md


def test_verdict_within_spread_and_unmatched_compute(tmp_path):
    top1 = dict(TOP1, effscale_compound_b0=[83.0, 85.0, 87.0])  # mean 85.00, std 2.00: +1.00 < 2.00 + 1.41
    runs, profiles = _study(tmp_path, top1, gmacs={'effscale_compound_b0': 0.9})
    text = build_report(runs, profiles, [], tmp_path / 'out')['verdict']
    assert 'better than effscale_depth_b0 by 1.00 points' in text
    assert 'does not exceed the seed spread' in text and '2.00 + 1.41 = 3.41 points' in text
    assert 'compute is not matched' in text and '0.50×' in text and 'Within seed noise' in text


def test_verdict_with_one_seed_says_spread_unknown(tmp_path):
    top1 = {v: values[:1] for v, values in TOP1.items()}
    runs, profiles = _study(tmp_path, top1)
    text = build_report(runs, profiles, [], tmp_path / 'out')['verdict']
    assert 'better than effscale_depth_b0 by 3.00 points' in text and 'spread between seeds is unknown' in text


def test_no_verdict_without_compound_runs(tmp_path):
    top1 = {v: t for v, t in TOP1.items() if v != 'effscale_compound_b0'}
    runs, profiles = _study(tmp_path, top1)
    out = build_report(runs, profiles, [], tmp_path / 'out', EXPECTED)
    assert out['verdict'].startswith('No verdict: no compound variant has a finished run')
    assert '— (n=0)' in _row_line(out['table_md'].read_text(), 'effscale_compound_b0')
    assert '0 ok, 0 failed, 3 missing' in _row_line(out['table_md'].read_text(), 'effscale_compound_b0')


def test_figures_written(tmp_path, report):
    out, md = report
    assert out['figure'].read_bytes()[:8] == PNG and out['figure'].stat().st_size > 10_000
    assert out['cams'] is None and 'Grad-CAM grid skipped' in md
    series = _series(out['rows'])
    assert set(series) == {'depth', 'width', 'resolution', 'compound'}
    assert all(points[0]['variant'] == 'effscale_b0' for points in series.values())


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
         str(tmp_path / 'rep'), '--expected', 'effscale_b0:0', 'effscale_b0:5'])
    out = run_cli(args)
    assert out['cams'].read_bytes()[:8] == PNG and out['cams'].stat().st_size > 5_000
    md = out['table_md'].read_text()
    assert '](cams.png)' in md and '3 ok, 0 failed, 1 missing' in _row_line(md, 'effscale_b0')


def test_runs_loading_rules(tmp_path):
    ok = _write_run(tmp_path, 'effscale_b0', 0, 80.0)
    absent = tmp_path / 'runs' / 'digits' / 'effscale_b0' / 'seed7' / 'final.json'
    runs = load_runs([ok, absent], expected_runs=[('effscale_width_b0', 1)])
    assert [(r['variant'], r['seed'], r['status']) for r in runs] == [
        ('effscale_b0', 0, 'ok'), ('effscale_b0', 7, 'missing'), ('effscale_width_b0', 1, 'missing')]
    rows = summarize(runs, [])
    assert rows[0]['n_ok'] == 1 and rows[0]['std'] is None and rows[0]['axis'] == 'baseline'
    with pytest.raises(ValueError, match='two run files'):
        load_runs([ok, ok])
    with pytest.raises(ValueError, match='several datasets'):
        load_runs([ok, _write_run(tmp_path, 'effscale_b0', 1, 80.0, dataset='cifar10')])
    assert parse_expected(['effscale_b0:2']) == [('effscale_b0', 2)]
    with pytest.raises(ValueError, match='variant:seed'):
        parse_expected(['effscale_b0'])


def test_references_go_to_the_closest_row_of_their_axis():
    """With B1..B7 all compound: paper Table 7's compound (1.4, 1.2, 1.3) lands on B3, the seed's "B1" on B1."""
    paper_macs = [0.39, 0.70, 1.0, 1.8, 4.2, 9.9, 19, 37]
    profiles = [{'variant': f'effscale_b{i}', 'depth': VARIANTS[f'effscale_b{i}'].depth,
                 'width': VARIANTS[f'effscale_b{i}'].width, 'resolution': VARIANTS[f'effscale_b{i}'].resolution,
                 'gmacs': macs} for i, macs in enumerate(paper_macs)]
    profiles.append({'variant': 'effscale_depth_b0', 'depth': 4.0, 'width': 1.0, 'resolution': 1.0, 'gmacs': 1.6})
    profiles.append({'variant': 'deep2', 'depth': 2.0, 'width': 1.0, 'resolution': 1.0, 'gmacs': 0.8})
    rows = summarize([], profiles)
    unmatched = attach_references(rows)
    by_name = {r['variant']: r['refs'] for r in rows}
    assert by_name['effscale_b3']['table7']['axis'] == 'compound'
    assert by_name['effscale_b1']['seed_table1']['axis'] == 'compound'
    assert by_name['effscale_b0']['table7']['axis'] == 'baseline'
    # the seed study's depth row gives no multiplier: it goes to the depth row nearest its 4.1x compute ratio
    assert 'seed_table1' in by_name['effscale_depth_b0'] and by_name['deep2'] == {}
    expected = {(t, axis) for t in ('table7', 'seed_table1') for axis in ('width', 'resolution')}
    assert {(t, ref['axis']) for t, ref in unmatched} == expected


def test_verdict_prefers_the_single_axis_row_at_matched_compute(tmp_path):
    """With a FLOP-matched single-axis variant, the compound row is judged against it, not a cheaper better row."""
    MULTIPLIERS['effscale_width_matched'] = (1.0, 2.6, 1.0, 32, 20_000_000)
    try:
        top1 = dict(TOP1, effscale_width_b0=[90.0, 91.0, 92.0], effscale_width_matched=[84.0, 85.0, 86.0])
        runs, profiles = _study(tmp_path, top1=top1, gmacs={'effscale_width_b0': 0.9, 'effscale_width_matched': 1.83})
        out = build_report(runs, profiles, [], tmp_path / 'reports')
    finally:
        del MULTIPLIERS['effscale_width_matched']
    verdict = out['verdict']
    line = next(s for s in verdict.splitlines() if s.startswith('- **effscale_compound_b0**'))
    # compound 87.00 vs the matched width model 85.00 (not the unmatched 91.00 one): +2.00, matched compute
    assert 'better than effscale_width_matched by 2.00 points' in line and 'Compute is matched' in line
