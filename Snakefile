# effscale: does compound scaling beat single-axis scaling? (Tan & Le, arXiv:1905.11946)
# prepare dataset -> train (variant x seed) -> profile -> CAMs -> reports/table1.md
#   snakemake --cores 8 --sdm conda        # the whole study (conda envs in envs/; Snakemake >= 8)
#   snakemake --cores 2 reports/table1.md  # just what the table needs
# Configuration: config.yaml (the CPU demo); config/full.yaml (the real study, on a GPU).
import os

from snakemake.utils import min_version

min_version("9.0")

# The conda envs' post-deploy script (envs/install-effscale.sh) installs effscale from the project's folder: Snakemake
# runs it from a copy in .snakemake/conda/, from where no relative path leads back here. (Set for the processes this
# one starts, not read from the user: hence no `envvars:` directive.)
os.environ.update(EFFSCALE_ROOT=os.path.abspath(workflow.basedir))


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


# Recovery after a killed run, in the main process of a real run only (not a dry run, not a cluster job): remove
# Snakemake's locks when their owner is dead, and a prepared dataset that fails its checksum, so that the same
# command resumes and rebuilds. This cannot wait for `onstart:`: Snakemake runs it only after it has checked its
# locks and decided what to rebuild.
if workflow.is_main_process and not workflow.dryrun:
    clear_stale_locks(".snakemake")
    remove_if_corrupt(PREPARED)


include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/lr_sweep.smk"  # reuses the train rule
include: "workflow/rules/profile.smk"
include: "workflow/rules/cam.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/search.smk"
include: "workflow/rules/export.smk"  # on demand: exports/{dataset}/{variant}/seed{seed}
include: "workflow/rules/design_space.smk"  # reuses the train rule


rule all:
    default_target: True
    input:
        PREPARED,  # so that a prepared file removed for a bad checksum is rebuilt (and what used it rerun)
        REPORT_OUTPUTS,
