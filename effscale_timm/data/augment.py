"""RandAugment and random erasing on batches on the training device, with timm's semantics and one generator.

timm applies RandAugment (``timm.data.auto_augment.rand_augment_transform``) to one PIL image at a time in CPU
workers and random erasing (``timm.data.random_erasing.RandomErasing``) with Python's global ``random`` module.
:class:`DeviceRandAugment` and :func:`random_erasing` do the same to whole uint8 / normalised batches where they
live (GPU or CPU): every random draw (which op, whether it applies, its magnitude and sign, the erased box) comes
from the ``torch.Generator`` the batches already use, so a run resumed from a checkpoint (which saves that
generator's state) sees the same augmentation. timm's ``RandomErasing`` cannot be given a generator, hence
:func:`random_erasing` here, with its parameters.

RandAugment as timm's ``'rand-m9-mstd0.5'``: per image, ``n`` (2) ops drawn uniformly with replacement from timm's
``_RAND_TRANSFORMS`` (or ``_RAND_INCREASING_TRANSFORMS`` with ``inc1``), each applied with probability ``p`` (0.5)
at magnitude ``m`` (of 10) plus normal noise of std ``mstd`` (uniform in [0, m] when ``mstd`` > 100), clipped to
[0, ``mmax``] (10); magnitude-to-argument rules, signs and fill colour (the dataset mean) are timm's. Ops run
grouped by op, each on the images that drew it, with per-image arguments: the colour ops as PIL's ``ImageEnhance``
/ ``ImageOps`` on uint8 values (same blends, truncation and borders), equalize / autocontrast / invert with
torchvision's ``transforms.v2.functional``, and the geometric ops (rotate, shear, translate) as one batched
bilinear affine warp with PIL's edge rule; on test images every op agrees with timm's PIL op given the same argument
to within one grey level. Differences from timm: bilinear interpolation for the geometric ops (timm's
``create_transform`` uses the model's, bicubic for EfficientNets); posterize to 0 bits gives black (timm with a
current Pillow raises; that needs a magnitude below 2.5); ops run at the dataset's native size before the resize to
the model's input (timm: after the random resized crop). Weighted op sets (``t...`` sections) and AutoAugment
policies are not supported.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Dict, Sequence, Tuple

import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF

LEVEL_DENOM = 10.0  # timm's _LEVEL_DENOM: magnitudes are in tenths of an op's full range

RAND_OPS = ('AutoContrast', 'Equalize', 'Invert', 'Rotate', 'Posterize', 'Solarize', 'SolarizeAdd', 'Color',
            'Contrast', 'Brightness', 'Sharpness', 'ShearX', 'ShearY', 'TranslateXRel', 'TranslateYRel')
RAND_INCREASING_OPS = ('AutoContrast', 'Equalize', 'Invert', 'Rotate', 'PosterizeIncreasing', 'SolarizeIncreasing',
                       'SolarizeAdd', 'ColorIncreasing', 'ContrastIncreasing', 'BrightnessIncreasing',
                       'SharpnessIncreasing', 'ShearX', 'ShearY', 'TranslateXRel', 'TranslateYRel')
GEOMETRIC_OPS = ('Rotate', 'ShearX', 'ShearY', 'TranslateXRel', 'TranslateYRel')


@dataclass(frozen=True)
class RandAugmentConfig:
    """A parsed ``'rand-...'`` string; the defaults are timm's."""
    magnitude: int = 10
    num_layers: int = 2
    prob: float = 0.5
    magnitude_std: float = 0.0  # inf: uniform in [0, magnitude]
    magnitude_max: float = LEVEL_DENOM
    increasing: bool = False

    @property
    def ops(self) -> Tuple[str, ...]:
        return RAND_INCREASING_OPS if self.increasing else RAND_OPS


_SECTIONS = {'m': ('magnitude', int), 'n': ('num_layers', int), 'p': ('prob', float),
             'mstd': ('magnitude_std', float), 'mmax': ('magnitude_max', int), 'inc': ('increasing', int)}


def parse_rand_augment(config_str: str) -> RandAugmentConfig:
    """Parse timm's RandAugment string: ``'rand'`` then dash-separated ``m<int>`` (magnitude, default 10),
    ``n<int>`` (ops per image, 2), ``p<float>`` (probability of each op, 0.5), ``mstd<float>`` (magnitude noise,
    0; above 100: uniform), ``mmax<int>`` (magnitude bound, 10), ``inc<0|1>`` (the increasing op set, 0).

    Raises:
        ValueError: naming the string and the section that is not understood.
    """
    if not isinstance(config_str, str) or not config_str:
        raise ValueError(f'auto_augment must be a RandAugment string such as "rand-m9-mstd0.5", got {config_str!r}')
    head, *sections = config_str.split('-')
    if head != 'rand':
        raise ValueError(f'auto_augment {config_str!r}: only RandAugment strings starting with "rand" are supported '
                         f'on device batches (not AutoAugment or AugMix policies)')
    values: Dict[str, object] = {}
    for section in sections:
        match = re.fullmatch(r'([a-z]+)(\d.*)', section)
        if not match or match.group(1) not in _SECTIONS:
            raise ValueError(f'auto_augment {config_str!r}: section {section!r} is not one of m<int>, n<int>, '
                             f'p<float>, mstd<float>, mmax<int>, inc<0|1>')
        key, cast = _SECTIONS[match.group(1)]
        try:
            values[key] = cast(match.group(2))
        except ValueError:
            kind = 'an integer' if cast is int else 'a number'
            raise ValueError(f'auto_augment {config_str!r}: {section!r} needs {kind} after '
                             f'{match.group(1)!r}') from None
    if values.get('magnitude_std', 0.0) > 100:
        values['magnitude_std'] = math.inf
    if 'increasing' in values:
        values['increasing'] = bool(values['increasing'])
    config = RandAugmentConfig(**values)
    if config.num_layers < 1 or not 0.0 <= config.prob <= 1.0 or config.magnitude_std < 0:
        raise ValueError(f'auto_augment {config_str!r}: needs n >= 1, 0 <= p <= 1 and mstd >= 0')
    return config


def op_arguments(name: str, magnitude: torch.Tensor, negate: torch.Tensor) -> torch.Tensor:
    """timm's ``LEVEL_TO_ARG`` for op ``name``, per image: magnitudes (clipped, 0-10) and signs -> the op's argument
    (degrees, shear factor, translate fraction, bits kept, threshold, added value or enhance factor)."""
    level = magnitude.double() / LEVEL_DENOM
    sign = torch.where(negate, -1.0, 1.0).double()
    if name == 'Rotate':
        return level * 30.0 * sign
    if name in ('ShearX', 'ShearY'):
        return level * 0.3 * sign
    if name in ('TranslateXRel', 'TranslateYRel'):
        return level * 0.45 * sign
    if name.startswith('Posterize'):
        bits = torch.floor(level * 4)
        return 4 - bits if name == 'PosterizeIncreasing' else bits
    if name.startswith('Solarize') and name != 'SolarizeAdd':
        thresh = torch.clamp(torch.floor(level * 256), max=256)
        return 256 - thresh if name == 'SolarizeIncreasing' else thresh
    if name == 'SolarizeAdd':
        return torch.clamp(torch.floor(level * 110), max=128)
    if name.endswith('Increasing'):  # Color, Contrast, Brightness, Sharpness: 1 is no change
        return torch.clamp(1.0 + level * 0.9 * sign, min=0.1)
    if name in ('Color', 'Contrast', 'Brightness', 'Sharpness'):
        return level * 1.8 + 0.1
    return torch.zeros_like(level)  # AutoContrast, Equalize, Invert take none


def _per_image(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return values.to(x.device, torch.float32).view(-1, 1, 1, 1)


def _blend(degenerate: torch.Tensor, x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """PIL's ``Image.blend(degenerate, x, factor)`` on uint8 values: clipped to 0-255, truncated."""
    out = degenerate + _per_image(factor, x) * (x.float() - degenerate)
    return out.clamp_(0, 255).to(torch.uint8)


def _gray(x: torch.Tensor) -> torch.Tensor:
    """PIL's ``convert('L')`` (ITU-R 601-2 luma, rounded) as float, N x 1 x H x W."""
    if x.shape[1] == 1:
        return x.float()
    weights = torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)
    return (x.float() * weights).sum(1, keepdim=True).round_()


def _smooth(x: torch.Tensor) -> torch.Tensor:
    """PIL's ``ImageFilter.SMOOTH`` (3 x 3, centre 5, others 1, / 13), borders left as they are."""
    c = x.shape[1]
    kernel = torch.ones(c, 1, 3, 3, device=x.device)
    kernel[:, :, 1, 1] = 5.0
    inner = F.conv2d(x.float(), kernel / 13.0, groups=c).round_()
    out = x.float().clone()
    out[..., 1:-1, 1:-1] = inner
    return out


def _posterize(x: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    masks = [(0xFF << (8 - int(b))) & 0xFF if b < 8 else 0xFF for b in bits.tolist()]
    return x & torch.tensor(masks, dtype=torch.uint8).to(x.device).view(-1, 1, 1, 1)


def _solarize_add(x: torch.Tensor, add: torch.Tensor) -> torch.Tensor:
    added = (x.float() + _per_image(add, x)).clamp_(max=255).to(torch.uint8)
    return torch.where(x < 128, added, x)


def _contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    mean = torch.floor(_gray(x).mean(dim=(1, 2, 3), keepdim=True) + 0.5)
    return _blend(mean, x, factor)


PIXEL_OPS: Dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    'AutoContrast': lambda x, _a: TF.autocontrast(x),
    'Equalize': lambda x, _a: TF.equalize(x),
    'Invert': lambda x, _a: TF.invert(x),
    'Posterize': _posterize,
    'Solarize': lambda x, t: torch.where(x.float() >= _per_image(t, x), 255 - x, x),
    'SolarizeAdd': _solarize_add,
    'Color': lambda x, f: _blend(_gray(x), x, f),
    'Contrast': _contrast,
    'Brightness': lambda x, f: _blend(torch.zeros((), device=x.device), x, f),
    'Sharpness': lambda x, f: _blend(_smooth(x), x, f),
}
PIXEL_OPS.update({f'{name}Increasing': PIXEL_OPS[name]  # the same op; only the argument's rule differs
                  for name in ('Posterize', 'Solarize', 'Color', 'Contrast', 'Brightness', 'Sharpness')})


def _pixel_affine(name: str, arg: torch.Tensor, h: int, w: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """PIL's output -> input pixel map of a geometric op, per image: ``(A (k, 2, 2), t (k, 2))``."""
    k = len(arg)
    a = torch.eye(2, dtype=torch.float64).repeat(k, 1, 1)
    t = torch.zeros(k, 2, dtype=torch.float64)
    if name == 'Rotate':  # PIL's Image.rotate: counter-clockwise about the centre
        rad = -torch.deg2rad(arg)
        a = torch.stack([torch.cos(rad), torch.sin(rad), -torch.sin(rad), torch.cos(rad)], 1).view(k, 2, 2)
        centre = torch.tensor([w / 2.0, h / 2.0], dtype=torch.float64)
        t = centre - a @ centre
    elif name == 'ShearX':
        a[:, 0, 1] = arg
    elif name == 'ShearY':
        a[:, 1, 0] = arg
    elif name == 'TranslateXRel':
        t[:, 0] = arg * w
    else:  # TranslateYRel
        t[:, 1] = arg * h
    return a, t


def _theta(a: torch.Tensor, t: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """A pixel-space map (pixel centres at +0.5) as ``affine_grid``'s normalised theta (align_corners=False)."""
    s = torch.diag(torch.tensor([w / 2.0, h / 2.0], dtype=torch.float64))
    s_inv = torch.linalg.inv(s)
    lin = s_inv @ a @ s
    shift = (s_inv @ (a @ s @ torch.ones(2, dtype=torch.float64) + t).unsqueeze(-1)).squeeze(-1) - 1
    return torch.cat([lin, shift.unsqueeze(-1)], dim=2).float()


def _warp(x: torch.Tensor, theta: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    """Bilinear affine warp of uint8 images as PIL's ``Image.transform``: a pixel whose source lies outside the image
    gets ``fill`` (C,) in 0-255; inside, the edge pixels are repeated for the interpolation."""
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    out = F.grid_sample(x.float(), grid, mode='bilinear', padding_mode='border', align_corners=False)
    inside = ((grid >= -1) & (grid < 1)).all(-1, keepdim=True).permute(0, 3, 1, 2)
    out = torch.where(inside, out, fill.view(1, -1, 1, 1))
    return out.add_(1e-3).clamp_(0, 255).to(torch.uint8)  # truncated as PIL does; 1e-3 absorbs float error


class DeviceRandAugment:
    """timm's RandAugment on uint8 N x C x H x W batches, on their device, random draws from a CPU generator.

    Args:
        config_str: timm's RandAugment string, e.g. ``'rand-m9-mstd0.5'`` (see :func:`parse_rand_augment`).
        mean: the dataset's per-channel mean in [0, 1] units: the fill colour of the geometric ops (timm's
            ``img_mean``).

    Calling it with ``(images, generator)`` returns new augmented uint8 images of the same shape on the same device;
    each call draws a fixed number of values from ``generator`` for a given batch size.
    """

    def __init__(self, config_str: str, mean: Sequence[float]):
        self.config = parse_rand_augment(config_str)
        self.config_str = config_str
        self.fill = torch.tensor([min(255, round(255 * m)) for m in mean], dtype=torch.float32)

    def draw(self, n: int, generator: torch.Generator) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                                 torch.Tensor]:
        """Per layer and image: op index, whether it applies, magnitude (clipped) and sign: 4 tensors (layers, n)."""
        cfg, layers = self.config, self.config.num_layers
        op = torch.randint(len(cfg.ops), (layers, n), generator=generator)
        apply = torch.rand(layers, n, generator=generator) < cfg.prob
        if math.isinf(cfg.magnitude_std):
            magnitude = torch.rand(layers, n, generator=generator, dtype=torch.float64) * cfg.magnitude
        else:
            noise = torch.randn(layers, n, generator=generator, dtype=torch.float64)
            magnitude = cfg.magnitude + cfg.magnitude_std * noise
        negate = torch.rand(layers, n, generator=generator) > 0.5
        return op, apply, magnitude.clamp(0, cfg.magnitude_max or LEVEL_DENOM), negate

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if x.dtype != torch.uint8 or x.ndim != 4:
            raise ValueError(f'RandAugment takes uint8 N x C x H x W images, got {x.dtype} {tuple(x.shape)}')
        op, apply, magnitude, negate = self.draw(len(x), generator)
        x = x.clone()
        for layer in range(self.config.num_layers):
            self.apply_layer(x, op[layer], apply[layer], magnitude[layer], negate[layer])
        return x

    def apply_layer(self, x: torch.Tensor, op: torch.Tensor, apply: torch.Tensor, magnitude: torch.Tensor,
                    negate: torch.Tensor) -> None:
        """Apply one op per image (``op`` indexes ``config.ops``; CPU tensors of length N) to ``x`` in place."""
        h, w = x.shape[-2:]
        warps, thetas = [], []
        for k, name in enumerate(self.config.ops):
            chosen = torch.nonzero(apply & (op == k)).flatten()
            if len(chosen) == 0:
                continue
            arg = op_arguments(name, magnitude[chosen], negate[chosen])
            if name in GEOMETRIC_OPS:
                warps.append(chosen)
                thetas.append(_theta(*_pixel_affine(name, arg, h, w), h, w))
                continue
            idx = chosen.to(x.device)
            x[idx] = PIXEL_OPS[name](x[idx], arg)
        if warps:
            idx = torch.cat(warps).to(x.device)
            x[idx] = _warp(x[idx], torch.cat(thetas), self.fill.to(x.device))


def random_erasing(x: torch.Tensor, prob: float, generator: torch.Generator, min_area: float = 0.02,
                   max_area: float = 1 / 3, min_aspect: float = 0.3, attempts: int = 10) -> torch.Tensor:
    """timm's ``RandomErasing(prob, mode='pixel')`` on a normalised float batch: each image, with probability
    ``prob``, gets one box of ``min_area``-``max_area`` of its area and aspect ratio in [min_aspect, 1/min_aspect]
    (log-uniform; the first of ``attempts`` draws that fits) filled with standard normal noise.

    All draws come from ``generator`` (CPU); the noise is drawn on ``x``'s device by a generator seeded from it.
    Returns a new tensor; ``x`` is not modified.
    """
    n, c, h, w = x.shape
    g = generator
    erase = torch.rand(n, generator=g) < prob
    area = (min_area + (max_area - min_area) * torch.rand(n, attempts, generator=g, dtype=torch.float64)) * h * w
    log_lo, log_hi = math.log(min_aspect), math.log(1 / min_aspect)
    aspect = torch.exp(log_lo + (log_hi - log_lo) * torch.rand(n, attempts, generator=g, dtype=torch.float64))
    box_h, box_w = torch.sqrt(area * aspect).round(), torch.sqrt(area / aspect).round()
    fits = (box_h < h) & (box_w < w)
    first = fits.to(torch.int8).argmax(1, keepdim=True)
    box_h, box_w = box_h.gather(1, first).squeeze(1), box_w.gather(1, first).squeeze(1)
    top = torch.floor(torch.rand(n, generator=g, dtype=torch.float64) * (h - box_h + 1))
    left = torch.floor(torch.rand(n, generator=g, dtype=torch.float64) * (w - box_w + 1))
    seed = int(torch.randint(0, 2 ** 62, (1,), generator=g))
    chosen = torch.nonzero(erase & fits.any(1)).flatten()
    if len(chosen) == 0:
        return x
    boxes = torch.stack([top, top + box_h, left, left + box_w], 1)[chosen].to(x.device, torch.float32)
    rows = torch.arange(h, device=x.device, dtype=torch.float32)
    cols = torch.arange(w, device=x.device, dtype=torch.float32)
    in_rows = (rows >= boxes[:, 0:1]) & (rows < boxes[:, 1:2])
    in_cols = (cols >= boxes[:, 2:3]) & (cols < boxes[:, 3:4])
    mask = (in_rows[:, :, None] & in_cols[:, None, :])[:, None]
    device_gen = torch.Generator(device=x.device).manual_seed(seed)
    noise = torch.randn((len(chosen), c, h, w), generator=device_gen, device=x.device, dtype=x.dtype)
    idx = chosen.to(x.device)
    out = x.clone()
    out[idx] = torch.where(mask, noise, x[idx])
    return out
