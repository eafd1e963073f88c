# A finished run's trained model as a folder timm loads natively (model.safetensors + config.json): on demand, not
# part of the default target, e.g. `snakemake exports/digits/effscale_b0/seed0`. The train job already writes the
# same folder as hub/ beside model.pt; this puts a copy where a user wants to ship it from.
rule export:
    input:
        model="results/runs/{dataset}/{variant}/seed{seed}/model.pt",
        final="results/runs/{dataset}/{variant}/seed{seed}/final.json",
    output:
        directory("exports/{dataset}/{variant}/seed{seed}"),
    log:
        "logs/export/{dataset}/{variant}/seed{seed}.log",
    conda:
        "../../envs/train.yaml"
    params:
        run_dir=lambda w, input: Path(input.model).parent,
    shell:
        "effscale export --run {params.run_dir} --out {output} 2> {log}"
