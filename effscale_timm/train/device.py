"""The training device: choosing it, naming it, its autocast and its peak memory."""
from __future__ import annotations

import logging
import platform
import resource
import re

import timm
import torch

from ..errors import HardwareError
from .options import DEVICE_PATTERN

_logger = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when present (else CPU, with a warning); 'cuda' without a GPU is an error."""
    if not re.match(DEVICE_PATTERN, str(name)):
        raise ValueError(f'device must be auto, cpu or cuda[:N], got {name!r}')
    if name == 'auto':
        if torch.cuda.is_available():
            return torch.device('cuda')
        _logger.warning('device: auto found no GPU; training on the CPU')
        return torch.device('cpu')
    if name.startswith('cuda') and not torch.cuda.is_available():
        raise HardwareError(f'device: {name} was asked for, but torch finds no CUDA GPU on this machine '
                           f'(torch {torch.__version__}); use device: auto or cpu')
    return torch.device(name)


def hardware_string(device: torch.device) -> str:
    """The GPU's name, or the CPU and its threads, with the torch and timm versions."""
    if device.type == 'cuda':
        return f'{torch.cuda.get_device_name(device)} (torch {torch.__version__}, timm {timm.__version__})'
    return (f'CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads '
            f'(torch {torch.__version__}, timm {timm.__version__})')


def autocast_factory(device: torch.device):
    """A callable returning the run's autocast context: bf16 on a GPU that supports it, disabled otherwise."""
    use_bf16 = device.type == 'cuda' and torch.cuda.is_bf16_supported()

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16)
    return autocast


def peak_mem_gib(device: torch.device) -> float:
    """Peak GPU memory allocated, or the process's peak resident memory on the CPU, in GiB."""
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2 ** 30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # KiB on Linux


def limit_memory(device: torch.device, gib: float) -> None:
    """Cap this process's allocations on its GPU at ``gib`` (an out-of-memory error beyond it)."""
    total = torch.cuda.get_device_properties(device).total_memory / 2 ** 30
    torch.cuda.set_per_process_memory_fraction(min(1.0, gib / total), device)
