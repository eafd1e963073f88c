"""The workflow's code style as the Snakemake workflow catalog checks it: ``snakefmt --check`` on the Snakefile and
every rule file. (``snakemake --lint`` is tests/workflow/test_pipeline.py::test_lint_is_clean.)"""
import re
import subprocess

import pytest

from conftest import BIN, ROOT, cli_env

pytestmark = pytest.mark.slow  # starts processes or runs Snakemake: `make test`, not `make test-fast`

SNAKEFMT = BIN / 'snakefmt'
TARGETS = ['Snakefile', 'workflow/']


def test_snakefmt_check_is_clean():
    assert SNAKEFMT.exists(), f'{SNAKEFMT} is missing: install the test extra (pip install -c constraints.txt -e .[test])'
    proc = subprocess.run([str(SNAKEFMT), '--check', *TARGETS], cwd=ROOT, capture_output=True, text=True,
                          env=cli_env(), timeout=120)
    if proc.returncode != 0:
        diff = subprocess.run([str(SNAKEFMT), '--diff', *TARGETS], cwd=ROOT, capture_output=True, text=True,
                              env=cli_env(), timeout=120)
        raise AssertionError(f'snakefmt --check failed ({proc.returncode}); run `snakefmt Snakefile workflow/`:\n'
                             f'{proc.stderr[-2000:]}\n{diff.stdout[-6000:]}')


def test_snakefmt_sees_every_rule_file():
    """--check passes trivially on files it does not look at: it must count the Snakefile and each .smk."""
    proc = subprocess.run([str(SNAKEFMT), '--check', *TARGETS], cwd=ROOT, capture_output=True, text=True,
                          env=cli_env(), timeout=120)
    text = proc.stdout + proc.stderr
    checked = sum(int(n) for n in re.findall(r'(\d+) file\(s\) would be', text))
    assert checked == 1 + len(list((ROOT / 'workflow').rglob('*.smk'))), text[-2000:]
