rule report:
    input:
        runs=RUN_FINALS,
        metrics=RUN_METRICS,  # read beside each final.json
        predictions=RUN_PREDICTIONS,
        profiles=PROFILES,
        cams=CAMS,
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
    log:
        "logs/report/report.log",
    benchmark:
        "results/benchmarks/report/report.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        expected=" ".join(f"{v}:{s}" for v in VARIANTS for s in SEEDS),
    shell:
        "effscale report --runs {input.runs} --profiles {input.profiles} --cams {input.cams} "
        "--expected {params.expected} --out-dir reports 2> {log}"
