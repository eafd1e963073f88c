"""The run record (effscale_timm.files.run_record): final.json written and read back as one typed dataclass, the one
rule for a usable run, and what a study makes of a missing or damaged record."""
import json

import pytest

from effscale_timm.files.run_record import (FINAL, RunRecord, read_run, read_study_run, record_path, usable_runs,
                                            variant_seed_of, write_run)


def _record(**changes):
    fields = dict(variant='effscale_b0', seed=3, status='ok', test_top1=81.5, final_val_top1=82.0, epochs=2,
                  lr=0.004, hardware='cpu')
    return RunRecord(**{**fields, **changes})


def test_a_record_round_trips_through_final_json(tmp_path):
    run_dir = tmp_path / 'effscale_b0' / 'seed3'
    path = write_run(run_dir, _record())
    assert path == record_path(run_dir) and path.name == FINAL
    back = read_run(path)
    assert back == _record() and back.path == str(path) and back.run_dir == run_dir
    assert 'path' not in json.loads(path.read_text())  # where it was read is not part of the record


@pytest.mark.parametrize('changes, usable', [
    ({}, True),
    ({'status': 'failed'}, False),
    ({'test_top1': None}, False),  # ok without a test accuracy does not count
    ({'final_val_top1': float('nan')}, False),
    ({'test_top1': True}, False),  # a boolean is not an accuracy
])
def test_one_rule_for_a_usable_run(changes, usable):
    assert _record(**changes).usable is usable
    assert usable_runs([_record(**changes)]) == ([_record(**changes)] if usable else [])


def test_an_unknown_status_is_refused_on_writing(tmp_path):
    with pytest.raises(ValueError, match='status'):
        write_run(tmp_path, _record(status='stopped'))


@pytest.mark.parametrize('content, what', [
    (b'', 'an empty run record'),
    (b'{"variant": "x"', 'not a readable run record'),
    (bytes(range(256)), 'not a readable run record'),
    (b'[1, 2]', 'not a run record'),
    (b'{"variant": "x", "seed": 0, "status": "great"}', 'not a run record'),
])
def test_a_damaged_record_is_one_line_naming_the_file(tmp_path, content, what):
    path = tmp_path / FINAL
    path.write_bytes(content)
    with pytest.raises(ValueError, match=what) as err:
        read_run(path)
    assert str(path) in str(err.value) and '\n' not in str(err.value)


def test_a_study_counts_a_missing_record_as_missing_and_a_damaged_one_as_failed(tmp_path):
    path = tmp_path / 'runs' / 'effscale_width_b0' / 'seed2' / FINAL
    assert variant_seed_of(path) == ('effscale_width_b0', 2)
    missing = read_study_run(path)
    assert (missing.variant, missing.seed, missing.status) == ('effscale_width_b0', 2, 'missing')
    path.parent.mkdir(parents=True)
    path.write_text('{')
    failed = read_study_run(path)
    assert failed.status == 'failed' and str(path) in failed.error
    with pytest.raises(ValueError, match='does not name'):
        read_study_run(tmp_path / 'elsewhere.json')
