"""effscale_timm.search.steps on files: successive halving's round and the choice read run records the way the
workflow hands them over (a grid file, final.json files), on fixed numbers."""
import pytest

from effscale_timm.atomic import write_json
from effscale_timm.files.run_record import RunRecord, write_run
from effscale_timm.search.steps import choose_candidate, halve

COMPOUND = ['effscale_s2_a110_b130_g100', 'effscale_s2_a120_b110_g110', 'effscale_s2_a125_b100_g120',
            'effscale_s2_a130_b120_g100', 'effscale_s2_a140_b120_g100']
REFERENCE = 'effscale_s2_a100_b100_g130'


@pytest.fixture
def grid_file(tmp_path):
    return write_json(tmp_path / 'grid.json', {'phi': 2.0, 'candidates': COMPOUND + [REFERENCE],
                                               'compound_candidates': COMPOUND, 'kept': COMPOUND,
                                               'b0_macs': 1.0e6})


def _runs(tmp_path, scores, epochs=5):
    paths = []
    for name, values in scores.items():
        for seed, v in enumerate(values):
            paths.append(write_run(tmp_path / 'runs' / name / f'seed{seed}', RunRecord(
                variant=name, seed=seed, status='ok' if v is not None else 'failed', final_val_top1=v,
                test_top1=None if v is None else 50.0, epochs=epochs)))
    return paths


def test_halving_keeps_the_better_half_of_the_compound_candidates_and_the_references(tmp_path, grid_file):
    scores = dict(zip(COMPOUND, ([70, 71], [75, 74], [60, None], [None, None], [72, 73])))
    out = halve(grid_file, _runs(tmp_path, scores), 0.5, tmp_path / 'halving.json')
    # ceil(5 / 2) = 3 go on, best mean validation first; a candidate without a usable run never does
    assert out['going_on'] == [COMPOUND[1], COMPOUND[4], COMPOUND[0]]
    assert out['candidates'] == out['going_on'] + [REFERENCE] and out['epochs'] == 5
    assert out['scores'][COMPOUND[2]] == 60 and out['scores'][COMPOUND[3]] is None
    assert (tmp_path / 'halving.json').exists()


def test_the_choice_reads_only_compound_candidates_and_says_when_it_is_a_tie(tmp_path, grid_file):
    scores = {COMPOUND[0]: [80.0, 80.2, 79.9], COMPOUND[1]: [80.1, 79.8, 80.3], REFERENCE: [90.0, 91.0, 90.5]}
    chosen = choose_candidate(grid_file, _runs(tmp_path, scores, epochs=15), tmp_path / 'chosen.json')
    assert chosen['name'] in COMPOUND[:2] and chosen['tie'] and not chosen['clear'] and chosen['phi'] == 2.0
    assert [r['name'] for r in chosen['references']] == [REFERENCE]
    assert chosen['paper']['member'] == 'effscale_paper_phi2' and chosen['paper']['name'] == \
        'effscale_s2_a120_b110_g115'
    with pytest.raises(ValueError, match='are not candidates'):
        choose_candidate(grid_file, _runs(tmp_path, {'effscale_b0': [1.0]}), tmp_path / 'x.json')
