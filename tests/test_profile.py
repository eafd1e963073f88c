"""Profiling: agreement with the paper's Table 2, the JSON of a small variant, the CLI with a custom spec."""
import argparse
import json
import math
import types

import pytest
import torch

from effscale_timm import profile
from effscale_timm.profile import add_arguments, measure_latency, paper_table, profile_variant, run_cli
from effscale_timm.reference import reference_rows

# timm 1.0.31 parameter counts of efficientnet_b0..b7 and the paper's multiply-adds (Table 2), written out here so
# that a change to reference.yaml cannot move the targets.
TIMM_PARAMS_M = [5.289, 7.794, 9.110, 12.233, 19.342, 30.390, 43.041, 66.348]
PAPER_GMACS = [0.39, 0.70, 1.0, 1.8, 4.2, 9.9, 19, 37]
PAPER_PX = [224, 240, 260, 300, 380, 456, 528, 600]


pytestmark = pytest.mark.usefixtures('one_thread')


@pytest.fixture(scope='module')
def table():
    return paper_table(latency=False)


def test_reference_table2_is_the_paper(table):
    rows = reference_rows('table2')
    assert [r['timm_params_m'] for r in rows] == TIMM_PARAMS_M
    assert [r['macs_b'] for r in rows] == PAPER_GMACS
    assert [r['resolution_px'] for r in rows] == PAPER_PX


def test_params_match_timm_within_1_percent(table):
    assert [r['variant'] for r in table] == [f'effscale_b{i}' for i in range(8)]
    for row, ref in zip(table, TIMM_PARAMS_M):
        assert row['params'] / 1e6 == pytest.approx(ref, rel=0.01), row['variant']
        assert abs(row['params_rel_error']) < 0.01


def test_gmacs_match_paper_within_5_percent(table):
    for row, ref, px in zip(table, PAPER_GMACS, PAPER_PX):
        assert row['input_size'] == px
        assert row['gmacs'] == pytest.approx(ref, rel=0.05), row['variant']
        assert abs(row['gmacs_rel_error']) <= 0.05
        assert row['gmacs_total'] > row['gmacs']  # batch norm adds to fvcore's total
        assert row['gflops'] == pytest.approx(2 * row['gmacs'])
        assert row['cpu_latency_ms'] is None and row['mactivations'] is None


def _finite_positive(value):
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_small_variant_profile_json():
    threads = torch.get_num_threads()
    prof = profile_variant('effscale_b0', num_classes=10, in_chans=1, base_resolution=32, latency=True, threads=1,
                           latency_budget_s=0.2)
    assert torch.get_num_threads() == threads
    assert prof['input_size'] == 32 and prof['num_classes'] == 10 and prof['in_chans'] == 1
    for key in ('params', 'gmacs', 'gmacs_total', 'gflops', 'mactivations', 'cpu_latency_ms'):
        assert _finite_positive(prof[key]), key
    assert prof['gflops'] == 2 * prof['gmacs']
    assert prof['gmacs'] < 0.02  # B0 at 32 px: (32/224)^2 of ~0.39 GMACs
    assert prof['gpu_latency_ms'] is None if not torch.cuda.is_available() else _finite_positive(prof['gpu_latency_ms'])
    assert {'aten::silu_', 'aten::sigmoid'} <= set(prof['skipped_ops'])
    assert prof['torch'] == torch.__version__ and prof['timm']
    assert 'FLOPs = 2 x MACs' in prof['units']['gflops']
    json.dumps(prof, allow_nan=False)


class _ClockedModel(torch.nn.Module):
    """Each forward pass advances a fake clock by ``step_s`` (so pass times are exact, whatever the machine) and
    records the intra-op thread count it ran with."""

    def __init__(self, step_s):
        super().__init__()
        self.step_s, self.now, self.passes, self.threads = step_s, 0.0, 0, set()

    def clock(self):
        return self.now

    def forward(self, x):
        self.now += self.step_s
        self.passes += 1
        self.threads.add(torch.get_num_threads())
        return x


class _FakeTimer:
    """Stands in for ``torch.utils.benchmark.Timer``: records its arguments, runs the statement once."""
    made = []

    def __init__(self, stmt, globals, num_threads):
        self.stmt, self.globals, self.num_threads = stmt, globals, num_threads
        _FakeTimer.made.append(self)

    def blocked_autorange(self, min_run_time):
        self.min_run_time = min_run_time
        self.globals['forward']()
        return types.SimpleNamespace(median=0.0042)


@pytest.mark.parametrize('step_s, budget_s, timed_passes, expected_ms', [
    (0.03, 0.1, 3, 30.0),  # slow path: floor(budget / warm-up) passes after the warm-up
    (0.5, 0.1, 1, 500.0),  # a pass longer than the whole budget: timed once (plus the warm-up)
    (0.03, 1e-9, 1, 30.0),
    (0.001, 0.05, None, 4.2),  # 20 passes fit in the budget: blocked_autorange(min_run_time=budget) measures
])
def test_latency_method_and_passes_are_the_documented_ones(monkeypatch, step_s, budget_s, timed_passes,
                                                           expected_ms):
    """measure_latency's documented rule, on a fake clock: which method measures, how many passes the slow path
    times, the median it reports, and the thread count used (restored afterwards)."""
    model = _ClockedModel(step_s)
    monkeypatch.setattr(profile, 'time', types.SimpleNamespace(perf_counter=model.clock))
    monkeypatch.setattr(profile, '_import_benchmark', lambda: types.SimpleNamespace(Timer=_FakeTimer))
    _FakeTimer.made.clear()
    threads = torch.get_num_threads()
    latency = measure_latency(model, (1, 4, 4), threads=2, budget_s=budget_s)
    assert latency == pytest.approx(expected_ms)
    assert model.threads == {2} and torch.get_num_threads() == threads
    if timed_passes is None:
        timer, = _FakeTimer.made
        assert timer.min_run_time == budget_s and timer.num_threads == 2 and model.passes == 2
    else:
        assert not _FakeTimer.made and model.passes == 1 + timed_passes


def _cli(argv):
    return add_arguments(argparse.ArgumentParser()).parse_args(argv)


def test_cli_custom_variant_writes_json_atomically(tmp_path):
    out = tmp_path / 'sub' / 'custom.json'
    run_cli(_cli(['--variant', 'proftest_custom', '--depth', '1.2', '--width', '0.75', '--resolution', '1.0',
                  '--num-classes', '10', '--in-chans', '1', '--base-resolution', '32', '--no-latency', '--out',
                  str(out)]))
    prof = json.loads(out.read_text())
    assert (prof['variant'], prof['depth'], prof['width'], prof['input_size']) == ('proftest_custom', 1.2, 0.75, 32)
    assert prof['cpu_latency_ms'] is None and prof['gflops'] == 2 * prof['gmacs']
    assert [p.name for p in out.parent.iterdir()] == ['custom.json']  # no temporary file left behind
    with pytest.raises(ValueError, match='already registered'):
        run_cli(_cli(['--variant', 'proftest_custom', '--depth', '2', '--width', '1', '--resolution', '1',
                      '--no-latency']))
    b1 = run_cli(_cli(['--variant', 'effscale_b1', '--depth', '1.1', '--width', '1.0', '--resolution',
                       repr(240 / 224), '--base-resolution', '32', '--no-latency']))
    assert (b1['depth'], b1['input_size']) == (1.1, 36)  # a built-in name with its own multipliers: accepted
    with pytest.raises(ValueError, match='already registered'):  # ... with another dropout: refused
        run_cli(_cli(['--variant', 'effscale_b1', '--dropout', '0.5', '--no-latency']))
    with pytest.raises(ValueError, match='unknown variant'):
        run_cli(_cli(['--variant', 'proftest_nowhere', '--no-latency']))
    half = run_cli(_cli(['--variant', 'proftest_half', '--depth', '2', '--base-resolution', '32', '--no-latency']))
    assert (half['depth'], half['width'], half['resolution']) == (2.0, 1.0, 1.0)  # a new name: B0's other axes


B0_REPEATS = [1, 2, 2, 3, 3, 4, 1]
B0_STAGE_CHANNELS = [16, 24, 40, 80, 112, 192, 320]


def test_geometry_as_built_at_224(table):
    """B0 at 224 px: the paper's Table 1 stages, each stage's map measured (112 ... 7), a 7x7 final map."""
    b0, b1 = table[0], table[1]
    assert b0['stage_repeats'] == B0_REPEATS and b0['stage_channels'] == B0_STAGE_CHANNELS
    assert b0['stage_feature_maps'] == [[112, 112], [56, 56], [28, 28], [14, 14], [14, 14], [7, 7], [7, 7]]
    assert b0['final_feature_map'] == [7, 7] and b0['head_channels'] == 1280 and b0['px_over_base'] == 1.0
    assert b1['stage_repeats'] == [math.ceil(r * 1.1) for r in B0_REPEATS] == [2, 3, 3, 4, 4, 5, 2]
    assert b1['final_feature_map'] == [8, 8]  # 240 px / 32 = 7.5, rounded up by the 'same' padding
    assert b1['px_over_base'] == pytest.approx(240 / 224)


def test_geometry_as_built_at_32():
    """At a 32 px base B0 downsamples to 1x1: its last two stages run on a single pixel; B1 (36 px) ends at 2x2 and
    its effective resolution multiplier as built is 36 / 32 = 1.125, not the nominal 240 / 224."""
    b0 = profile_variant('effscale_b0', num_classes=10, in_chans=1, base_resolution=32, latency=False,
                         activations=False)
    assert b0['final_feature_map'] == [1, 1] and b0['stage_repeats'] == B0_REPEATS
    assert b0['stage_feature_maps'] == [[16, 16], [8, 8], [4, 4], [2, 2], [2, 2], [1, 1], [1, 1]]
    b1 = profile_variant('effscale_b1', num_classes=10, in_chans=1, base_resolution=32, latency=False,
                         activations=False)
    assert b1['input_size'] == 36 and b1['px_over_base'] == 1.125 and b1['final_feature_map'] == [2, 2]
    assert json.loads(json.dumps(b0, allow_nan=False))['final_feature_map'] == [1, 1]


def test_geometry_hooks_leave_the_model_as_found():
    import timm
    from effscale_timm.profile import variant_geometry
    model = timm.create_model('effscale_width_b0', num_classes=10, in_chans=1, base_resolution=32).train()
    geometry = variant_geometry(model, (1, 32, 32), 32)
    assert geometry['stage_channels'] == [2 * c for c in B0_STAGE_CHANNELS] and geometry['head_channels'] == 2560
    assert model.training and all(not s._forward_hooks for s in model.blocks)
