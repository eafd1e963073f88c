"""The report's runs (effscale_timm.report.runs): records to rows, failed and missing runs counted, measured speed."""
import pytest

from effscale_timm.report.runs import load_runs, run_speed, scaling_axis, summarize
from effscale_timm.report.stage import parse_expected
from report_study import _write_run


def test_scaling_axis():
    assert scaling_axis(1, 1, 1) == 'baseline'
    assert [scaling_axis(4, 1, 1), scaling_axis(1, 2, 1), scaling_axis(1, 1, 2)] == ['depth', 'width', 'resolution']
    assert scaling_axis(1.4, 1.2, 1.3) == 'compound' and scaling_axis(1.1, 1.0, 240 / 224) == 'compound'


def test_runs_loading_rules(tmp_path):
    ok = _write_run(tmp_path, 'effscale_b0', 0, 80.0, native_size=8)
    absent = tmp_path / 'runs' / 'digits' / 'effscale_b0' / 'seed7' / 'final.json'
    runs = load_runs([ok, absent], expected_runs=[('effscale_width_b0', 1)])
    assert [(r.variant, r.seed, r.status) for r in runs] == [
        ('effscale_b0', 0, 'ok'), ('effscale_b0', 7, 'missing'), ('effscale_width_b0', 1, 'missing')]
    assert runs[0].final_val_top1 == 81.0
    rows = summarize(runs, [])
    assert rows[0]['n_ok'] == 1 and rows[0]['std'] is None and rows[0]['axis'] == 'baseline'
    assert rows[0]['native_size'] == 8 and rows[0]['img_per_s'] == 1000.0 and rows[0]['epoch_s'] == 1.0
    with pytest.raises(ValueError, match='two run files'):
        load_runs([ok, ok])
    with pytest.raises(ValueError, match='several datasets'):
        load_runs([ok, _write_run(tmp_path, 'effscale_b0', 1, 80.0, dataset='cifar10')])
    assert parse_expected(['effscale_b0:2']) == [('effscale_b0', 2)]
    with pytest.raises(ValueError, match='variant:seed'):
        parse_expected(['effscale_b0'])


def test_speed_is_the_median_after_the_first_epoch_and_none_without_metrics(tmp_path):
    path = _write_run(tmp_path, 'effscale_b0', 0, 80.0)
    lines = ['epoch,train_loss,train_top1,val_loss,val_top1,lr,img_per_s,peak_mem_gib,micro_batch,epoch_s',
             '1,1,50,1,50,0.001,10.0,0,64,99.0', '2,1,50,1,50,0.001,300.0,0,64,4.0',
             '3,1,50,1,50,0.001,500.0,0,64,2.0', '4,1,50,1,50,0.001,400.0,0,64,3.0']
    (path.parent / 'metrics.csv').write_text('\n'.join(lines) + '\n')
    run, = load_runs([path])
    assert run_speed(run) == (400.0, 3.0)  # epoch 1 (compiling, warm-up) left out
    (path.parent / 'metrics.csv').unlink()
    assert run_speed(run) == (None, None)


def test_a_damaged_record_counts_as_a_failed_run_naming_the_file(tmp_path):
    path = _write_run(tmp_path, 'effscale_b0', 0, 80.0)
    path.write_bytes(path.read_bytes()[:20])
    run, = load_runs([path])
    assert run.status == 'failed' and str(path) in run.error and 'not a readable run record' in run.error
