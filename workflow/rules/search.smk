# The paper's coefficient search (config `search`): the grid measured at search.search_phi (checkpoint search_grid;
# one candidate per network, single-axis networks labelled), optionally successive halving's short round
# (checkpoint search_halving), each candidate trained with the study's seeds by the train rule, the choice on
# validation among the compound candidates (checkpoint search_choice), then the families at phi = 1..K with every
# seed, the fractional phi with the first seed and the held-out phi per strategy, and reports/search.md.
checkpoint search_grid:
    output:
        "results/search/{dataset}/grid.json",
    log:
        "logs/search/{dataset}/grid.log",
    benchmark:
        "results/benchmarks/search/{dataset}/grid.tsv"
    conda:
        "../../envs/search.yaml"
    params:
        args=lambda w: search_grid_args(),
    shell:
        "effscale search grid {params.args} --out {output} 2> {log}"


# Successive halving (config `search.halving`): every compound candidate trained search.halving.epochs epochs (the
# train rule with those epochs), then the best keep_fraction on validation go on to search.epochs.
use rule train as halving_train with:
    output:
        final="results/halving/{dataset}/{variant}/seed{seed}/final.json",
        metrics="results/halving/{dataset}/{variant}/seed{seed}/metrics.csv",
        model="results/halving/{dataset}/{variant}/seed{seed}/model.pt",
        predictions="results/halving/{dataset}/{variant}/seed{seed}/test_predictions.npz",
    log:
        "logs/halving/{dataset}/{variant}/seed{seed}.log",
    benchmark:
        "results/benchmarks/halving/{dataset}/{variant}/seed{seed}.tsv"
    params:
        args=halving_args,


checkpoint search_halving:
    input:
        grid="results/search/{dataset}/grid.json",
        runs=halving_finals,
    output:
        "results/search/{dataset}/halving.json",
    log:
        "logs/search/{dataset}/halving.log",
    conda:
        "../../envs/search.yaml"
    params:
        keep=lambda w: HALVING["keep_fraction"],
    shell:
        "effscale search halve --grid {input.grid} --runs {input.runs} --keep-fraction {params.keep} "
        "--out {output} 2> {log}"


rule search_match:
    input:
        chosen="results/search/{dataset}/chosen.json",
    output:
        "results/search/{dataset}/match/phi{phi}.json",
    log:
        "logs/search/{dataset}/match/phi{phi}.log",
    benchmark:
        "results/benchmarks/search/{dataset}/match/phi{phi}.tsv"
    conda:
        "../../envs/search.yaml"
    params:
        shape=lambda w: search_shape_args(),
    shell:
        "effscale search match --phi {wildcards.phi} --chosen {input.chosen} {params.shape} --out {output} 2> {log}"


checkpoint search_choice:
    input:
        grid="results/search/{dataset}/grid.json",
        runs=candidate_finals,
    output:
        "results/search/{dataset}/chosen.json",
    log:
        "logs/search/{dataset}/choose.log",
    conda:
        "../../envs/search.yaml"
    shell:
        "effscale search choose --grid {input.grid} --runs {input.runs} --out {output} 2> {log}"


rule search_report:
    input:
        grid=f"results/search/{DATASET}/grid.json",
        chosen=f"results/search/{DATASET}/chosen.json",
        match=[match_file(phi) for phi in SEARCH_PHIS],
        halving=[f"results/search/{DATASET}/halving.json"] if HALVING else [],
        runs=search_report_finals,
    output:
        md=report(
            "reports/search.md", category="Search", caption="../report/search.rst"
        ),
        figure=report(
            "reports/scaling_law.png",
            category="Search",
            caption="../report/scaling_law.rst",
        ),
        runs_csv=report(
            "reports/search_runs.csv",
            category="Data",
            caption="../report/search_csv.rst",
        ),
        epochs_csv=report(
            "reports/search_epochs.csv",
            category="Data",
            caption="../report/search_csv.rst",
        ),
    log:
        "logs/search/report.log",
    conda:
        "../../envs/search.yaml"
    params:
        options=lambda w, input: " ".join(
            (["--hold-out-phi", str(HOLD_OUT_PHIS[0])] if HOLD_OUT_PHIS else [])
            + (
                ["--fractional-phis", *map(str, FRACTIONAL_PHIS)]
                if FRACTIONAL_PHIS
                else []
            )
            + (["--halving", str(input.halving)] if HALVING else [])
            + ["--margin", str(config["equivalence_margin"])]
        ),
        phis=lambda w: SEARCH["phis"],
    shell:
        "effscale search report --grid {input.grid} --chosen {input.chosen} --match {input.match} "
        "--runs {input.runs} --phis {params.phis} {params.options} --out-dir reports 2> {log}"
