rule cam:
    input:
        model=lambda w: f"{run_dir(w.variant, SEEDS[0])}/model.pt",
        data=PREPARED,
    output:
        "results/cam/{dataset}/{variant}.npz",
    log:
        "logs/cam/{dataset}/{variant}.log",
    benchmark:
        "results/benchmarks/cam/{dataset}/{variant}.tsv"
    conda:
        "../../envs/cam.yaml"
    threads: 1
    params:
        per_class=config.get("cam_per_class", 1),
    shell:
        "effscale cam --model {input.model} --data {input.data} --per-class {params.per_class} "
        "--threads {threads} --out {output} 2> {log}"
