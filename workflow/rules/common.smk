# Shared helpers: config validation (before any job), the variant list, paths and per-rule arguments.
import logging
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from effscale_timm.config import ConfigError, dataset_shape, resolve_variants, variant_args
from effscale_timm.data.prepared import checksum_path, verify
from effscale_timm.locks import clear_stale_locks

validate(config, "../schemas/config.schema.yaml")
try:
    VARIANTS = resolve_variants(config, cache="results/flop_match.json")
except ConfigError as e:
    raise WorkflowError(f"config error: {e}") from None

# A run killed by SIGKILL leaves Snakemake's locks behind; remove them when their owner is dead, so that the same
# command resumes. A live run keeps its locks, and Snakemake refuses a second invocation.
if workflow.is_main_process and not workflow.dryrun:
    clear_stale_locks(".snakemake")

DATASET = config["dataset"]
SEEDS = config["seeds"]
PREPARED = f"results/data/{DATASET}.npz"

# A prepared dataset whose checksum does not match is removed here, so Snakemake rebuilds it (and what used it).
# Only the main process checks: cluster jobs parse this file too, while other jobs may be reading the dataset.
if workflow.is_main_process and Path(PREPARED).exists() and not verify(PREPARED):
    logging.getLogger("effscale").warning("%s fails its checksum; removing it so it is rebuilt", PREPARED)
    Path(PREPARED).unlink()
    checksum_path(PREPARED).unlink(missing_ok=True)


def _gpu_wanted():
    device = str(config.get("device", "auto"))
    if device.startswith("cuda"):
        return 1
    if device == "auto":
        import torch

        return int(torch.cuda.is_available())
    return 0


GPU_PER_TRAIN = _gpu_wanted()


def run_dir(variant, seed):
    return f"results/runs/{DATASET}/{variant}/seed{seed}"


def train_args(wildcards):
    """Arguments of `effscale train` that come from the config and the variant's multipliers."""
    args = [
        "--epochs", config["epochs"], "--recipe", config["recipe"], "--batch-size", config["batch_size"],
        "--device", config.get("device", "auto"), "--base-resolution", config["base_resolution"],
        *variant_args(VARIANTS[wildcards.variant]),
    ]
    for key in ("max_train_samples", "max_eval_samples", "lr", "memory_budget_gib"):
        if config.get(key) is not None:
            args += [f"--{key.replace('_', '-')}", config[key]]
    for key in ("deterministic", "compile", "grad_checkpointing"):
        if config.get(key):
            args.append(f"--{key.replace('_', '-')}")
    if not config.get("hflip", True):
        args.append("--no-hflip")
    return " ".join(str(a) for a in args)


NUM_CLASSES, IN_CHANS = dataset_shape(config)


def profile_args(wildcards):
    """Arguments of `effscale profile`: the variant's multipliers at the dataset's classes, channels and base."""
    args = variant_args(VARIANTS[wildcards.variant])
    args += ["--num-classes", NUM_CLASSES, "--in-chans", IN_CHANS, "--base-resolution", config["base_resolution"]]
    return " ".join(str(a) for a in args)


RUN_FINALS = [f"{run_dir(v, s)}/final.json" for v in VARIANTS for s in SEEDS]
PROFILES = [f"results/profile/{DATASET}/{v}.json" for v in VARIANTS]
CAMS = [f"results/cam/{DATASET}/{v}.npz" for v in VARIANTS]
REPORT_OUTPUTS = ["reports/table1.md", "reports/accuracy_vs_flops.png", "reports/cams.png"]


wildcard_constraints:
    variant=r"[a-z][a-z0-9_]*",
    seed=r"\d+",
    dataset=r"[a-z0-9_]+",
