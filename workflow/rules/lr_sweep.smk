# Optional per-variant learning rate, chosen on validation (config `lr_sweep`): short runs at each rate (the train
# rule with the sweep's seed, rate and epochs), then the best by final validation top-1 (effscale choose-lr). The real
# train jobs read the choice with --lr-from.
use rule train as sweep_train with:
    input:
        data=PREPARED,
        spec=spec_inputs,
    output:
        final="results/sweep/{dataset}/{variant}/lr{lr}/final.json",
        metrics="results/sweep/{dataset}/{variant}/lr{lr}/metrics.csv",
        model="results/sweep/{dataset}/{variant}/lr{lr}/model.pt",
        predictions="results/sweep/{dataset}/{variant}/lr{lr}/test_predictions.npz",
    log:
        "logs/sweep/{dataset}/{variant}/lr{lr}.log",
    benchmark:
        "results/benchmarks/sweep/{dataset}/{variant}/lr{lr}.tsv"
    params:
        args=sweep_args,


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
