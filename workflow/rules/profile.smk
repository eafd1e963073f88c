rule profile:
    output:
        "results/profile/{dataset}/{variant}.json",
    log:
        "logs/profile/{dataset}/{variant}.log",
    benchmark:
        "results/benchmarks/profile/{dataset}/{variant}.tsv"
    conda:
        "../../envs/profile.yaml"
    threads: 1
    params:
        args=profile_args,
    shell:
        "effscale profile --variant {wildcards.variant} {params.args} --threads {threads} --out {output} 2> {log}"
