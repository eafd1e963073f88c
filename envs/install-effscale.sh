#!/usr/bin/env bash
# The post-deploy script of every conda env in envs/: each envs/<env>.post-deploy.sh is a link to this file.
# Snakemake (`snakemake --sdm conda`) runs it inside the env it has just created, from its copy
# .snakemake/conda/<hash>.post-deploy.sh and in the run's working directory, so no path relative to this file or to
# the working directory leads back to the project. The Snakefile exports the project's folder as EFFSCALE_ROOT; the
# project is installed from there, editable (the env runs the project's current code, as .venv does) and without
# dependencies (the env file pins them, at constraints.txt's versions).
set -euo pipefail
root=${EFFSCALE_ROOT:-}
if [ -z "$root" ] || [ ! -f "$root/pyproject.toml" ]; then
    echo "effscale post-deploy: EFFSCALE_ROOT='$root' is not the effscale project (the project's Snakefile sets it)" >&2
    exit 1
fi
python -m pip install --quiet --no-deps --editable "$root"
