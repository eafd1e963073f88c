"""Peak memory and throughput of effscale_b0..b7 at their paper resolution under a memory budget (GPU).

For each variant the engine's memory fitting (:func:`effscale_timm.train.memory.fit_micro_batch`: timm's
``decay_batch_step``, then gradient checkpointing) picks the micro-batch under the budget; a few training steps at
effective batch 32 (accumulated) then give peak GiB and img/s.

    python benchmarks/memory.py --budget-gib 16 --batch-size 32 --steps 5
"""
import argparse
import time

import timm
import torch
import torch.nn.functional as F

import effscale_timm  # noqa: F401
from effscale_timm.train.memory import accumulation_steps, fit_micro_batch


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--budget-gib', type=float, default=16.0)
    ap.add_argument('--batch-size', type=int, default=32)
    ap.add_argument('--steps', type=int, default=5)
    ap.add_argument('--variants', nargs='+', default=[f'effscale_b{i}' for i in range(8)])
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit('benchmarks/memory.py measures GPU memory and needs a GPU (none found); figures pending')
    dev = torch.device('cuda')
    total = torch.cuda.get_device_properties(dev).total_memory / 2 ** 30
    torch.cuda.set_per_process_memory_fraction(min(1.0, args.budget_gib / total), dev)
    print(f'# memory, {torch.cuda.get_device_name()}, budget {args.budget_gib} GiB, effective batch '
          f'{args.batch_size}, bf16 + channels_last, torch {torch.__version__}, timm {timm.__version__}\n')
    print('| variant | px | micro-batch × steps | grad checkpointing | peak GiB | img/s |')
    print('|---|---|---|---|---|---|')
    for name in args.variants:
        model = timm.create_model(name).to(dev).to(memory_format=torch.channels_last)
        px = model.pretrained_cfg['input_size'][-1]
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def step(m, n_micro=1):
            x = torch.randn(m, 3, px, px, device=dev).contiguous(memory_format=torch.channels_last)
            y = torch.randint(0, 1000, (m,), device=dev)
            for _ in range(n_micro):
                with torch.autocast('cuda', dtype=torch.bfloat16):
                    loss = F.cross_entropy(model(x).float(), y) / n_micro
                loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        ckpt = []
        micro, _ = fit_micro_batch(step, args.batch_size, lambda: (model.set_grad_checkpointing(True),
                                                                   ckpt.append(1)))
        k = accumulation_steps(args.batch_size, micro)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step(micro, k)
        torch.cuda.synchronize()
        rate = args.steps * micro * k / (time.perf_counter() - t0)
        peak = torch.cuda.max_memory_allocated() / 2 ** 30
        print(f'| {name} | {px} | {micro} × {k} | {"on" if ckpt else "off"} | {peak:.1f} | {rate:,.0f} |')
        model = opt = None  # free the GPU memory before the next variant
        torch.cuda.empty_cache()


if __name__ == '__main__':
    main()
