"""Profile a scaled EfficientNet: parameters, multiply-adds, activations and batch-1 latency.

Paper: `EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks` - https://arxiv.org/abs/1905.11946
(Tan & Le, 2019). Its "FLOPS" are multiply-adds (MACs); the paper-comparable count here is fvcore's convolution +
linear MACs (``gmacs``). ``gmacs_total`` adds batch norm as fvcore counts it, and ``gflops`` is 2 x ``gmacs``
(one multiply-add = two floating-point operations, the convention of the seed study and of PyTorch's
``FlopCounterMode``). fvcore skips element-wise ops (SiLU, sigmoid, mul, add); ``skipped_ops`` lists them.

Usage::

    from effscale_timm.profile import profile_variant
    profile_variant('effscale_b0', latency=False)['gmacs']  # ~0.386, paper Table 2: 0.39B

``effscale profile --variant effscale_b0 --out b0.json`` writes the same dict as JSON (atomically).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import time
from typing import Any, Dict, List

import timm
import torch
from torch import nn

import effscale_timm

from .backbones import DEFAULT_BACKBONE, get_backbone
from .files.profile_file import write_profile
from .flops import count_activations, count_macs
from .models import resolve_variant, variant_spec
from .reference import reference_rows
from .scaling import SPEC_FIELDS

__all__ = ['profile_variant', 'paper_table', 'measure_latency', 'count_activations', 'variant_geometry',
           'add_arguments', 'run_cli']

LATENCY_BUDGET_S = 1.0  # target measuring time per device; one forward pass is always timed at least once
_FAST_RUNS = 20  # models that run this many passes within the budget are measured with blocked_autorange
UNITS = {
    'params': 'parameters (count)',
    'gmacs': '1e9 multiply-accumulates per image, convolutions + linear layers (fvcore); the paper\'s FLOPS',
    'gmacs_total': '1e9 multiply-accumulates per image incl. batch norm (fvcore total)',
    'gflops': '1e9 floating-point operations per image, FLOPs = 2 x MACs (conv + linear)',
    'mactivations': '1e6 output elements of convolutions and linear layers per image (fvcore)',
    'cpu_latency_ms': 'median milliseconds per forward pass, batch 1, fp32, eval, no_grad, on the CPU',
    'gpu_latency_ms': 'median milliseconds per forward pass, batch 1, fp32, eval, no_grad, on the GPU',
    'px_over_base': 'input size in pixels / base_resolution, as built (the effective resolution multiplier)',
    'stage_repeats': 'blocks per stage (model.blocks[i]), as built',
    'stage_channels': 'output channels per stage, as built',
    'stage_feature_maps': '[height, width] of each stage\'s output at the variant\'s input size',
    'final_feature_map': '[height, width] of the last stage\'s output at the variant\'s input size',
    'head_channels': 'channels of the 1x1 head convolution before pooling (model.num_features)',
}


def _import_benchmark():
    """``torch.utils.benchmark``, without the CUDA_HOME notice its import logs on machines without CUDA."""
    cpp_logger = logging.getLogger('torch.utils.cpp_extension')
    level = cpp_logger.level
    cpp_logger.setLevel(logging.ERROR)
    try:
        from torch.utils import benchmark
    finally:
        cpp_logger.setLevel(level)
    return benchmark


def _timed(fn, device: str) -> float:
    """Seconds of one call of ``fn``, synchronizing CUDA before and after."""
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def measure_latency(model: nn.Module, input_size, device: str = 'cpu', threads: int = 1,
                    budget_s: float = LATENCY_BUDGET_S) -> float:
    """Median milliseconds of one batch-1 forward pass (eval, ``no_grad``).

    One timed warm-up pass decides the method: a model that runs at least :data:`_FAST_RUNS` passes within
    ``budget_s`` is measured with ``torch.utils.benchmark.Timer.blocked_autorange(min_run_time=budget_s)``; a slower
    one is timed pass by pass, ``floor(budget_s / warm-up time)`` times and at least once (``Timer.timeit`` would
    add two warm-up passes per call), so the measurement stays near ``budget_s`` plus one pass. CUDA is synchronized
    around every timed pass. The model is moved to ``device``.

    Args:
        model: the network.
        input_size: (C, H, W).
        device: 'cpu' or 'cuda'.
        threads: intra-op CPU threads during the measurement (restored afterwards).
        budget_s: target measuring time in seconds.
    """
    model = model.to(device).eval()
    x = torch.randn((1, *input_size), device=device)

    @torch.no_grad()
    def forward():
        model(x)

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        warmup_s = _timed(forward, device)  # also warms the allocator and oneDNN / cuDNN choices
        if warmup_s * _FAST_RUNS <= budget_s:
            timer = _import_benchmark().Timer(stmt='forward()', globals={'forward': forward}, num_threads=threads)
            median_s = timer.blocked_autorange(min_run_time=budget_s).median
        else:
            runs = max(1, int(budget_s // warmup_s))
            median_s = statistics.median(_timed(forward, device) for _ in range(runs))
    finally:
        torch.set_num_threads(previous)
    return float(median_s * 1e3)


def variant_geometry(model: nn.Module, input_size, base_resolution: int,
                     backbone: str = DEFAULT_BACKBONE) -> Dict[str, Any]:
    """The network as built: blocks and output channels per stage, each stage's feature-map size, head channels.

    Measured, not computed: a forward hook on every stage of the backbone (``model.blocks[i]`` for EfficientNet and
    MobileNetV2, ``model.layer1..4`` for ResNet: the stages timm's ``feature_info`` names) records its output shape
    during one batch-1 forward pass of zeros at ``input_size`` (C, H, W).

    Returns:
        ``stage_repeats``, ``stage_channels``, ``stage_feature_maps`` ([h, w] per stage), ``final_feature_map``
        ([h, w] of the last stage), ``head_channels`` and ``px_over_base`` (input px / ``base_resolution``).
    """
    shapes, stages = [], get_backbone(backbone).stages(model)
    hooks = [stage.register_forward_hook(lambda _m, _inp, out: shapes.append(tuple(out.shape))) for stage in stages]
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(torch.zeros((1, *input_size)))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return {
        'stage_repeats': [len(stage) for stage in stages],
        'stage_channels': [int(s[1]) for s in shapes],
        'stage_feature_maps': [[int(s[2]), int(s[3])] for s in shapes],
        'final_feature_map': [int(shapes[-1][2]), int(shapes[-1][3])],
        'head_channels': int(model.num_features),
        'px_over_base': float(input_size[-1]) / base_resolution,
    }


def _versions() -> Dict[str, str]:
    return {'torch': torch.__version__, 'timm': timm.__version__, 'effscale': effscale_timm.__version__}


def profile_variant(
        variant: str,
        num_classes: int = 1000,
        in_chans: int = 3,
        base_resolution: int = 224,
        latency: bool = True,
        threads: int = 1,
        activations: bool = True,
        latency_budget_s: float = LATENCY_BUDGET_S,
) -> Dict[str, Any]:
    """Build a registered variant with ``timm.create_model`` and profile it at its own input size.

    Args:
        variant: a registered effscale name (built-in or added by :func:`effscale_timm.register_variant`).
        num_classes: classifier size.
        in_chans: input channels.
        base_resolution: the unscaled input size in pixels; the variant's resolution multiplier applies to it.
        latency: measure batch-1 CPU latency (and GPU latency when CUDA is available).
        threads: CPU threads used for the CPU latency.
        activations: count activations with fvcore (a second trace of the model).
        latency_budget_s: measuring time per device, seconds.

    Returns:
        A JSON-ready dict: variant, depth, width, resolution, input_size, num_classes, in_chans, base_resolution,
        params, gmacs (paper-comparable conv + linear), gmacs_total, gflops (= 2 x gmacs), mactivations,
        skipped_ops, cpu_latency_ms, gpu_latency_ms (None without CUDA), threads, versions, units, and the geometry
        of :func:`variant_geometry` (stage_repeats, stage_channels, stage_feature_maps, final_feature_map,
        head_channels, px_over_base).
    """
    spec = variant_spec(variant)
    model = timm.create_model(variant, num_classes=num_classes, in_chans=in_chans, base_resolution=base_resolution)
    model.eval()
    input_size = tuple(model.pretrained_cfg['input_size'])
    macs = count_macs(model, input_size)
    result = {
        'variant': variant, 'backbone': spec.backbone, 'depth': spec.depth, 'width': spec.width,
        'resolution': spec.resolution,
        'input_size': int(input_size[-1]), 'num_classes': num_classes, 'in_chans': in_chans,
        'base_resolution': base_resolution,
        'params': int(sum(p.numel() for p in model.parameters())),
        'gmacs': macs['conv_linear'] / 1e9,
        'gmacs_total': macs['total'] / 1e9,
        'gflops': 2 * macs['conv_linear'] / 1e9,
        'mactivations': count_activations(model, input_size) / 1e6 if activations else None,
        'skipped_ops': {str(k): int(v) for k, v in sorted(macs['skipped_ops'].items())},
        'cpu_latency_ms': None, 'gpu_latency_ms': None, 'threads': threads,
        'cpu_threads_available': os.cpu_count(),
        'gpu': torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        **variant_geometry(model, input_size, base_resolution, spec.backbone),
    }
    if latency:
        result['cpu_latency_ms'] = measure_latency(model, input_size, 'cpu', threads, latency_budget_s)
        if torch.cuda.is_available():
            result['gpu_latency_ms'] = measure_latency(model, input_size, 'cuda', threads, latency_budget_s)
    result.update(_versions())
    result['units'] = dict(UNITS)
    return result


def _rel(ours: float, paper: float) -> float:
    return ours / paper - 1.0


def paper_table(latency: bool = False, activations: bool = False, threads: int = 1) -> List[Dict[str, Any]]:
    """Profile effscale_b0..b7 (ImageNet: 1000 classes, 3 channels, each at its own resolution) beside Table 2.

    Returns:
        One dict per model: :func:`profile_variant`'s fields plus ``paper`` (the reference row: params_m,
        timm_params_m, macs_b, top1, ...), ``params_rel_error`` (vs timm's count), ``paper_params_rel_error``
        (vs the paper's rounded count) and ``gmacs_rel_error`` / ``gmacs_total_rel_error`` (vs the paper's MACs).
    """
    rows = []
    for ref in reference_rows('table2'):
        prof = profile_variant(ref['variant'], num_classes=1000, in_chans=3, base_resolution=224, latency=latency,
                               threads=threads, activations=activations)
        if prof['input_size'] != ref['resolution_px']:
            raise RuntimeError(f'{ref["variant"]} builds at {prof["input_size"]} px, paper Table 2 says '
                               f'{ref["resolution_px"]} px')
        prof.update(
            paper=ref,
            params_rel_error=_rel(prof['params'] / 1e6, ref['timm_params_m']),
            paper_params_rel_error=_rel(prof['params'] / 1e6, ref['params_m']),
            gmacs_rel_error=_rel(prof['gmacs'], ref['macs_b']),
            gmacs_total_rel_error=_rel(prof['gmacs_total'], ref['macs_b']),
        )
        rows.append(prof)
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of ``effscale profile``."""
    parser.add_argument('--variant', required=True,
                        help='registered variant name, or a new name with --depth/--width/--resolution')
    for axis in SPEC_FIELDS:
        parser.add_argument(f'--{axis}', type=float, default=None,
                            help=f"{axis} of a custom variant (default: the registered variant's, or B0's)")
    parser.add_argument('--backbone', default=None, help="a custom variant's backbone (default: the registered "
                                                          "variant's, or efficientnet_b0)")
    parser.add_argument('--num-classes', type=int, default=1000, help='classifier size (default 1000)')
    parser.add_argument('--in-chans', type=int, default=3, help='input channels (default 3)')
    parser.add_argument('--base-resolution', type=int, default=224,
                        help='unscaled input size in pixels (default 224; the dataset\'s size on small data)')
    parser.add_argument('--no-latency', action='store_true', help='skip the latency measurement')
    parser.add_argument('--threads', type=int, default=1, help='CPU threads for the CPU latency (default 1)')
    parser.add_argument('--out', default=None, help='JSON file to write (atomically); stdout when omitted')
    return parser


def run_cli(args: argparse.Namespace) -> Dict[str, Any]:
    """Run ``effscale profile``: profile one variant and write its JSON to ``--out`` (or print it)."""
    resolve_variant(args.variant, args.depth, args.width, args.resolution, args.dropout,
                    note='custom (effscale profile)', backbone=args.backbone)
    result = profile_variant(args.variant, num_classes=args.num_classes, in_chans=args.in_chans,
                             base_resolution=args.base_resolution, latency=not args.no_latency, threads=args.threads)
    if args.out:
        write_profile(args.out, result)
    else:
        print(json.dumps(result, indent=2, allow_nan=False))
    return result
