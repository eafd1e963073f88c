"""The GPU suite's smoke run (``benchmarks/gpu_suite.py --smoke``): the same code as the GPU check, on the CPU at toy
sizes, so that a typo never costs GPU minutes; and with fvcore, pytorch_grad_cam, snakemake and pandas made
unimportable in every process (the GPU image lacks them), so that the GPU run cannot fail on an import."""
import re
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT, cli_env

pytestmark = pytest.mark.slow  # starts processes or runs Snakemake: `make test`, not `make test-fast`

BLOCKED = ('fvcore', 'pytorch_grad_cam', 'snakemake', 'pandas')

# Imported by every Python process that has its folder on PYTHONPATH (the suite and its `effscale train` children).
# A None in sys.modules is how Python spells "absent": `import pandas` raises ModuleNotFoundError and
# importlib.util.find_spec('pandas') returns None (torch probes optional modules that way). Import statements that
# name a blocked module are also logged, so the test sees even attempts whose ImportError was caught.
SITECUSTOMIZE = textwrap.dedent(f'''
    import builtins, os, sys

    BLOCKED = {BLOCKED!r}
    for _name in BLOCKED:
        sys.modules[_name] = None
    _import = builtins.__import__

    def _logged_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and name.split('.')[0] in BLOCKED:
            with open(os.environ['BLOCKED_IMPORTS_LOG'], 'a') as f:
                f.write(f'{{os.getpid()}} {{name}}\\n')
        return _import(name, globals, locals, fromlist, level)

    builtins.__import__ = _logged_import
''')

NUMBER = re.compile(r'^-?[\d,]+(\.\d+)?×?$')


def _blocking_env(tmp_path):
    site = tmp_path / 'site'
    site.mkdir()
    (site / 'sitecustomize.py').write_text(SITECUSTOMIZE)
    env = cli_env()
    env['PYTHONPATH'] = f'{site}:{env["PYTHONPATH"]}'
    env['BLOCKED_IMPORTS_LOG'] = str(tmp_path / 'blocked.log')
    return env


def _rows(table: str):
    """{section number: [cells of each row]} of the suite's markdown table."""
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if line.startswith('| ') and cells[0][:1].isdigit():
            rows.setdefault(int(cells[0].split()[0]), []).append(cells)
    return rows


@pytest.fixture(scope='module')
def smoke(digits_npz, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('gpu_suite')
    env = _blocking_env(tmp)
    out = tmp / 'gpu_suite.md'
    proc = subprocess.run([sys.executable, str(ROOT / 'benchmarks' / 'gpu_suite.py'), '--smoke', '--data',
                           str(digits_npz), '--out', str(out), '--work', str(tmp / 'work')],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    log = tmp / 'blocked.log'
    return {'stdout': proc.stdout, 'stderr': proc.stderr, 'out': out.read_text(), 'env': env,
            'blocked': log.read_text() if log.exists() else ''}


def test_the_blocker_blocks(smoke):
    """The finder is active in child processes: an installed fvcore cannot be imported under it."""
    proc = subprocess.run([sys.executable, '-c', 'import fvcore'], capture_output=True, text=True, env=smoke['env'])
    assert proc.returncode != 0 and 'import of fvcore halted; None in sys.modules' in proc.stderr, proc.stderr


def test_smoke_imports_nothing_the_gpu_image_lacks(smoke):
    """Not even an attempt (a caught ImportError would pass on the GPU image, but nothing here needs one)."""
    assert smoke['blocked'] == '', f'imports of modules the GPU image lacks:\n{smoke["blocked"]}'


def test_smoke_table_has_every_section_with_numbers(smoke):
    table = smoke['stdout']
    assert smoke['out'] == table[table.index('# effscale GPU suite'):]
    for head in ('card: ', 'torch ', 'timm ', 'torchvision ', 'command: python '):
        assert head in table
    rows = _rows(table)
    assert sorted(rows) == [1, 2, 3, 4, 5], table
    assert len(rows[1]) == 2 and len(rows[4]) == 2, table  # two baselines at 32 px; B0 and B1
    for section in (1, 2, 3, 4):
        for cells in rows[section]:
            assert all(NUMBER.match(c) for c in cells[2:5]), cells
    for cells in rows[1] + rows[4]:
        assert re.search(r'≥ [\d.]+×: (PASS|FAIL)', cells[5]), cells
    accuracy = rows[5][0]
    assert NUMBER.match(accuracy[2]) and re.search(r'wall [\d.]+ s', accuracy[6]), accuracy


def test_smoke_reports_time_per_part(smoke):
    for part in ('end-to-end img/s', 'CUDA graphs', 'packing', 'memory budget', 'accuracy'):
        assert re.search(rf'part \d \({re.escape(part)}\) took [\d.]+ s', smoke['stderr']), part
