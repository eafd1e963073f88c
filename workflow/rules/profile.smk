rule profile:
    output:
        "results/profile/{dataset}/{variant}.json",
    log:
        "logs/profile/{dataset}/{variant}.log",
    benchmark:
        "results/benchmarks/profile/{dataset}/{variant}.tsv"
    params:
        args=profile_args,
    threads: 1
    conda:
        "../../envs/profile.yaml"
    shell:
        "effscale profile --variant {wildcards.variant} {params.args} --threads {threads} --out {output} 2> {log}"
