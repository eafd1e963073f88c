"""The GPU suite: one prepared check of every GPU figure, each comparison side by side in the same run, in <= 8 min.

Sections of its one markdown table:

1. End-to-end training img/s: the engine (``train_run`` of ``effscale_b0`` on the prepared data, bf16, compiled;
   img/s of the last epoch from ``metrics.csv``) against plain timm ``efficientnet_b0`` (bf16 autocast, NCHW, AdamW,
   one ``.item()`` per step) fed (a) by a DataLoader with CPU augmentation, (b) from uint8 tensors on the GPU with
   the same augmentation there; at 32, 128 and 224 px. Targets: >= 3x at 32 px, >= 1.25x at 224 px.
2. CUDA graphs: the engine with ``compile_mode='reduce-overhead'`` against default compile at 32 px.
3. Packing: the default study's variants (``config.yaml``) as K ``effscale train`` processes one after another
   against all K at once on the same GPU, with ``--trainings-per-gpu K`` (a GPU slot and 1/K of the memory each).
4. Memory: ``effscale_b0``..``effscale_b7`` at the paper's px (base 224), effective batch 32, under a 16 GiB budget
   (micro-batch fitted, gradient checkpointing when needed) against the same model unconstrained (micro-batch 32).
   Target: >= 0.6x the unconstrained img/s.
5. Accuracy: the 32 px engine run of section 1 trains on the whole training split; its test top-1 and wall time.

Each part has a share of the time budget (``--budget-s``); a measurement that would not fit is skipped and says so.
The table is rewritten to ``--out`` after every part, so a killed run still leaves what it measured.

    python -m effscale_timm.cli prepare --dataset fashion_mnist --out results/data/fashion_mnist.npz
    python benchmarks/gpu_suite.py --data results/data/fashion_mnist.npz --out $OUT/gpu_suite.md
    python benchmarks/gpu_suite.py --data results/data/fashion_mnist.npz --smoke    # CPU, toy sizes, ~1 min

Imports nothing beyond torch, torchvision, timm, numpy, PyYAML and effscale_timm (no fvcore, pytorch-grad-cam,
snakemake or pandas: the GPU image lacks them; ``tests/benchmarks/test_gpu_suite.py`` checks it).
"""
from __future__ import annotations

import argparse
import gc
import logging
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(Path(__file__).resolve().parent), str(ROOT)]

import timm  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402

import throughput as tp  # noqa: E402 - the plain timm loops and the engine helpers, shared
from effscale_timm.data import load_prepared  # noqa: E402
from effscale_timm.files.run_record import record_path  # noqa: E402
from effscale_timm.train.engine import RunConfig, train_run  # noqa: E402

SECTIONS = {1: 'end-to-end img/s', 2: 'CUDA graphs', 3: 'packing', 4: 'memory budget', 5: 'accuracy'}
RUN_ORDER = (1, 4, 3, 2, 5)  # by priority: a part that runs out of time leaves the more important ones measured
TARGETS = {32: 3.0, 224: 1.25}  # section 1: engine / plain timm
MEMORY_TARGET = 0.6  # section 4: budgeted / unconstrained img/s


@dataclass
class Scale:
    """Sizes of one suite run: the GPU check, or the CPU smoke run of the same code."""
    px: Tuple[int, ...]
    batch: Dict[int, int]
    engine_samples: Dict[int, Optional[int]]  # None: the whole training split
    engine_epochs: Dict[int, int]
    eval_samples: Dict[int, Optional[int]]
    accuracy_px: int
    steps: int  # timed plain timm steps
    warmup: int
    workers: int
    graph_epochs: int
    pack_k: Optional[int]  # None: every variant of config.yaml
    pack: Dict[str, int]  # epochs, samples, eval, px, batch
    mem_models: Tuple[str, ...]
    mem: Dict[str, int]  # base px, images, epochs, eval
    shares: Dict[int, float] = field(default_factory=dict)  # seconds per part


GPU = Scale(px=(32, 224, 128), batch={32: 512, 128: 256, 224: 256},
            engine_samples={32: None, 128: 16384, 224: 8192}, engine_epochs={32: 5, 128: 2, 224: 2},
            eval_samples={32: None, 128: 2048, 224: 2048}, accuracy_px=32, steps=30, warmup=5,
            workers=min(8, os.cpu_count() or 1), graph_epochs=2, pack_k=None,
            pack=dict(epochs=2, samples=4096, eval=512, px=32, batch=64),
            mem_models=tuple(f'effscale_b{i}' for i in range(8)), mem=dict(px=224, images=128, epochs=2, eval=32),
            shares={1: 230, 4: 80, 3: 70, 2: 50, 5: 0})
SMOKE = Scale(px=(32,), batch={32: 32}, engine_samples={32: 64}, engine_epochs={32: 2}, eval_samples={32: 32},
              accuracy_px=32, steps=2, warmup=1, workers=1, graph_epochs=2, pack_k=2,
              pack=dict(epochs=1, samples=64, eval=32, px=32, batch=32), mem_models=('effscale_b0', 'effscale_b1'),
              mem=dict(px=32, images=64, epochs=1, eval=16), shares={1: 300, 4: 120, 3: 240, 2: 60, 5: 0})
# 32 px is the smallest input the network takes (its five stride-2 stages), hence no 16 px smoke


@dataclass
class Row:
    section: int
    case: str
    effscale: str = '—'
    baseline: str = '—'
    ratio: str = '—'
    target: str = '—'
    notes: str = ''

    def cells(self) -> List[str]:
        return [f'{self.section} {SECTIONS[self.section]}', self.case, self.effscale, self.baseline, self.ratio,
                self.target, self.notes.replace('|', '/')]


def num(value: float, digits: int = 0) -> str:
    return f'{value:,.{digits}f}'


def plural(n: int, word: str) -> str:
    return f'{n} {word}{"" if n == 1 else "s"}'


def compile_note(final: Dict[str, Any], asked: bool) -> str:
    """'compile off', or the seconds of the compiling first update (the run record's ``compile_s``, when it has it)."""
    if not final.get('compiled', asked):
        return 'compile off'
    return f'compile {final["compile_s"]} s' if final.get('compile_s') is not None else 'compiled'


def verdict(ratio: float, target: float) -> str:
    return f'≥ {target:g}×: {"PASS" if ratio >= target else "FAIL"}'


class Budget:
    """Cumulative deadlines: part i may run until the suite's start + the shares of the parts up to i (time a part
    leaves unused goes to the next); a measurement starts only when its estimate fits before its part's deadline."""

    def __init__(self, shares: Dict[int, float], total_s: float):
        scale = total_s / max(1.0, sum(shares.values()))
        self.t0, self.deadline, acc = time.perf_counter(), {}, 0.0
        for part in RUN_ORDER:
            acc += shares.get(part, 0) * scale
            self.deadline[part] = acc
        self.observed: Dict[str, float] = {}

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def allows(self, part: int, estimate_s: float) -> bool:
        return self.elapsed() + estimate_s <= self.deadline[part]

    def timed(self, kind: str, fn: Callable[[], Any]) -> Any:
        """Run ``fn``, remembering the longest time a measurement of ``kind`` took (the next one's estimate)."""
        t0 = time.perf_counter()
        try:
            return fn()
        finally:
            self.observed[kind] = max(self.observed.get(kind, 0.0), time.perf_counter() - t0)

    def estimate(self, kind: str, default_s: float) -> float:
        return self.observed.get(kind, default_s)


@dataclass
class Suite:
    """What every part reads: the arguments, sizes, data, device, budget and the rows so far."""
    args: argparse.Namespace
    scale: Scale
    arrays: Dict[str, Any]
    device: torch.device
    work: Path
    budget: Budget
    header: List[str]
    rows: List[Row] = field(default_factory=list)
    runs: Dict[str, Dict[str, Any]] = field(default_factory=dict)  # engine runs other parts reuse

    @property
    def cuda(self) -> bool:
        return self.device.type == 'cuda'

    @property
    def amp(self) -> Optional[torch.dtype]:
        return torch.bfloat16 if self.cuda else None


def log(msg: str) -> None:
    print(f'[gpu_suite] {msg}', file=sys.stderr, flush=True)


def fresh_device(device: torch.device) -> None:
    """Between measurements: free memory, drop compiled graphs, lift a memory budget, reset the peak counter."""
    gc.collect()
    if device.type != 'cuda':
        return
    if hasattr(torch, 'compiler') and hasattr(torch.compiler, 'reset'):
        torch.compiler.reset()
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    torch.cuda.set_per_process_memory_fraction(1.0, device)
    torch.cuda.reset_peak_memory_stats(device)


def run_engine(suite: Suite, name: str, **fields: Any) -> Dict[str, Any]:
    """``train_run`` in this process with ``fields``; its run record (as a dict), the last epoch's row of the
    metrics file and the wall seconds of the call."""
    fresh_device(suite.device)
    out = suite.work / name
    cfg = RunConfig(data=str(suite.args.data), out_dir=str(out), ckpt_root=str(out / 'ckpt'),
                    device=suite.device.type, seed=0, recipe='fast', **fields)
    t0 = time.perf_counter()
    record = train_run(cfg)
    wall = time.perf_counter() - t0
    if record is None or not record.usable:
        raise RuntimeError(f'{name}: not a usable run: {record}')
    final = record.to_json()
    last = tp.last_epoch(out)
    fresh_device(suite.device)
    return {'final': final, 'last': last, 'img_s': float(last['img_per_s']), 'peak': float(last['peak_mem_gib']),
            'micro': int(last['micro_batch']), 'wall': wall}


def guarded(part: int, case: str, fn: Callable[[], List[Row]]) -> List[Row]:
    """Rows of ``fn``; on an error one row saying what failed (the suite goes on to the next measurement)."""
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - one failed measurement must not cost the rest of the GPU run
        traceback.print_exc()
        first_line = (str(e).splitlines() or [''])[0][:200]
        return [Row(part, case, notes=f'failed: {type(e).__name__}: {first_line}')]


def skipped(part: int, case: str) -> Row:
    return Row(part, case, notes='skipped: not enough of the time budget left')


# --- section 1 (and 5): end to end -------------------------------------------------------------------------------

def engine_fields(suite: Suite, px: int) -> Dict[str, Any]:
    s = suite.scale
    return dict(variant='effscale_b0', base_resolution=px, batch_size=s.batch[px], epochs=s.engine_epochs[px],
                max_train_samples=s.engine_samples[px], max_eval_samples=s.eval_samples[px], compile=suite.cuda)


def engine_at(suite: Suite, px: int) -> Dict[str, Any]:
    """The section-1 engine run at ``px`` (also the accuracy run at ``scale.accuracy_px``), run once."""
    key = f'engine_{px}px'
    if key not in suite.runs:
        suite.runs[key] = suite.budget.timed('engine', lambda: run_engine(suite, key, **engine_fields(suite, px)))
    return suite.runs[key]


def plain_rows(suite: Suite, px: int, engine: Dict[str, Any]) -> List[Row]:
    s, rows = suite.scale, []
    precision = 'bf16 autocast' if suite.cuda else 'fp32'
    for label, workers in ((f'a DataLoader ({plural(s.workers, "worker")}, CPU augmentation)', s.workers),
                           ('uint8 tensors on the device, augmented there', 0)):
        case = f'{px} px, batch {s.batch[px]}: engine vs plain timm + {label}'
        if not suite.budget.allows(1, suite.budget.estimate('plain', 15)):
            rows.append(skipped(1, case))
            continue

        def measure(workers=workers, case=case) -> List[Row]:
            rate = suite.budget.timed('plain', lambda: tp.plain_timm_rate(
                suite.arrays, px, s.batch[px], s.steps, suite.device, workers, False, suite.amp, s.warmup))
            ratio = engine['img_s'] / rate
            target = verdict(ratio, TARGETS[px]) if px in TARGETS else '—'
            notes = (f'plain timm efficientnet_b0, {precision}, NCHW, {s.steps} steps after {s.warmup}; engine: '
                     f'last of {plural(engine["final"]["epochs"], "epoch")}, micro-batch {engine["micro"]}, '
                     f'{compile_note(engine["final"], suite.cuda)}')
            return [Row(1, case, num(engine['img_s']), num(rate), f'{ratio:.2f}×', target, notes)]
        rows += guarded(1, case, measure)
    return rows


def part_end_to_end(suite: Suite) -> List[Row]:
    rows = []
    for px in suite.scale.px:
        case = f'{px} px: effscale engine'
        if not suite.budget.allows(1, suite.budget.estimate('engine', 90 if suite.cuda else 10)):
            rows.append(skipped(1, case))
            continue
        rows += guarded(1, case, lambda px=px: plain_rows(suite, px, engine_at(suite, px)))
    return sorted(rows, key=lambda r: int(r.case.split()[0]))


def part_accuracy(suite: Suite) -> List[Row]:
    px = suite.scale.accuracy_px
    if f'engine_{px}px' not in suite.runs and not suite.budget.allows(5, suite.budget.estimate('engine', 90)):
        return [skipped(5, f'effscale_b0, {px} px')]
    run = engine_at(suite, px)
    final = run['final']
    samples = final.get('max_train_samples') or len(suite.arrays['y_train'])
    case = (f'effscale_b0 on {final["dataset"]}, {px} px, recipe fast, batch {suite.scale.batch[px]}, '
            f'{plural(final["epochs"], "epoch")} on {samples:,} training images (section 1\'s {px} px run)')
    notes = (f'test top-1 % on {final.get("test_samples", "?")} test images; wall {final["wall_time_s"]} s '
             f'({compile_note(final, suite.cuda)}); best val {final.get("best_val_top1")} %')
    return [Row(5, case, num(final['test_top1'], 2), notes=notes)]


# --- section 2: CUDA graphs --------------------------------------------------------------------------------------

def part_cuda_graphs(suite: Suite) -> List[Row]:
    px = suite.scale.accuracy_px
    case = f'{px} px, batch {suite.scale.batch[px]}: compile_mode reduce-overhead vs default compile'
    if not suite.budget.allows(2, suite.budget.estimate('engine', 90 if suite.cuda else 10)):
        return [skipped(2, case)]
    default = engine_at(suite, px)
    fields = dict(engine_fields(suite, px), epochs=suite.scale.graph_epochs, compile_mode='reduce-overhead')
    graphs = suite.budget.timed('engine', lambda: run_engine(suite, f'graphs_{px}px', **fields))
    ratio = graphs['img_s'] / default['img_s']
    notes = (f'img/s of the last epoch each; {compile_note(graphs["final"], suite.cuda)} vs '
             f'{compile_note(default["final"], suite.cuda)}' + ('' if suite.cuda else '; CPU: no graphs'))
    return [Row(2, case, num(graphs['img_s']), num(default['img_s']), f'{ratio:.2f}×', notes=notes)]


# --- section 3: packing ------------------------------------------------------------------------------------------

def study_variants(k: Optional[int]) -> List[str]:
    """The default study's variants (``config.yaml``), the first ``k`` of them when given."""
    try:
        import yaml
        variants = list(yaml.safe_load((ROOT / 'config.yaml').read_text())['variants'])
    except Exception as e:  # noqa: BLE001 - a missing PyYAML or config must not stop the suite
        log(f'config.yaml unreadable ({e}); using the paper\'s Table 7 variants')
        variants = ['effscale_b0', 'effscale_depth_b0', 'effscale_width_b0', 'effscale_resolution_b0',
                    'effscale_compound_b0']
    return variants[:k] if k else variants


def train_command(suite: Suite, variant: str, folder: Path, k: int, threads: int) -> List[str]:
    """The product's packing path: ``--trainings-per-gpu K`` (a GPU slot each, 1/K of the memory as budget)."""
    p = suite.scale.pack
    device = 'cuda' if suite.cuda else 'cpu'
    cmd = [sys.executable, '-m', 'effscale_timm.cli', '-q', 'train', '--variant', variant, '--data',
           str(Path(suite.args.data).resolve()), '--out-dir', str(folder / variant), '--ckpt-root',
           str(folder / 'ckpt'), '--epochs', str(p['epochs']), '--batch-size', str(p['batch']), '--base-resolution',
           str(p['px']), '--max-train-samples', str(p['samples']), '--max-eval-samples', str(p['eval']),
           '--device', device, '--trainings-per-gpu', str(k), '--threads', str(threads), '--seed', '0']
    return cmd + ([] if suite.args.pack_compile else ['--no-compile'])


def run_trainings(commands: Dict[str, List[str]], folder: Path, at_once: bool) -> float:
    """Wall seconds of the ``effscale train`` commands, one after another or all at once; raises on a failure."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]),
               EFFSCALE_GPU_LOCK_DIR=str(folder / 'gpu_locks'))  # the suite's own slots
    folder.mkdir(parents=True, exist_ok=True)
    t0, procs = time.perf_counter(), {}
    for variant, cmd in commands.items():
        log_file = open(folder / f'{variant}.log', 'w')
        procs[variant] = (subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT),
                          log_file)
        if not at_once:
            procs[variant][0].wait()
    for proc, log_file in procs.values():
        proc.wait()
        log_file.close()
    wall = time.perf_counter() - t0
    for variant, (proc, _) in procs.items():
        if proc.returncode != 0 or not record_path(folder / variant).exists():
            tail = (folder / f'{variant}.log').read_text()[-300:].replace('\n', ' ')
            raise RuntimeError(f'{variant} exited {proc.returncode}: {tail}')
    return wall


def part_packing(suite: Suite) -> List[Row]:
    variants, p = study_variants(suite.scale.pack_k), suite.scale.pack
    k = len(variants)
    total = torch.cuda.get_device_properties(suite.device).total_memory / 2 ** 30 if suite.cuda else 0.0
    budget_gib = total / k  # what --trainings-per-gpu K gives each (none on the CPU)
    threads = max(1, (os.cpu_count() or 1) // k)
    case = (f'K={k} trainings ({", ".join(variants)}), {plural(p["epochs"], "epoch")} × {p["samples"]} images at '
            f'{p["px"]} px, batch {p["batch"]}, {f"{budget_gib:.1f} GiB" if suite.cuda else "no memory cap (CPU)"} each: '
            'wall s all at once vs one after another')
    est = suite.budget.estimate('packing', (20 if suite.cuda else 12) * k)
    if not suite.budget.allows(3, est * 1.5):
        return [skipped(3, case)]
    fresh_device(suite.device)
    times = {}
    for mode, at_once in (('one_after_another', False), ('at_once', True)):
        folder = suite.work / 'packing' / mode
        commands = {v: train_command(suite, v, folder, k, threads) for v in variants}
        times[mode] = suite.budget.timed('packing', lambda: run_trainings(commands, folder, at_once))
    rates = [float(tp.last_epoch(suite.work / 'packing' / 'at_once' / v)['img_per_s']) for v in variants]
    compiled = 'on' if suite.args.pack_compile else 'off'
    notes = (f'`effscale train` processes, compile {compiled}, {plural(threads, "thread")} each; img/s while packed: '
             f'{", ".join(num(r) for r in rates)}')
    seq, par = times['one_after_another'], times['at_once']
    return [Row(3, case, num(par, 1), num(seq, 1), f'{seq / par:.2f}×', notes=notes)]


# --- section 4: memory budget ------------------------------------------------------------------------------------

def memory_row(suite: Suite, name: str) -> Row:
    m, budget = suite.scale.mem, suite.args.memory_budget_gib
    common = dict(variant=name, base_resolution=m['px'], batch_size=32, epochs=m['epochs'],
                  max_train_samples=m['images'], max_eval_samples=m['eval'], compile=False)
    fitted = run_engine(suite, f'memory_{name}_budget', memory_budget_gib=budget, **common)
    free = run_engine(suite, f'memory_{name}_free', micro_batch=32, **common)
    ratio = fitted['img_s'] / free['img_s']
    px = fitted['final'].get('input_size', '?')
    steps = -(-32 // fitted['micro'])
    case = f'{name} at {px} px, batch 32: {budget:g} GiB budget vs unconstrained (img/s)'
    notes = (f'peak {fitted["peak"]:.2f} vs {free["peak"]:.2f} GiB{"" if suite.cuda else " (CPU: process RSS)"}; '
             f'micro-batch {fitted["micro"]} × {steps} vs {free["micro"]} × 1; '
             f'last of {plural(m["epochs"], "epoch")} on {m["images"]} images, compile off')
    return Row(4, case, num(fitted['img_s'], 1), num(free['img_s'], 1), f'{ratio:.2f}×',
               verdict(ratio, MEMORY_TARGET), notes)


def part_memory(suite: Suite) -> List[Row]:
    rows = []
    for name in suite.scale.mem_models:
        case = f'{name}: {suite.args.memory_budget_gib:g} GiB budget vs unconstrained'
        # each model costs about twice the previous one (B0 -> B7 grows ~100x in multiply-adds over 7 steps)
        if not suite.budget.allows(4, 2 * suite.budget.observed.get('memory', 5.0)):
            rows.append(skipped(4, case))
            continue
        t0 = time.perf_counter()
        rows += guarded(4, case, lambda name=name: [memory_row(suite, name)])
        suite.budget.observed['memory'] = time.perf_counter() - t0
    return rows


# --- the table ---------------------------------------------------------------------------------------------------

PARTS: Dict[int, Callable[[Suite], List[Row]]] = {1: part_end_to_end, 2: part_cuda_graphs, 3: part_packing,
                                                  4: part_memory, 5: part_accuracy}


def table(suite: Suite) -> str:
    head = ['section', 'case', 'effscale', 'baseline', 'ratio', 'target', 'notes']
    lines = suite.header + [f'elapsed: {suite.budget.elapsed():.0f} s', '', '| ' + ' | '.join(head) + ' |',
                            '|' + '---|' * len(head)]
    for row in sorted(suite.rows, key=lambda r: r.section):
        lines.append('| ' + ' | '.join(row.cells()) + ' |')
    return '\n'.join(lines) + '\n'


def header(args: argparse.Namespace, device: torch.device, arrays: Dict[str, Any]) -> List[str]:
    card = torch.cuda.get_device_name(device) if device.type == 'cuda' else \
        f'CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads (smoke: not a GPU figure)'
    return ['# effscale GPU suite', '',
            f'card: {card}; torch {torch.__version__}, torchvision {torchvision.__version__}, timm {timm.__version__}',
            f'command: python {" ".join(shlex.quote(a) for a in sys.argv)}',
            f'data: {arrays["dataset"]} ({len(arrays["y_train"]):,} train images); device {device}; '
            f'{"smoke run" if args.smoke else "full run"}; budget {args.budget_s:.0f} s',
            'values: img/s unless the case says otherwise; ratio: effscale / baseline, except section 3 (wall s): '
            'baseline / effscale, the speed-up of packing']


def run_parts(suite: Suite, parts: Sequence[int]) -> None:
    for part in RUN_ORDER:
        if part not in parts:
            continue
        t0 = time.perf_counter()
        log(f'part {part} ({SECTIONS[part]}) starts at {suite.budget.elapsed():.0f} s')
        suite.rows += guarded(part, SECTIONS[part], lambda part=part: PARTS[part](suite))
        log(f'part {part} ({SECTIONS[part]}) took {time.perf_counter() - t0:.1f} s')
        if suite.args.out:
            Path(suite.args.out).write_text(table(suite))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', required=True, help='prepared .npz (effscale prepare), e.g. Fashion-MNIST')
    ap.add_argument('--out', default=None, help='also write the table here (rewritten after every part)')
    ap.add_argument('--smoke', action='store_true', help='the same code on the CPU at toy sizes (~1 min)')
    ap.add_argument('--device', default=None, help='default: cuda, or cpu with --smoke')
    ap.add_argument('--work', default=None, help='run folders go in a fresh folder under this (default: a temp dir)')
    ap.add_argument('--parts', type=int, nargs='+', default=sorted(SECTIONS), choices=sorted(SECTIONS))
    ap.add_argument('--budget-s', type=float, default=None, help='seconds for all parts (default 430; smoke 720)')
    ap.add_argument('--memory-budget-gib', type=float, default=16.0, help='section 4\'s budget')
    ap.add_argument('--pack-compile', action='store_true', help='torch.compile in the packed trainings (slow)')
    args = ap.parse_args(argv)
    args.device = args.device or ('cpu' if args.smoke else 'cuda')
    args.budget_s = args.budget_s or (720.0 if args.smoke else 430.0)
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit(f'gpu_suite: --device {args.device} but torch {torch.__version__} finds no GPU; '
                         f'use --smoke for the CPU run')
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    scale = SMOKE if args.smoke else GPU
    arrays = load_prepared(args.data)
    if args.work:
        Path(args.work).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix='gpu_suite-', dir=args.work))
    suite = Suite(args, scale, arrays, device, work, Budget(scale.shares, args.budget_s), header(args, device, arrays))
    log(f'run folders in {work}')
    run_parts(suite, args.parts)
    text = table(suite)
    if args.out:
        Path(args.out).write_text(text)
    print(text, end='', flush=True)


if __name__ == '__main__':
    main()
