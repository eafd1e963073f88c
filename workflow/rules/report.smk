rule report:
    input:
        runs=RUN_FINALS,
        metrics=RUN_METRICS,  # read beside each final.json
        predictions=RUN_PREDICTIONS,
        profiles=PROFILES,
        cams=CAMS,
        budget=BUDGET_FINALS,  # the budget check's runs (config budget_check)
        lr_choices=LR_CHOICES,  # the learning rates chosen on validation (config lr_sweep)
    output:
        table=report(
            "reports/table1.md", category="Table 1", caption="../report/table1.rst"
        ),
        figure=report(
            "reports/accuracy_vs_flops.png",
            category="Figures",
            caption="../report/accuracy_vs_flops.rst",
        ),
        cams=report(
            "reports/cams.png", category="Figures", caption="../report/cams.rst"
        ),
        curves=report(
            "reports/training_curves.png",
            category="Figures",
            caption="../report/training_curves.rst",
        ),
        runs_csv=report(
            "reports/runs.csv", category="Data", caption="../report/runs_csv.rst"
        ),
        epochs_csv=report(
            "reports/epochs.csv", category="Data", caption="../report/epochs_csv.rst"
        ),
    log:
        "logs/report/report.log",
    benchmark:
        "results/benchmarks/report/report.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        expected=" ".join(f"{v}:{s}" for v in VARIANTS for s in SEEDS),
        margin=config["equivalence_margin"],
        budget=lambda w, input: (
            f"--budget-factor {BUDGET} --budget-runs {' '.join(input.budget)}"
            if BUDGET
            else ""
        ),
    shell:
        "effscale report --runs {input.runs} --profiles {input.profiles} --cams {input.cams} "
        "--expected {params.expected} --equivalence-margin {params.margin} {params.budget} "
        "--lr-choices {input.lr_choices} --out-dir reports 2> {log}"
