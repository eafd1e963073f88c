"""A study of two backbones in one report: compute ratios to each backbone's own baseline, compound rows compared only
with single-axis rows of their own backbone, Table 3's rows beside our variants (its compound row beside the variant
built for it). Profiles are the real networks' (fvcore, 32 px, 10 classes); the run records are written here."""
import json

import numpy as np
import pytest

from effscale_timm.profile import profile_variant
from effscale_timm.report.stage import build_report

pytestmark = pytest.mark.usefixtures('one_thread')
N = 400  # test images per run
LABELS = np.arange(N) % 10
TOP1 = {'effscale_b0': [80, 81, 82], 'effscale_width_b0': [82, 83, 84], 'effscale_compound_b0': [85, 86, 87],
        'effscale_mobilenetv2_100': [70, 71, 72], 'effscale_mobilenetv2_100_width': [74, 75, 76],
        'effscale_mobilenetv2_100_compound': [73, 74, 75]}


def _write_run(folder, profile, seed, top1):
    folder.mkdir(parents=True, exist_ok=True)
    correct = np.zeros(N, bool)
    correct[np.random.default_rng([seed, int(top1)]).permutation(N)[:int(top1 / 100 * N)]] = True
    np.savez(folder / 'test_predictions.npz', pred=np.where(correct, LABELS, (LABELS + 1) % 10), label=LABELS)
    (folder / 'metrics.csv').write_text(
        'epoch,train_loss,train_top1,val_loss,val_top1,lr,img_per_s,peak_mem_gib,micro_batch,epoch_s\n' +
        ''.join(f'{e},{1 / e:.3f},{top1},{1 / e:.3f},{top1 - 6 + e},0.001,100,0.1,64,1\n' for e in range(1, 7)))
    (folder / 'final.json').write_text(json.dumps(dict(
        variant=profile['variant'], seed=seed, status='ok', dataset='digits', test_top1=top1, test_samples=N,
        best_val_top1=top1 + 1, final_val_top1=top1 + 1, epochs=6,
        **{k: profile[k] for k in ('backbone', 'depth', 'width', 'resolution', 'input_size', 'params')})))
    return folder / 'final.json'


@pytest.fixture(scope='module')
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp('backbones')
    runs, profiles = [], []
    for variant, values in TOP1.items():
        profile = profile_variant(variant, num_classes=10, in_chans=1, base_resolution=32, latency=False)
        profiles.append(root / f'{variant}.json')
        profiles[-1].write_text(json.dumps(profile))
        runs += [_write_run(root / variant / f'seed{s}', profile, s, t) for s, t in enumerate(values)]
    out = build_report(runs, profiles, [], root / 'reports')
    return out, out['table_md'].read_text()


def test_compute_is_a_ratio_to_each_backbones_own_baseline(study):
    out, _ = study
    rows = {r['variant']: r for r in out['rows']}
    assert rows['effscale_mobilenetv2_100']['backbone'] == 'mobilenetv2_100'
    assert rows['effscale_mobilenetv2_100']['gmacs'] != rows['effscale_b0']['gmacs']
    table = out['table_md'].read_text().split('### The networks as built')[0]
    for baseline in ('effscale_b0', 'effscale_mobilenetv2_100'):
        line = next(x for x in table.splitlines() if x.startswith(f'| {baseline} |'))
        assert [c.strip() for c in line.split('|')].count('1.00×') == 3, line  # GMACs, activations, time


def test_a_compound_row_is_compared_within_its_own_backbone(study):
    out, md = study
    comparisons = {c['compound']['variant']: c for c in out['comparisons']}
    mbv2 = comparisons['effscale_mobilenetv2_100_compound']
    assert not mbv2['matched'] and [row['variant'] for row, _ in mbv2['unmatched']] == ['effscale_mobilenetv2_100_width']
    assert [row['variant'] for row, _ in comparisons['effscale_compound_b0']['unmatched']] == ['effscale_width_b0']
    assert 'effscale_mobilenetv2_100_width at' in md and 'effscale_b0' not in \
        next(x for x in md.splitlines() if x.startswith('- **effscale_mobilenetv2_100_compound**'))


def test_table3_rows_sit_beside_our_variants(study):
    _, md = study
    section = md.split('**Paper Table 3: scaling up MobileNetV2**')[1].split('\n\n', 2)[1]
    assert '| compound | —, —, — | 1.3 | 4.33× | 77.4 | effscale_mobilenetv2_100_compound |' in section
    assert '| width (w=2) | 1, 2, 1 | 1.1 | 3.67× | 76.4 | effscale_mobilenetv2_100_width |' in section
    assert 'its own baseline\'s compute' in md and 'Paper Table 3: scaling up ResNet-50' not in md
