# The design-space study (config `design_space`): (depth, width, resolution) sampled at one compute regime by their
# shares of log-compute, kept when their measured MACs are within the tolerance (checkpoint design_sample: the
# samples are only known once drawn), each trained once by the train rule with design_space.epochs and the design's
# seed, then reports/design_space.md: the interior against the near-single-axis corners and the share regression.
checkpoint design_sample:
    output:
        "results/design_space/{dataset}/samples.json",
    log:
        "logs/design_space/{dataset}/sample.log",
    benchmark:
        "results/benchmarks/design_space/{dataset}/sample.tsv"
    conda:
        "../../envs/search.yaml"
    params:
        args=lambda w: design_sample_args(),
    shell:
        "effscale search design-sample {params.args} --out {output} 2> {log}"


use rule train as design_train with:
    input:
        data=PREPARED,
        spec=spec_inputs,  # the samples file
    output:
        final="results/design_space/{dataset}/runs/{variant}/seed{seed}/final.json",
        metrics="results/design_space/{dataset}/runs/{variant}/seed{seed}/metrics.csv",
        model="results/design_space/{dataset}/runs/{variant}/seed{seed}/model.pt",
        predictions="results/design_space/{dataset}/runs/{variant}/seed{seed}/test_predictions.npz",
    log:
        "logs/design_space/{dataset}/{variant}/seed{seed}.log",
    benchmark:
        "results/benchmarks/design_space/{dataset}/{variant}/seed{seed}.tsv"
    params:
        args=design_train_args,
        lr_from="",  # every sample trains at the configured rate (no sweep)


rule design_report:
    input:
        samples=f"results/design_space/{DATASET}/samples.json",
        runs=design_finals,
    output:
        md=report(
            "reports/design_space.md",
            category="Design space",
            caption="../report/design_space.rst",
        ),
        figure=report(
            "reports/design_space.png",
            category="Design space",
            caption="../report/design_space_png.rst",
        ),
        runs_csv=report(
            "reports/design_space_runs.csv",
            category="Data",
            caption="../report/design_space_csv.rst",
        ),
        epochs_csv=report(
            "reports/design_space_epochs.csv",
            category="Data",
            caption="../report/design_space_csv.rst",
        ),
    log:
        "logs/design_space/report.log",
    conda:
        "../../envs/search.yaml"
    shell:
        "effscale search design-report --samples {input.samples} --runs {input.runs} --out-dir reports 2> {log}"
