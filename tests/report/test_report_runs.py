"""The report's runs (effscale_timm.report.runs): records to rows, failed and missing runs counted, convergence."""
import pytest

from effscale_timm.report.runs import convergence, load_runs, run_convergence, scaling_axis, summarize
from effscale_timm.report.stage import parse_expected
from report_study import _write_run


def test_scaling_axis():
    assert scaling_axis(1, 1, 1) == 'baseline'
    assert [scaling_axis(4, 1, 1), scaling_axis(1, 2, 1), scaling_axis(1, 1, 2)] == ['depth', 'width', 'resolution']
    assert scaling_axis(1.4, 1.2, 1.3) == 'compound' and scaling_axis(1.1, 1.0, 240 / 224) == 'compound'


def test_convergence_rule():
    assert convergence([50, 60, 70]) == 'too short'  # fewer than 4 epochs
    assert convergence([50, 70, 70.4, 70.5, 70.2]) == 'converged'  # last 3: 70.5 <= 70 + 0.5
    assert convergence([50, 70, 70.4, 70.6, 70.2]) == 'not converged'  # 70.6 > 70 + 0.5
    assert convergence([50, 60, 70, 80, 90, 95]) == 'not converged'
    assert convergence([80, 60, 61, 62]) == 'converged'  # below an earlier best: no longer rising


def test_runs_loading_rules(tmp_path):
    ok = _write_run(tmp_path, 'effscale_b0', 0, 80.0)
    absent = tmp_path / 'runs' / 'digits' / 'effscale_b0' / 'seed7' / 'final.json'
    runs = load_runs([ok, absent], expected_runs=[('effscale_width_b0', 1)])
    assert [(r.variant, r.seed, r.status) for r in runs] == [
        ('effscale_b0', 0, 'ok'), ('effscale_b0', 7, 'missing'), ('effscale_width_b0', 1, 'missing')]
    assert run_convergence(runs[0]) == 'converged' and runs[0].final_val_top1 == 81.0
    rows = summarize(runs, [])
    assert rows[0]['n_ok'] == 1 and rows[0]['std'] is None and rows[0]['axis'] == 'baseline'
    assert rows[0]['convergence'] == ['converged']
    (ok.parent / 'metrics.csv').unlink()
    assert run_convergence(load_runs([ok])[0]) == 'no metrics'
    with pytest.raises(ValueError, match='two run files'):
        load_runs([ok, ok])
    with pytest.raises(ValueError, match='several datasets'):
        load_runs([ok, _write_run(tmp_path, 'effscale_b0', 1, 80.0, dataset='cifar10')])
    assert parse_expected(['effscale_b0:2']) == [('effscale_b0', 2)]
    with pytest.raises(ValueError, match='variant:seed'):
        parse_expected(['effscale_b0'])
