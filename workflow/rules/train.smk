# One training per variant x seed. Epoch checkpoints live in results/ckpt/<run key>/, outside the outputs
# (Snakemake deletes the outputs of an incomplete job), so the same command resumes a killed training.
rule train:
    input:
        data=PREPARED,
        lr=chosen_lr,
        spec=spec_inputs,  # a search member's multipliers (chosen.json, a match file)
    output:
        final="results/runs/{dataset}/{variant}/seed{seed}/final.json",
        metrics="results/runs/{dataset}/{variant}/seed{seed}/metrics.csv",
        model="results/runs/{dataset}/{variant}/seed{seed}/model.pt",
        predictions="results/runs/{dataset}/{variant}/seed{seed}/test_predictions.npz",
    log:
        "logs/train/{dataset}/{variant}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{dataset}/{variant}/seed{seed}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: config.get("threads", 2)
    resources:
        gpu=lambda w: gpus_per_train(),
        gpu_slots=lambda w: gpus_per_train(),
        mem_mb=config.get("train_mem_mb", 8000),
        runtime=config.get("train_runtime_min", 60),
    params:
        args=train_args,
        spec=spec_args,
        lr_from=lr_from,
        out_dir=lambda w, output: Path(output.final).parent,
    shell:
        "effscale train --variant {wildcards.variant} --data {input.data} --out-dir {params.out_dir} "
        "--threads {threads} {params.args} {params.spec} {params.lr_from} 2> {log}"


# The budget check (config `budget_check`): the compound rows and their matched axes trained again at budget_check
# times the epochs, with the same seeds and learning rates; the report says whether each verdict holds there.
use rule train as budget_train with:
    output:
        final="results/budget/{dataset}/{variant}/seed{seed}/final.json",
        metrics="results/budget/{dataset}/{variant}/seed{seed}/metrics.csv",
        model="results/budget/{dataset}/{variant}/seed{seed}/model.pt",
        predictions="results/budget/{dataset}/{variant}/seed{seed}/test_predictions.npz",
    log:
        "logs/budget/{dataset}/{variant}/seed{seed}.log",
    benchmark:
        "results/benchmarks/budget/{dataset}/{variant}/seed{seed}.tsv"
    params:
        args=budget_args,
