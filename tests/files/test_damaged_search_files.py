"""Fault injection for the coefficient search's and the design-space study's files (grid, halving, choice, match,
samples): each damaged four ways (cut short, random bytes, empty, a file of another kind) is one line naming the file
and the step that remakes it, from the reader (effscale_timm.files.search_files) and from the `effscale search` steps
that read them, with exit status 2 and no output written."""
import json

import pytest

from conftest import DAMAGE, damaged_bytes
from effscale_timm import cli
from effscale_timm.atomic import write_json
from effscale_timm.files.damage import DamagedFileError
from effscale_timm.files.run_record import RunRecord, write_run
from effscale_timm.files.search_files import SEARCH_FILES, read_member, read_search_file

CANDIDATE = 'effscale_s2_a120_b110_g115'
# A file of each kind with every key its writer writes (values as small as the readers allow).
GOOD = {
    'grid': {'phi': 2.0, 'kept': [], 'candidates': [CANDIDATE], 'compound_candidates': [CANDIDATE], 'b0_macs': 1e6},
    'halving': {'going_on': [CANDIDATE], 'references': [], 'candidates': [CANDIDATE]},
    'chosen': {'name': CANDIDATE, 'alpha': 1.2, 'beta': 1.1, 'gamma': 1.15, 'phi': 2.0},
    'match': {'members': {'effscale_paper_phi2': {'depth': 1.44, 'width': 1.21, 'resolution': 1.3225,
                                                  'dropout': 0.3, 'note': 'paper'}}},
    'samples': {'regime': 2.0, 'members': {}, 'b0_macs': 1e6},
}
OTHER = {'grid': 'chosen', 'halving': 'samples', 'chosen': 'match', 'match': 'grid', 'samples': 'halving'}


def _damaged(tmp_path, kind, how):
    bad = damaged_bytes(json.dumps(GOOD[kind]).encode(), how, json.dumps(GOOD[OTHER[kind]]).encode())
    path = tmp_path / f'{kind}.json'
    path.write_bytes(bad)
    return path


def test_the_good_files_read():
    assert set(GOOD) == set(SEARCH_FILES)
    for kind, content in GOOD.items():
        assert set(SEARCH_FILES[kind][2]) <= set(content)


@pytest.mark.parametrize('how', DAMAGE)
@pytest.mark.parametrize('kind', sorted(GOOD))
def test_a_damaged_search_file_is_one_error_naming_it_and_its_step(tmp_path, kind, how):
    path = _damaged(tmp_path, kind, how)
    with pytest.raises(DamagedFileError) as e:
        read_search_file(path, kind)
    what, step, _ = SEARCH_FILES[kind]
    assert str(e.value).startswith(f'{path}: ') and f'({step})' in str(e.value) and '\n' not in str(e.value)
    write_json(path, GOOD[kind])
    assert read_search_file(path, kind) == GOOD[kind]  # the same file, whole, reads


def test_a_member_missing_from_a_match_file_is_named(tmp_path):
    path = write_json(tmp_path / 'phi2.json', GOOD['match'])
    assert read_member(path, 'match', 'effscale_paper_phi2')['depth'] == 1.44
    with pytest.raises(DamagedFileError, match=r'without member effscale_found_phi2.*effscale search match'):
        read_member(path, 'match', 'effscale_found_phi2')


def _steps(tmp_path, bad):
    """`effscale search` steps that read a grid, a choice or a samples file, with ``bad`` in its place."""
    final = write_run(tmp_path / 'run', RunRecord(variant=CANDIDATE, seed=0, status='ok', final_val_top1=50.0,
                                                  test_top1=50.0, epochs=1))
    out = tmp_path / 'out'
    return {'grid': ['halve', '--grid', bad, '--runs', final, '--out', out / 'halving.json'],
            'chosen': ['match', '--phi', '2', '--chosen', bad, '--base-resolution', '32', '--num-classes', '10',
                       '--in-chans', '1', '--out', out / 'phi2.json'],
            'samples': ['design-report', '--samples', bad, '--runs', final, '--out-dir', out]}, out


@pytest.mark.parametrize('how', DAMAGE)
@pytest.mark.parametrize('kind', ['grid', 'chosen', 'samples'])
def test_a_search_step_given_a_damaged_file_says_so_in_one_line_and_writes_nothing(tmp_path, capsys, kind, how):
    bad = _damaged(tmp_path, kind, how)
    args, out = _steps(tmp_path, bad)
    capsys.readouterr()
    status = cli.main(['search'] + [str(a) for a in args[kind]])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if 'error' in line.lower()]
    assert status == 2 and 'Traceback' not in err, err
    assert len(lines) == 1 and lines[0].startswith(f'effscale search: error: {bad}: '), err
    assert 'run the same command again' in lines[0]
    assert not out.exists() or not any(out.iterdir())
