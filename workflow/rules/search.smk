# The paper's coefficient search (config `search`): the grid measured at phi = 1 (checkpoint search_grid), each kept
# candidate trained with the study's seeds by the train rule, the choice on validation (checkpoint search_choice),
# then the families at phi = 1..K (+ the held-out phi) per strategy, and reports/search.md with the scaling laws.
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
        paper=[f"{run_dir(PAPER_PHI1, s)}/final.json" for s in SEEDS],
    output:
        "results/search/{dataset}/chosen.json",
    log:
        "logs/search/{dataset}/choose.log",
    conda:
        "../../envs/search.yaml"
    shell:
        "effscale search choose --grid {input.grid} --runs {input.runs} --paper-runs {input.paper} "
        "--out {output} 2> {log}"


rule search_report:
    input:
        grid=f"results/search/{DATASET}/grid.json",
        chosen=f"results/search/{DATASET}/chosen.json",
        match=[f"results/search/{DATASET}/match/phi{phi}.json" for phi in SEARCH_PHIS],
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
    log:
        "logs/search/report.log",
    conda:
        "../../envs/search.yaml"
    params:
        hold=lambda w: (
            f"--hold-out-phi {SEARCH['hold_out_phi']}"
            if SEARCH.get("hold_out_phi")
            else ""
        ),
        phis=lambda w: SEARCH["phis"],
    shell:
        "effscale search report --grid {input.grid} --chosen {input.chosen} --match {input.match} "
        "--runs {input.runs} --phis {params.phis} {params.hold} --out-dir reports 2> {log}"
