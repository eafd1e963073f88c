"""The tidy tables and the training curves (effscale_timm.report.tidy, .curves): runs.csv has one row per variant and
seed, failed and missing runs included, with the network as built; epochs.csv every epoch of every run; pandas
reproduces Table 1's means from them; the curves figure draws one line per variant, a band only where there are 2
seeds or more, and its legend covers no axes."""
import pandas as pd
import pytest

from effscale_timm.report.curves import curves_figure
from effscale_timm.report.tidy import EPOCH_KEYS, RUN_COLUMNS
from effscale_timm.files.metrics import METRIC_FIELDS
from report_study import report  # noqa: F401 - the module-scoped study fixture
from report_study import EXPECTED, PNG, SHORT, TOP1


@pytest.fixture(scope='module')
def tables(report):
    out, _ = report
    return pd.read_csv(out['runs_csv']), pd.read_csv(out['epochs_csv'])


def test_runs_csv_has_one_row_per_run_with_its_status(tables):
    runs, _ = tables
    assert list(runs.columns) == RUN_COLUMNS
    assert sorted(zip(runs.variant, runs.seed)) == sorted(EXPECTED)
    status = {(v, s): st for v, s, st in zip(runs.variant, runs.seed, runs.status)}
    assert status[('effscale_depth_b0', 2)] == 'failed' and status[('effscale_resolution_b0', 2)] == 'missing'
    assert list(status.values()).count('ok') == 13
    failed = runs[runs.status == 'failed'].iloc[0]
    assert failed.error == 'CUDA out of memory' and pd.isna(failed.test_top1)
    missing = runs[runs.status == 'missing'].iloc[0]
    assert missing[['test_top1', 'val_top1', 'epochs', 'wall_time_s']].isna().all()  # never filled in
    assert missing.gmacs == 1.9  # the variant's compute, from its profile


def test_pandas_gives_table_1s_numbers(tables, report):
    runs, _ = tables
    means = runs[runs.status == 'ok'].groupby('variant').test_top1.agg(['mean', 'count'])
    for row in report[0]['rows']:
        assert means.loc[row['variant'], 'mean'] == pytest.approx(row['mean'])
        assert means.loc[row['variant'], 'count'] == row['n_ok']
    assert sorted(runs[runs.variant == 'effscale_b0'].test_top1) == TOP1['effscale_b0']


def test_runs_csv_has_the_network_as_built(tables):
    runs, _ = tables
    first = runs.groupby('variant').first()
    assert first.loc['effscale_depth_b0', 'depth_as_built'] == 4.0  # 64 blocks over B0's 16
    assert first.loc['effscale_width_b0', 'width_as_built'] == 2.0  # 2560 head channels over 1280
    assert first.loc['effscale_resolution_b0', 'resolution_as_built'] == 2.0
    assert first.loc['effscale_compound_b0', 'stage_repeats'] == '2,3,3,5,5,6,2'
    assert first.loc['effscale_resolution_b0', 'final_feature_map'] == '2x2'
    assert first.loc['effscale_b0', 'gmacs'] == 0.4 and first.loc['effscale_b0', 'img_per_s'] == 1000.0
    assert first.loc['effscale_compound_b0', 'axis'] == 'compound' and first.loc['effscale_b0', 'input_px'] == 32


def test_epochs_csv_has_every_epoch_of_every_run(tables):
    _, epochs = tables
    assert list(epochs.columns) == EPOCH_KEYS + METRIC_FIELDS
    counts = epochs.groupby(['variant', 'seed']).epoch.count()
    assert counts[('effscale_width_b0', 0)] == 3 and counts[('effscale_b0', 2)] == 6  # SHORT: 3 epochs
    assert len(counts) == 14  # every run with a metrics file: the missing one has none, the failed one has its own
    assert len(epochs) == sum(3 if v in SHORT else 6 for v, s in EXPECTED if (v, s) != ('effscale_resolution_b0', 2))
    last = epochs[(epochs.variant == 'effscale_b0') & (epochs.seed == 1)].iloc[-1]
    assert last.epoch == 6 and last.val_top1 == 83.0  # the final validation top-1 of that run (test top-1 + 1)


def _bands(ax):
    return [c for c in ax.collections if type(c).__name__ in ('PolyCollection', 'FillBetweenPolyCollection')]


def test_curves_one_line_per_variant_bands_where_n_is_2_and_a_legend_off_the_axes(tables, report):
    _, epochs = tables
    assert report[0]['curves'].read_bytes()[:8] == PNG
    fig = curves_figure(epochs)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    axes = fig.axes
    assert [len(ax.get_lines()) for ax in axes] == [5, 5] and [len(_bands(ax)) for ax in axes] == [5, 5]
    legend = fig.legends[0].get_window_extent(renderer)
    for ax in axes:
        assert not legend.overlaps(ax.get_tightbbox(renderer))
    assert not axes[0].get_tightbbox(renderer).overlaps(axes[1].get_window_extent(renderer))
    one_seed = curves_figure(epochs[epochs.seed == 0])
    assert [len(_bands(ax)) for ax in one_seed.axes] == [0, 0]
    assert 'effscale_b0 (baseline, n=3)' in [t.get_text() for t in fig.legends[0].get_texts()]
