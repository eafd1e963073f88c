rule prepare:
    output:
        npz="results/data/{dataset}.npz",
        sha="results/data/{dataset}.npz.sha256",
    log:
        "logs/prepare/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare/{dataset}.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        root=lambda w: (
            f"--root {config['dataset_root']}" if config.get("dataset_root") else ""
        ),
        release=lambda w: (
            f"--release {config['imagenette_release']}"
            if w.dataset == "imagenette"
            else ""
        ),
        val=config.get("val_fraction", 0.1),
        size=lambda w: largest_input(),
    shell:
        "effscale prepare --dataset {wildcards.dataset} --out {output.npz} {params.root} {params.release} "
        "--image-size {params.size} --val-fraction {params.val} 2> {log}"
