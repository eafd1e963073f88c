"""The verdict's calibration, quick: 200 simulated studies per scenario through the report's own comparison code
(benchmarks/calibration.py --quick): the false "better/worse" rate is at most 5% and the power at the stated MDE at
least 80%, each within three Monte-Carlo standard errors. The full table is in benchmarks/RESULTS.md."""
import math
import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / 'benchmarks'))
import calibration  # noqa: E402


def test_false_verdicts_and_power_at_the_stated_mde():
    design = calibration.DESIGNS[1]
    result = calibration.run_design(design, studies=200, margin=0.5, seed=0)
    n = result['studies']
    false = (result['better'] + result['worse']) / n
    assert false <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / n)
    assert result['power'] / n >= 0.8 - 3 * math.sqrt(0.8 * 0.2 / n)
    assert 0.2 < result['sd'] < 2.0 and result['mde'] > 0  # a realistic seed spread (test-set churn included)
    assert '| 5 | 3,925 |' in calibration.table([result], 0.5)
