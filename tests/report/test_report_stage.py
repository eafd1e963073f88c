"""The report as a whole (effscale_timm.report.stage and .markdown, .figures): Table 1 with units and geometry,
references beside the variant with their multipliers, the figures, the smoke section, the command line."""
import argparse
import re

import numpy as np
import pytest

from effscale_timm.files.run_record import RunRecord
from effscale_timm.models import VARIANTS
from effscale_timm.report.compare import attach_references
from effscale_timm.report.figures import _error_bars, _series
from effscale_timm.report.runs import summarize
from effscale_timm.report.stage import add_arguments, run_cli
from report_study import report  # noqa: F401 - the module-scoped study fixture
from report_study import PNG, TOP1, _build, _row_line, _study


def _geometry_line(md, variant):
    table = md.split('### The networks as built')[1]
    return next(line for line in table.splitlines() if line.startswith(f'| {variant} |'))


def test_table1_is_one_screen_with_compute_in_three_currencies(report):
    _, md = report
    header = next(line for line in md.splitlines() if line.startswith('| variant |'))
    assert header.count('|') - 1 <= 10  # readable on one screen
    for column in ('axis', 'd, w, r', 'test top-1 % [95% CI] (n)', 'val top-1 %', 'GMACs ×B0', 'activations ×B0',
                   'train s/epoch ×B0', 'input', 'runs'):
        assert column in header, column
    b0 = _row_line(md, 'effscale_b0')
    assert '3 ok, 0 failed, 0 missing' in b0 and '| baseline |' in b0 and '| 1.00× |' in b0 and '| 32 px |' in b0
    depth = _row_line(md, 'effscale_depth_b0')
    assert '(n=2)' in depth and '2 ok, 1 failed, 0 missing' in depth and '| 4.50× |' in depth
    assert '2 ok, 0 failed, 1 missing' in _row_line(md, 'effscale_resolution_b0')
    for unit in ('FLOPs = 2 × MACs', '10⁹ multiply-accumulates', 'pooled over every arm', 'arXiv:2103.06877',
                 'percent', 'native'):
        assert unit in md, unit
    assert 'effscale_depth_b0 seed 2: CUDA out of memory' in md
    assert not re.search(r'\bnan\b', md, re.I) and 'converged' not in md


def test_the_networks_as_built_have_their_own_table(report):
    _, md = report
    b0 = _geometry_line(md, 'effscale_b0')
    assert '| 32 (1.000) |' in b0 and '| 1,2,2,3,3,4,1 = 16 (1.00×) |' in b0 and '| 1280 (1.00×) |' in b0
    assert '| 1×1 |' in b0 and '| 0.4000 |' in b0 and '| 1000 | 1.0 | 0.250 | 88.00 |' in b0
    assert '| 4,8,8,12,12,16,4 = 64 (4.00×) |' in _geometry_line(md, 'effscale_depth_b0')
    assert '| 2560 (2.00×) |' in _geometry_line(md, 'effscale_width_b0')
    assert '| 64 (2.000) |' in _geometry_line(md, 'effscale_resolution_b0')
    assert '| 40 (1.250) |' in _geometry_line(md, 'effscale_compound_b0')


def test_geometry_warning_below_2x2(report):
    _, md = report
    warnings = [line for line in md.splitlines() if line.startswith('Warning: ') and 'feature map' in line]
    assert {w.split()[1] for w in warnings} == {'effscale_b0', 'effscale_depth_b0', 'effscale_width_b0'}
    b0 = next(w for w in warnings if w.startswith('Warning: effscale_b0 '))
    assert 'at 32 px ends on a 1×1 feature map, below 2×2 (stages 6, 7 of 7)' in b0 and 'acts as a 1×1' in b0


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
    from effscale_timm.files.cam_file import save_cam
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
         str(tmp_path / 'rep'), '--expected', 'effscale_b0:0', 'effscale_b0:5', '--equivalence-margin', '0.25'])
    out = run_cli(args)
    assert out['cams'].read_bytes()[:8] == PNG and out['cams'].stat().st_size > 5_000
    md = out['table_md'].read_text()
    assert '](cams.png)' in md and '3 ok, 0 failed, 1 missing' in _row_line(md, 'effscale_b0')
    assert out['comparisons'][0]['decision'].margin == 0.25
    bad = add_arguments(argparse.ArgumentParser()).parse_args(['--out-dir', str(tmp_path), '--equivalence-margin',
                                                               '-1'])
    with pytest.raises(ValueError, match='--equivalence-margin must be >= 0'):
        run_cli(bad)


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
    assert '| depth only (d=4) | 4, 1, 1 | 1.8 | 4.50× | 79 | effscale_depth_b0 | 4.50× |' in md  # ours beside theirs
    assert '| baseline B0 | 1, 1, 1 | 0.82 | 1.00× | 89.45 | effscale_b0 | 1.00× |' in md
    assert ('seed study Table 1 (CIFAR-10): its compound model (compound B1) is at 2.22× its own B0\'s compute, its '
            'single-axis models at 3.68–4.09×; its compound model is not paper Table 7\'s') in md
    assert 'Compute is not matched, so its Δ = -3.59 points' in md and 'is not a finding about compound scaling' in md
    assert ('paper Table 7 (ImageNet): its compound model (compound (d=1.4, w=1.2, r=1.3)) is at 4.50× its own B0\'s '
            'compute, its single-axis models at 4.50–4.75×') in md
    # the paper prints 1.8 and 1.9 (rounded to 0.1): within its rounding they are one budget, as the paper compares
    assert 'resolution only (r=2): Δ = +2.00 points' in md
    assert '| compound B1 | 1.1, 1, 1.07 | 1.82 | 2.22× | 85.21 | effscale_b1 | 1.75× |' in md
    assert 'with our GMACs ×B0, never its compute with our GMACs' in md
    assert not [line for line in md.splitlines() if line.startswith('| effscale_') and 'variant' in line]


def test_a_smoke_study_says_why_no_conclusion_follows():
    from effscale_timm.report.markdown import smoke_reasons
    rows = [{'variant': 'effscale_b0', 'n_ok': 1, 'final_feature_map': [1, 1]},
            {'variant': 'effscale_resolution_b0', 'n_ok': 1, 'final_feature_map': [2, 2]}]
    runs = [RunRecord(variant=r['variant'], seed=0, status='ok', max_train_samples=2048, epochs=3) for r in rows]
    reasons = smoke_reasons(rows, runs)
    assert len(reasons) == 4 and 'one seed' in reasons[0] and '2,048' in reasons[1] and '3 epoch' in reasons[2]
    assert 'effscale_b0' in reasons[3] and 'resolution_b0' not in reasons[3]
    real = [dict(r, n_ok=3, final_feature_map=[4, 4]) for r in rows]
    assert smoke_reasons(real, [RunRecord(variant=r['variant'], seed=0, status='ok', epochs=35) for r in rows]) == []
