# Optional per-variant learning rate, chosen on validation (config `lr_sweep`): short runs at each rate, then the
# best by final validation top-1 (effscale choose-lr). The real train jobs read the choice with --lr-from.
rule sweep_train:
    input:
        data=PREPARED,
    output:
        final="results/sweep/{dataset}/{variant}/lr{lr}/final.json",
        metrics="results/sweep/{dataset}/{variant}/lr{lr}/metrics.csv",
        model="results/sweep/{dataset}/{variant}/lr{lr}/model.pt",
        predictions="results/sweep/{dataset}/{variant}/lr{lr}/test_predictions.npz",
    log:
        "logs/sweep/{dataset}/{variant}/lr{lr}.log",
    benchmark:
        "results/benchmarks/sweep/{dataset}/{variant}/lr{lr}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: config.get("threads", 2)
    resources:
        gpu=lambda w: gpus_per_train(),
        gpu_slots=lambda w: gpus_per_train(),
        mem_mb=config.get("train_mem_mb", 8000),
        runtime=config.get("train_runtime_min", 60),
    params:
        args=sweep_args,
        seed=lambda w: config["lr_sweep"].get("seed", SEEDS[0]),
        out_dir=lambda w, output: Path(output.final).parent,
    shell:
        "effscale train --variant {wildcards.variant} --seed {params.seed} --lr {wildcards.lr} "
        "--data {input.data} --out-dir {params.out_dir} --threads {threads} {params.args} 2> {log}"


rule choose_lr:
    input:
        lambda w: sweep_finals(w.variant),
    output:
        "results/sweep/{dataset}/{variant}/chosen.json",
    log:
        "logs/sweep/{dataset}/{variant}/choose.log",
    conda:
        "../../envs/train.yaml"
    shell:
        "effscale choose-lr --runs {input} --out {output} 2> {log}"
