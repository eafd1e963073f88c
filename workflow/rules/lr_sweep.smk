# Optional per-variant learning rate, chosen on validation (config `lr_sweep`): short runs at each rate and sweep
# seed (the train rule with the sweep's rate, seed and epochs), then the best mean final validation top-1
# (effscale choose-lr). The real train jobs read the choice with --lr-from.
use rule train as sweep_train with:
    input:
        data=PREPARED,
        spec=spec_inputs,
    output:
        final="results/sweep/{dataset}/{variant}/lr{lr}/seed{seed}/final.json",
        metrics="results/sweep/{dataset}/{variant}/lr{lr}/seed{seed}/metrics.csv",
        model="results/sweep/{dataset}/{variant}/lr{lr}/seed{seed}/model.pt",
        predictions="results/sweep/{dataset}/{variant}/lr{lr}/seed{seed}/test_predictions.npz",
    log:
        "logs/sweep/{dataset}/{variant}/lr{lr}/seed{seed}.log",
    benchmark:
        "results/benchmarks/sweep/{dataset}/{variant}/lr{lr}/seed{seed}.tsv"
    params:
        args=sweep_args,
        lr_from="",  # the sweep's runs take their rate from --lr


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
