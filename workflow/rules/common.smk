# Shared definitions. Parse-time code here only validates the config and defines names, paths and input functions:
# it builds no network, measures nothing and writes nothing (cluster jobs parse this file again). Variant
# multipliers (FLOP matching included) and the dataset's shape are resolved when a job's params are first needed.
import errno
import functools
import math
import shlex
from pathlib import Path

from snakemake.exceptions import WorkflowError

from effscale_timm.config import (
    ConfigError,
    budget_variants,
    check_config,
    dataset_shape,
    resolve_variants,
    validate_config,
    variant_args,
    variant_names,
)
from effscale_timm.data.prepared import remove_if_corrupt
from effscale_timm.files.search_files import read_search_file
from effscale_timm.locks import clear_stale_locks
from effscale_timm.models import NAME_PATTERN
from effscale_timm.scaling import round_resolution
from effscale_timm.search.family import (
    lr_variant,
    member_names,
    member_spec,
    phi_code,
    spec_source,
    strategy_member,
)
from effscale_timm.search.grid import is_candidate
from effscale_timm.train.lr_sweep import default_rates
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


SEARCH = config.get("search") or {}
SEARCH_PHI = SEARCH.get("search_phi", 1)
FITTED_PHIS = list(range(1, SEARCH["phis"] + 1)) if SEARCH else []
FRACTIONAL_PHIS = SEARCH.get("fractional_phis") or []
HOLD_OUT_PHIS = [SEARCH["hold_out_phi"]] if SEARCH.get("hold_out_phi") else []
SEARCH_PHIS = (
    FITTED_PHIS + FRACTIONAL_PHIS + HOLD_OUT_PHIS
)  # every phi with a match file
HALVING = SEARCH.get("halving")
DESIGN = config.get("design_space") or {}


SEARCH_FILES = dict(
    chosen=f"results/search/{DATASET}/chosen.json",
    match_dir=f"results/search/{DATASET}/match",
    samples=f"results/design_space/{DATASET}/samples.json",
)


def match_file(phi):
    return f"results/search/{DATASET}/match/phi{phi_code(phi)}.json"


@functools.cache
def spec_of(name):
    """Multipliers of a configured variant, or of a search candidate or family member (resolved when a job needs
    them: the found family reads chosen.json, the FLOP-matched variants their match file, both inputs of the job).
    """
    if VARIANTS and name in variant_specs():
        return variant_specs()[name]
    source = spec_source(name, **SEARCH_FILES)
    if source and not Path(source).exists():
        # Snakemake defers (<TBD>) a parameter whose function raises FileNotFoundError for one of the job's inputs,
        # until that input is made (a match file is made by search_match, after the DAG is built).
        raise FileNotFoundError(errno.ENOENT, "not made yet", str(source))
    spec = member_spec(name, **SEARCH_FILES)
    if spec is None:
        raise WorkflowError(f"{name}: neither a configured variant nor a search member")
    return spec


def static_spec(name):
    """A variant's multipliers when no file says them (a configured variant, a candidate, B0, the paper's family),
    else None: those of a member read from a file (chosen.json, a match file, the samples) are passed by
    ``spec_args``, a parameter derived from the input (the file's own change reruns the job).
    """
    return spec_of(name) if spec_source(name, **SEARCH_FILES) is None else None


def spec_args(wildcards, input):
    """The multipliers of a member read from a file (the job's `spec` input), else nothing."""
    return _args_text(variant_args(spec_of(wildcards.variant))) if input.spec else ""


def spec_inputs(wildcards):
    """The file a search member's multipliers are read from (the search family says which), else nothing."""
    name = wildcards.variant
    if VARIANTS and name in VARIANTS:
        return []
    source = spec_source(name, **SEARCH_FILES)
    return str(source) if source else []


def shape_args(tolerance):
    """--base-resolution/--num-classes/--in-chans/--tolerance of the search's and design-space steps."""
    num_classes, in_chans = dataset_shape(config)
    base = config["base_resolution"]
    return f"--base-resolution {base} --num-classes {num_classes} --in-chans {in_chans} --tolerance {tolerance}"


def search_shape_args():
    return shape_args(SEARCH["tolerance"])


def search_grid_args():
    g = SEARCH["grid"]
    axes = " ".join(
        f"--{a} {' '.join(map(str, g[a]))}" for a in ("alpha", "beta", "gamma")
    )
    return f"{axes} --phi {SEARCH_PHI} {search_shape_args()}"


def _finals(root, names, seeds):
    return [f"{root}/{n}/seed{s}/final.json" for n in names for s in seeds]


def halving_finals(wildcards):
    """The short runs of successive halving: every compound candidate, every seed (after the grid checkpoint)."""
    grid = checkpoints.search_grid.get(dataset=DATASET).output[0]
    names = read_search_file(grid, "grid")["compound_candidates"]
    return _finals(f"results/halving/{DATASET}", names, SEEDS)


def candidate_finals(wildcards):
    """final.json of every seed of every candidate the choice reads: the grid's (after its checkpoint), or with
    successive halving the ones that went on and the single-axis references (after the halving checkpoint).
    """
    if HALVING:
        halving = checkpoints.search_halving.get(dataset=DATASET).output[0]
        names = read_search_file(halving, "halving")["candidates"]
    else:
        grid = checkpoints.search_grid.get(dataset=DATASET).output[0]
        names = read_search_file(grid, "grid")["candidates"]
    return _finals(f"results/runs/{DATASET}", names, SEEDS)


def search_report_finals(wildcards):
    """Every run the search report reads: the candidates, B0 and the families (after the choice checkpoint); the
    integer and held-out phi with every seed, the fractional phi with the first seed."""
    checkpoints.search_choice.get(dataset=DATASET)
    retrain = bool(SEARCH.get("epochs")) and SEARCH["epochs"] != config["epochs"]
    seeded = member_names(FITTED_PHIS + HOLD_OUT_PHIS, SEARCH_PHI, retrain)
    single = (
        member_names(FRACTIONAL_PHIS, SEARCH_PHI, retrain)[1:]
        if FRACTIONAL_PHIS
        else []
    )
    root = f"results/runs/{DATASET}"
    return (
        candidate_finals(wildcards)
        + _finals(root, seeded, SEEDS)
        + _finals(root, single, SEEDS[:1])
    )


def design_sample_args():
    d = DESIGN
    return (
        f"--regime {d['regime']} --samples {d['samples']} --seed {d['seed']} "
        f"--backbone {config['backbone']} {shape_args(d['tolerance'])}"
    )


def design_finals(wildcards):
    """The run of every design-space sample (after the sampling checkpoint), with the design's seed."""
    samples = checkpoints.design_sample.get(dataset=DATASET).output[0]
    names = list(read_search_file(samples, "samples")["members"])
    return _finals(f"results/design_space/{DATASET}/runs", names, [DESIGN["seed"]])


@functools.cache
def gpus_per_train():
    """GPUs one training uses: nproc_per_node when trainings use a GPU (device cuda, or auto on a machine with
    one), else 0. The train job asks for them as `gpu` (SLURM's --gpus) and as `gpu_slots` (the local limit that
    packs trainings_per_gpu trainings on each GPU; the entry point picks the GPU itself, with a slot lock).
    """
    device = str(config.get("device", "auto"))
    if device == "auto":
        import torch

        on_gpu = torch.cuda.is_available()
    else:
        on_gpu = device.startswith("cuda")
    return config.get("nproc_per_node", 1) if on_gpu else 0


def largest_input():
    """The largest input side any variant needs: image folders are stored up to it (never above their own size).
    A search stores them at 4x the base (its families are only known after the choice), a design-space study at
    sqrt(2 x regime) x the base (a sample's resolution is at most sqrt(T), its scale T stays below about 2x regime).
    """
    base = config["base_resolution"]
    sizes = [round_resolution(s["resolution"], base) for s in variant_specs().values()]
    sizes += [round_resolution(4.0, base)] if SEARCH else []
    sizes += [round_resolution(math.sqrt(2 * DESIGN["regime"]), base)] if DESIGN else []
    return max(sizes)


def run_dir(variant, seed):
    return f"results/runs/{DATASET}/{variant}/seed{seed}"


def _args_text(args):
    return " ".join(shlex.quote(str(a)) for a in args)


def train_args(wildcards, epochs=None):
    """`effscale train` arguments of a run: its seed, the config's training keys (RunConfig's fields, ``epochs``
    overriding the study's) and the variant's multipliers. search.epochs applies to the search's candidates only
    (unless ``epochs`` is given). A function of the wildcards alone: Snakemake reruns a job when such a parameter
    changes, and ignores parameters derived from the input (the chosen rate's file is passed by ``lr_from``).
    """
    if epochs is None:
        candidate = SEARCH.get("epochs") and is_candidate(wildcards.variant)
        epochs = SEARCH["epochs"] if candidate else config["epochs"]
    study = dict(config, epochs=epochs)
    args = ["--seed", wildcards.seed] + config_to_args(
        study, static_spec(wildcards.variant)
    )
    return _args_text(args)


def lr_from(wildcards, input):
    """`--lr-from <chosen.json>` when the config sweeps rates (its content is an input: a new choice reruns)."""
    return _args_text(["--lr-from", input.lr]) if input.lr else ""


def halving_args(wildcards):
    """`effscale train` arguments of successive halving's short run of a candidate."""
    return train_args(wildcards, epochs=HALVING["epochs"])


def design_train_args(wildcards):
    """`effscale train` arguments of a design-space sample: its seed, the study's keys with design_space.epochs,
    its multipliers (from the samples file); the configured rate for every sample (no sweep).
    """
    return train_args(wildcards, epochs=DESIGN.get("epochs") or config["epochs"])


BUDGET = config.get("budget_check")
BUDGET_VARIANTS = budget_variants(config) if BUDGET else []


def budget_args(wildcards):
    """`effscale train` arguments of a budget-check run: a study run's, at budget_check times the epochs."""
    return train_args(wildcards, epochs=BUDGET * config["epochs"])


LR_SWEEP = config.get("lr_sweep")
SWEEP_RATES = (
    (LR_SWEEP.get("rates") or default_rates(config["recipe"], config["batch_size"]))
    if LR_SWEEP
    else []
)


def lr_text(lr):
    """A rate as it appears in sweep paths (and is parsed back by --lr): repr of the float."""
    return repr(float(lr))


def sweep_finals(variant):
    return [
        f"results/sweep/{DATASET}/{variant}/lr{lr_text(lr)}/seed{seed}/final.json"
        for lr in SWEEP_RATES
        for seed in LR_SWEEP["seeds"]
    ]


def chosen_lr(wildcards):
    """The train job's chosen-rate file when the config sweeps rates (the search family says whose rate a search
    member uses: its own, or the paper's member at the search's phi for a candidate), else nothing.
    """
    source = lr_variant(wildcards.variant, SEARCH_PHI) if LR_SWEEP else None
    return f"results/sweep/{DATASET}/{source}/chosen.json" if source else []


def sweep_args(wildcards):
    """`effscale train` arguments of a sweep run: its seed and rate, the study's training keys with
    lr_sweep.epochs epochs, and the variant's multipliers."""
    short = dict(config, epochs=LR_SWEEP["epochs"])
    args = ["--seed", wildcards.seed, "--lr", wildcards.lr]
    return _args_text(args + config_to_args(short, static_spec(wildcards.variant)))


def profile_args(wildcards):
    """`effscale profile` arguments: the variant's multipliers at the dataset's classes, channels and base."""
    num_classes, in_chans = dataset_shape(config)
    args = variant_args(spec_of(wildcards.variant))
    args += ["--num-classes", num_classes, "--in-chans", in_chans]
    args += ["--base-resolution", config["base_resolution"]]
    return " ".join(str(a) for a in args)


RUN_FINALS = [f"{run_dir(v, s)}/final.json" for v in VARIANTS for s in SEEDS]
RUN_METRICS = [f"{run_dir(v, s)}/metrics.csv" for v in VARIANTS for s in SEEDS]
RUN_PREDICTIONS = [
    f"{run_dir(v, s)}/test_predictions.npz" for v in VARIANTS for s in SEEDS
]
BUDGET_FINALS = [
    f"results/budget/{DATASET}/{v}/seed{s}/final.json"
    for v in BUDGET_VARIANTS
    for s in SEEDS
]
LR_CHOICES = (
    [f"results/sweep/{DATASET}/{v}/chosen.json" for v in VARIANTS] if LR_SWEEP else []
)
PROFILES = [f"results/profile/{DATASET}/{v}.json" for v in VARIANTS]
CAMS = [f"results/cam/{DATASET}/{v}.npz" for v in VARIANTS]
REPORT_OUTPUTS = (
    (
        [
            "reports/table1.md",
            "reports/accuracy_vs_flops.png",
            "reports/cams.png",
            "reports/training_curves.png",
            "reports/runs.csv",
            "reports/epochs.csv",
        ]
        if VARIANTS
        else []
    )
    + (
        [
            "reports/search.md",
            "reports/scaling_law.png",
            "reports/search_runs.csv",
            "reports/search_epochs.csv",
        ]
        if SEARCH
        else []
    )
    + (
        [
            "reports/design_space.md",
            "reports/design_space.png",
            "reports/design_space_runs.csv",
            "reports/design_space_epochs.csv",
        ]
        if DESIGN
        else []
    )
)


wildcard_constraints:
    variant=NAME_PATTERN.strip("^$"),
    seed=r"\d+",
    lr=r"[0-9.e+-]+",
    dataset=r"[a-z0-9_]+",
    phi=r"\d+(p\d+)?",
