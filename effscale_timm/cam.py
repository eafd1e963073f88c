"""``effscale cam``: Grad-CAM maps of a trained model on fixed test images (the paper's Figure 7 draws them; the
report's CAM grid, :func:`effscale_timm.report.figures.cam_grid`, draws ours from the files written here).

Paper: `EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks` - https://arxiv.org/abs/1905.11946
(Tan & Le, 2019), Figure 7 compares class activation maps of B0 scaled by depth, width, resolution and compound
scaling on the same images. Grad-CAM: Selvaraju et al., arXiv:1610.02391, via ``pytorch-grad-cam``.

Target layer: one stage for every variant of a study. Maps are compared across variants, so they must come from the same
layer: a stage at a fixed output stride. The candidates are the end of each stride (timm's ``feature_info`` stages
``blocks.0``, ``blocks.1``, ``blocks.2``, ``blocks.4``, ``blocks.6`` at strides 2, 4, 8, 16, 32) and the head (``bn2``,
after ``conv_head``, stride 32). :func:`select_stage` picks the *deepest* candidate whose map for B0 at the study's
*base* resolution is at least ``min_size`` x ``min_size`` (2 x 2 by default). Depth and width scaling do not change a
stage's stride, and the base resolution is the same for every variant of a study (it is stored in each ``model.pt``), so
every variant gets the same stage: at base 32 px (CIFAR) that is ``blocks.4`` (stride 16: B0 2 x 2, the 40 px compound
model 3 x 3, a 64 px resolution-scaled model 4 x 4); from base 64 px on it is the head (B0 4 x 4 at base 128 px, 7 x 7
at 224 px, the usual Grad-CAM layer of the paper's Figure 7). Why the deepest: the deeper the layer, the more
class-specific its features (the reason Grad-CAM uses the last convolution); why at least 2 x 2: a 1 x 1 map (the head
at 32 px) carries no spatial information and every map is constant. A variant with a resolution multiplier below 1 may
get a smaller map than B0's there. ``effscale cam --stage`` names the stage outright; ``--base-resolution`` chooses it
for another base. The CAM file stores the layer (``target_layer``), its output stride (``target_stride``), its map size
at the variant's input (``feature_size``) and the rule that chose it (``stage_rule``); the report's CAM grid
(:func:`effscale_timm.report.figures.cam_grid`) refuses files made at different layers.

Images are the first ``per_class`` test images of every class (the same for every variant), resized to the model's
input size (bilinear, no antialias) and normalized as in training; the target is the predicted class. Maps are in
[0, 1] (pytorch-grad-cam's per-image min-max scaling) and resized to the dataset's native image size for display.
"""
from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data.prepared import load_prepared
from .data.transforms import ModelInput
from .files.cam_file import save_cam
from .files.model_file import load_trained_model

__all__ = ['load_test_split', 'pick_images', 'preprocess', 'candidate_layers', 'feature_map_sizes', 'select_stage',
           'layer_by_name', 'grad_cam', 'compute_cams', 'add_arguments', 'run_cli']

MIN_MAP_SIZE = 2  # smallest map (per side) of the Grad-CAM layer for B0 at the base resolution
FLAT_EPS = 1e-6  # a map whose max - min is below this carries no spatial information


def load_test_split(data_path: os.PathLike) -> Dict[str, Any]:
    """The test split of a prepared dataset ``.npz``: x_test (N, C, H, W uint8), y_test, classes, mean, std (read and
    checked by :func:`effscale_timm.data.prepared.load_prepared`)."""
    split = load_prepared(data_path, keys=('x_test', 'y_test', 'classes', 'mean', 'std'))
    split['classes'] = [str(c) for c in split['classes']]
    if split['x_test'].dtype != np.uint8 or split['x_test'].ndim != 4:
        raise ValueError(f'{data_path}: x_test must be uint8 N x C x H x W, got {split["x_test"].dtype} '
                         f'{split["x_test"].shape}')
    return split


def pick_images(labels: np.ndarray, per_class: int = 1, seed: int = 0) -> np.ndarray:
    """Indices of fixed test images, ``per_class`` of every class, ordered by class then index.

    Seed 0 takes the first ``per_class`` images of each class; another seed draws them at random with
    ``numpy.random.default_rng(seed)``. Either way the choice depends only on the labels, so every variant gets the
    same images.
    """
    if per_class < 1:
        raise ValueError(f'per_class must be >= 1, got {per_class!r}')
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if seed != 0:
            idx = np.sort(rng.choice(idx, size=min(per_class, len(idx)), replace=False))
        chosen.append(idx[:per_class])
    return np.concatenate(chosen).astype(np.int64)


def preprocess(images: np.ndarray, input_size: int, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 N x C x H x W -> the model's input, by the transform training uses
    (:class:`effscale_timm.data.transforms.ModelInput`)."""
    return ModelInput(input_size, mean, std)(torch.from_numpy(np.ascontiguousarray(images)))


def candidate_layers(model: nn.Module) -> List[Tuple[str, nn.Module, int]]:
    """``(name, module, output stride)`` of the last stage of each stride (timm's ``feature_info``) and of the head
    (``bn2``), shallow to deep."""
    modules = dict(model.named_modules())
    layers = [(info['module'], modules[info['module']], int(info['reduction'])) for info in model.feature_info]
    if hasattr(model, 'bn2'):
        layers.append(('bn2', model.bn2, layers[-1][2]))
    return layers


@torch.no_grad()
def feature_map_sizes(model: nn.Module, input_size: int, in_chans: int) -> Dict[str, Tuple[int, int]]:
    """``{name: (height, width)}`` of every :func:`candidate_layers` map at ``input_size``, by one dry forward pass
    (the model's train/eval mode is kept)."""
    shapes: Dict[str, Tuple[int, int]] = {}
    handles = [module.register_forward_hook(
        lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(int(s) for s in out.shape[-2:])))
        for name, module, _ in candidate_layers(model)]
    was_training = model.training
    try:
        model.eval()
        model(torch.zeros(1, in_chans, input_size, input_size, device=next(model.parameters()).device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return shapes


def select_stage(model: nn.Module, base_resolution: int, in_chans: int,
                 min_size: int = MIN_MAP_SIZE) -> Tuple[str, int, str]:
    """The study's Grad-CAM layer: the deepest candidate whose map at ``base_resolution`` (B0's input: strides do
    not depend on depth or width, so any variant of the study gives the same answer) is at least ``min_size`` per side.

    Returns:
        ``(name, output stride, the rule and its outcome as one line of text)``.

    Raises:
        ValueError: no candidate is that large at ``base_resolution``.
    """
    sizes = feature_map_sizes(model, int(base_resolution), in_chans)
    large = [(name, stride) for name, _, stride in candidate_layers(model) if min(sizes[name]) >= min_size]
    if not large:
        raise ValueError(f'no layer has a map of at least {min_size} x {min_size} at {base_resolution} px: {sizes}')
    name, stride = large[-1]
    h, w = sizes[name]
    rule = (f'deepest layer whose map for B0 at the base resolution {int(base_resolution)} px is at least '
            f'{min_size} x {min_size}: {name} (stride {stride}, {h} x {w} there)')
    return name, stride, rule


def layer_by_name(model: nn.Module, name: str) -> Tuple[nn.Module, int]:
    """``(module, output stride)`` of the candidate layer ``name``; ``ValueError`` naming the candidates if unknown."""
    layers = {n: (module, stride) for n, module, stride in candidate_layers(model)}
    if name not in layers:
        raise ValueError(f'stage must be one of {list(layers)}, got {name!r}')
    return layers[name]


def _grad_cam_classes():
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        from pytorch_grad_cam import GradCAM
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    return GradCAM, ClassifierOutputTarget


def grad_cam(model: nn.Module, layer: nn.Module, x: torch.Tensor, targets: Sequence[int],
             batch_size: int = 32) -> np.ndarray:
    """Grad-CAM of ``targets`` (class indices) at ``layer``: N x H x W float32 in [0, 1] at ``x``'s size.

    Runs with gradients enabled, also when called inside ``torch.no_grad``.
    """
    GradCAM, ClassifierOutputTarget = _grad_cam_classes()
    device = next(model.parameters()).device
    maps = []
    with torch.enable_grad(), GradCAM(model=model, target_layers=[layer]) as cam:
        for start in range(0, len(x), batch_size):
            chunk = x[start:start + batch_size].to(device)
            chunk_targets = [ClassifierOutputTarget(int(t)) for t in targets[start:start + batch_size]]
            maps.append(cam(input_tensor=chunk, targets=chunk_targets))
    return np.concatenate(maps).astype(np.float32)


@torch.no_grad()
def _predict(model: nn.Module, x: torch.Tensor, batch_size: int) -> np.ndarray:
    device = next(model.parameters()).device
    return torch.cat([model(x[i:i + batch_size].to(device)).argmax(-1).cpu()
                      for i in range(0, len(x), batch_size)]).numpy().astype(np.int64)


def _to_display(maps: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    t = torch.from_numpy(maps)[:, None]
    if tuple(t.shape[-2:]) != tuple(size):
        t = F.interpolate(t, size=size, mode='bilinear', align_corners=False)
    return t[:, 0].clamp_(0, 1).numpy().astype(np.float32)


def _unique_label(variant: str, path: os.PathLike, taken: Dict[str, Any]) -> str:
    if variant not in taken:
        return variant
    return f'{variant}@{Path(path).parent.name}'


def compute_cams(model_paths: Sequence[os.PathLike], data_path: os.PathLike, per_class: int = 1, seed: int = 0,
                 device: str = 'cpu', batch_size: int = 32, stage: Optional[str] = None,
                 base_resolution: Optional[int] = None, min_size: int = MIN_MAP_SIZE) -> Dict[str, Any]:
    """Grad-CAM maps of several trained models on the same test images, all at the same layer.

    Args:
        model_paths: ``model.pt`` files (see :func:`load_trained_model`).
        data_path: the prepared dataset ``.npz``.
        per_class: images per class.
        seed: 0 = the first images of each class; otherwise a seeded random pick (see :func:`pick_images`).
        device: where the models run.
        batch_size: images per Grad-CAM pass.
        stage: the layer (a :func:`candidate_layers` name such as ``'blocks.4'``); default: :func:`select_stage`.
        base_resolution: the base resolution :func:`select_stage` chooses from; default: each model file's own.
        min_size: smallest map (pixels per side at the base resolution) :func:`select_stage` accepts.

    Returns:
        ``images`` (N, C, H, W uint8, native size), ``labels``, ``indices`` (into the test split), ``classes``,
        ``variants`` (labels in input order), ``stage_rule`` (how the layer was chosen) and per variant dicts
        ``preds`` (N,), ``cams`` (N, H, W float32 in [0, 1] at the native size), ``flat`` (N, bool: map without
        spatial information), ``target_layers`` (the same for every variant), ``target_strides``,
        ``feature_sizes`` (the layer's map at the variant's input), ``input_sizes``, ``model_paths``; plus
        per_class and seed.

    Raises:
        ValueError: the models would get different layers (model files of different base resolutions; pass
            ``stage`` or ``base_resolution``).
    """
    split = load_test_split(data_path)
    indices = pick_images(split['y_test'], per_class, seed)
    images, labels = split['x_test'][indices], split['y_test'][indices].astype(np.int64)
    result: Dict[str, Any] = {
        'images': images, 'labels': labels, 'indices': indices, 'classes': split['classes'], 'variants': [],
        'preds': {}, 'cams': {}, 'flat': {}, 'target_layers': {}, 'target_strides': {}, 'feature_sizes': {},
        'input_sizes': {}, 'model_paths': {}, 'per_class': per_class, 'seed': seed, 'stage_rule': '',
    }
    for path in model_paths:
        _add_variant(result, path, images, split, device, batch_size, dict(
            stage=stage, base_resolution=base_resolution, min_size=min_size))
    return result


def _choose_layer(model: nn.Module, meta: Dict[str, Any], stage: Optional[str], base_resolution: Optional[int],
                  min_size: int) -> Tuple[str, nn.Module, int, str]:
    """``(name, module, stride, rule)``: ``stage`` when named, else :func:`select_stage` at the base resolution."""
    if stage is not None:
        module, stride = layer_by_name(model, stage)
        return stage, module, stride, f'named: {stage} (stride {stride})'
    base = int(base_resolution or meta['base_resolution'])
    name, stride, rule = select_stage(model, base, meta['in_chans'], min_size)
    return name, layer_by_name(model, name)[0], stride, rule


def _add_variant(result: Dict[str, Any], path: os.PathLike, images: np.ndarray, split: Dict[str, Any], device: str,
                 batch_size: int, stage_args: Dict[str, Any]) -> None:
    """Load one model and add its predictions and maps to a :func:`compute_cams` result."""
    model, meta = load_trained_model(path, device)
    if meta['in_chans'] != images.shape[1]:
        raise ValueError(f'{path} takes {meta["in_chans"]} channels, the dataset has {images.shape[1]}')
    px = int(meta['input_size'])
    x = preprocess(images, px, meta.get('mean', split['mean']), meta.get('std', split['std']))
    name, layer, stride, rule = _choose_layer(model, meta, **stage_args)
    earlier = set(result['target_layers'].values()) - {name}
    if earlier:
        raise ValueError(f'{path} gets layer {name} ({rule}), earlier models {sorted(earlier)}: maps at different '
                         f'layers are not comparable; pass stage= or base_resolution=')
    preds = _predict(model, x, batch_size)
    maps = _to_display(grad_cam(model, layer, x, preds, batch_size), tuple(images.shape[-2:]))
    label = _unique_label(meta['variant'], path, result['preds'])
    result['variants'].append(label)
    result['stage_rule'] = result['stage_rule'] or rule
    result['preds'][label] = preds
    result['cams'][label] = maps
    result['flat'][label] = (maps.max(axis=(1, 2)) - maps.min(axis=(1, 2))) < FLAT_EPS
    result['target_layers'][label] = name
    result['target_strides'][label] = stride
    result['feature_sizes'][label] = feature_map_sizes(model, px, meta['in_chans'])[name]
    result['input_sizes'][label] = px
    result['model_paths'][label] = str(path)


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of ``effscale cam``: the maps of one trained model."""
    parser.add_argument('--model', required=True, help='trained model file (model.pt)')
    parser.add_argument('--data', required=True, help='prepared dataset (.npz) whose test split is used')
    parser.add_argument('--out', required=True, help='CAM file to write (.npz)')
    parser.add_argument('--per-class', type=int, default=1, help='test images per class (default 1)')
    parser.add_argument('--seed', type=int, default=0,
                        help='0: the first images of each class (default); other values: a seeded random pick')
    parser.add_argument('--device', default='cpu', help='torch device (default cpu)')
    parser.add_argument('--batch-size', type=int, default=32, help='images per Grad-CAM pass (default 32)')
    parser.add_argument('--stage', default=None,
                        help='Grad-CAM layer, e.g. blocks.4 or bn2 (default: the deepest stage whose map for B0 at '
                             'the base resolution is at least 2 x 2; the same for every variant of a study)')
    parser.add_argument('--base-resolution', type=int, default=None,
                        help='base resolution the default stage is chosen from (default: the model file\'s)')
    parser.add_argument('--threads', type=int, default=None, help='CPU threads for torch (default: torch\'s own)')
    return parser


def run_cli(args: argparse.Namespace) -> Path:
    """Run ``effscale cam``: compute and save the maps of ``--model`` on ``--data``."""
    if args.threads:
        torch.set_num_threads(args.threads)
    result = compute_cams([args.model], args.data, per_class=args.per_class, seed=args.seed, device=args.device,
                          batch_size=args.batch_size, stage=args.stage, base_resolution=args.base_resolution)
    return save_cam(args.out, result)

