"""A small study's files for the report's tests: run records with metrics and per-image predictions, and profiles,
for the five models of the paper's Table 7 (and B1, a width-matched model) at fixed test top-1 per seed."""
import json

import numpy as np
import pytest

from effscale_timm.report.stage import build_report

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


def _write_run(root, variant, seed, top1, dataset='digits', val=None, native_size=None):
    d, w, r, px, params, *_ = VARIANTS_AT_32[variant]
    folder = root / 'runs' / dataset / variant / f'seed{seed}'
    folder.mkdir(parents=True, exist_ok=True)
    failed = top1 is None
    val = (top1 + 1 if not failed else 50.0) if val is None else val
    result = {'variant': variant, 'seed': seed, 'dataset': dataset, 'status': 'failed' if failed else 'ok',
              'error': 'CUDA out of memory' if failed else None, 'test_top1': None if failed else top1,
              'best_val_top1': val, 'epochs': 6, 'wall_time_s': 1800.0, 'hardware': 'test CPU', 'depth': d,
              'width': w, 'resolution': r, 'input_size': px, 'params': params, 'native_size': native_size}
    if not failed:
        result['test_samples'] = N_IMAGES
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


def _study(root, top1=TOP1, gmacs=None, val=None, native_size=None):
    """Run and profile files in config order; returns (run paths, profile paths). ``val``: variant -> per-seed
    validation top-1 (default test top-1 + 1); ``native_size``: the images' own size recorded in every run."""
    val = val or {}
    runs = [_write_run(root, v, s, t, val=val[v][s] if v in val else None, native_size=native_size)
            for v, values in top1.items() for s, t in enumerate(values)]
    profiles = [_write_profile(root, v, (gmacs or {}).get(v)) for v in top1]
    return runs, profiles


def _build(root, top1=TOP1, gmacs=None, val=None, expected=None, margin=0.5, native_size=None):
    runs, profiles = _study(root, top1, gmacs, val, native_size)
    return build_report(runs, profiles, [], root / 'reports', expected, margin)


def _row_line(md, variant):
    return next(line for line in md.splitlines() if line.startswith(f'| {variant} |'))


def _cells(md, variant):
    return [c.strip() for c in _row_line(md, variant).strip('|').split('|')]


@pytest.fixture(scope='module')
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp('study')
    out = _build(root, expected=EXPECTED)
    return out, out['table_md'].read_text()
