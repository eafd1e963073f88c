# Shared definitions. Parse-time code here only validates the config and defines names, paths and input functions:
# it builds no network, measures nothing and writes nothing (cluster jobs parse this file again). Variant
# multipliers (FLOP matching included) and the dataset's shape are resolved when a job's params are first needed.
import functools
import shlex

from snakemake.exceptions import WorkflowError

from effscale_timm.config import (
    ConfigError,
    check_config,
    dataset_shape,
    resolve_variants,
    validate_config,
    variant_args,
    variant_names,
)
from effscale_timm.data.prepared import remove_if_corrupt
from effscale_timm.locks import clear_stale_locks
from effscale_timm.models import NAME_PATTERN
from effscale_timm.scaling import round_resolution
from effscale_timm.train.options import config_to_args

try:
    validate_config(config, workflow.source_path("../schemas/config.schema.yaml"))
    check_config(config)
except ConfigError as e:
    raise WorkflowError(f"config error: {e}") from None

DATASET = config["dataset"]
SEEDS = config["seeds"]
VARIANTS = variant_names(config)
PREPARED = f"results/data/{DATASET}.npz"


@functools.cache
def variant_specs():
    """{name: multipliers} of every variant: custom ones registered, FLOP-matched ones solved (or read from the
    cache results/flop_match.json)."""
    try:
        return resolve_variants(config, cache="results/flop_match.json")
    except ConfigError as e:
        raise WorkflowError(f"config error: {e}") from None


@functools.cache
def gpus_per_train():
    """1 when trainings use a GPU (device cuda, or auto on a machine with one), else 0."""
    device = str(config.get("device", "auto"))
    if device == "auto":
        import torch

        return int(torch.cuda.is_available())
    return int(device.startswith("cuda"))


def largest_input():
    """The largest input side any variant needs: image folders are stored up to it (never above their own size)."""
    base = config["base_resolution"]
    return max(
        round_resolution(s["resolution"], base) for s in variant_specs().values()
    )


def run_dir(variant, seed):
    return f"results/runs/{DATASET}/{variant}/seed{seed}"


def train_args(wildcards):
    """`effscale train` arguments: the config's training keys (RunConfig's fields) and the variant's multipliers."""
    args = config_to_args(config, variant_specs()[wildcards.variant])
    return " ".join(shlex.quote(a) for a in args)


LR_SWEEP = config.get("lr_sweep")


def lr_text(lr):
    """A rate as it appears in sweep paths (and is parsed back by --lr): repr of the float."""
    return repr(float(lr))


def sweep_finals(variant):
    return [
        f"results/sweep/{DATASET}/{variant}/lr{lr_text(lr)}/final.json"
        for lr in LR_SWEEP["rates"]
    ]


def chosen_lr(wildcards):
    """The train job's chosen-rate file when the config sweeps rates, else nothing."""
    return (
        f"results/sweep/{DATASET}/{wildcards.variant}/chosen.json" if LR_SWEEP else []
    )


def sweep_args(wildcards):
    """`effscale train` arguments of a sweep run: the study's, with lr_sweep.epochs epochs."""
    short = dict(config, epochs=LR_SWEEP["epochs"])
    args = config_to_args(short, variant_specs()[wildcards.variant])
    return " ".join(shlex.quote(a) for a in args)


def profile_args(wildcards):
    """`effscale profile` arguments: the variant's multipliers at the dataset's classes, channels and base."""
    num_classes, in_chans = dataset_shape(config)
    args = variant_args(variant_specs()[wildcards.variant])
    args += ["--num-classes", num_classes, "--in-chans", in_chans]
    args += ["--base-resolution", config["base_resolution"]]
    return " ".join(str(a) for a in args)


RUN_FINALS = [f"{run_dir(v, s)}/final.json" for v in VARIANTS for s in SEEDS]
RUN_METRICS = [f"{run_dir(v, s)}/metrics.csv" for v in VARIANTS for s in SEEDS]
RUN_PREDICTIONS = [
    f"{run_dir(v, s)}/test_predictions.npz" for v in VARIANTS for s in SEEDS
]
PROFILES = [f"results/profile/{DATASET}/{v}.json" for v in VARIANTS]
CAMS = [f"results/cam/{DATASET}/{v}.npz" for v in VARIANTS]
REPORT_OUTPUTS = [
    "reports/table1.md",
    "reports/accuracy_vs_flops.png",
    "reports/cams.png",
]


wildcard_constraints:
    variant=NAME_PATTERN.strip("^$"),
    seed=r"\d+",
    lr=r"[0-9.e+-]+",
    dataset=r"[a-z0-9_]+",
