"""One training over several processes with torchrun (PyTorch's launcher; timm's ``distributed_train.sh`` is the same).

``effscale train --nproc-per-node N`` starts ``python -m torch.distributed.run --standalone --nproc-per-node N``
with the same arguments; each worker (``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` set by torchrun) joins the process
group (NCCL on GPUs, gloo on the CPU), takes GPU ``LOCAL_RANK``, wraps the model in ``DistributedDataParallel``
(optionally with timm's SyncBatchNorm) and trains on its share of every global batch: all ranks draw the same batch
(one seeded generator) and each keeps its ``1/N`` slice, so the run sees the same images as one process at the same
global batch. Rank 0 writes checkpoints and results; every rank resumes from the same checkpoint. When a worker dies,
torchrun ends the others and exits with an error; the same command then resumes every rank.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Tuple

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Ranks:
    """This process's place in the run: rank, number of processes and GPU index on its machine."""
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes checkpoints and results."""
        return self.rank == 0


def in_worker() -> bool:
    """Whether this process is a worker of a multi-process torchrun job."""
    return 'LOCAL_RANK' in os.environ and int(os.environ.get('WORLD_SIZE', '1')) > 1


def launch(nproc: int, train_argv: List[str], env: Optional[Dict[str, str]] = None) -> int:
    """Run ``effscale train TRAIN_ARGV`` as ``nproc`` torchrun workers on this machine; torchrun's exit code."""
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc-per-node={nproc}',
           '--max-restarts=0', '-m', 'effscale_timm.cli', 'train', *train_argv]
    return subprocess.call(cmd, env=env)


def join(device: torch.device) -> Tuple[Ranks, torch.device]:
    """Join the torchrun job this process belongs to (if any): its :class:`Ranks` and training device."""
    if not in_worker():
        return Ranks(), device
    ranks = Ranks(int(os.environ['RANK']), int(os.environ['WORLD_SIZE']), int(os.environ['LOCAL_RANK']))
    if not ranks.main:  # one log: rank 0's (the others still report warnings and errors)
        logging.getLogger('effscale_timm').setLevel(logging.WARNING)
    if device.type == 'cuda':
        device = torch.device('cuda', ranks.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group('nccl' if device.type == 'cuda' else 'gloo', rank=ranks.rank,
                                world_size=ranks.world)
    return ranks, device


def leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def convert_sync_bn(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """timm's SyncBatchNorm conversion (keeps its fused BatchNormAct layers); PyTorch's runs on GPUs only."""
    if device.type != 'cuda':
        raise ValueError('sync_bn needs GPUs: PyTorch\'s SyncBatchNorm runs on CUDA only')
    from timm.layers import convert_sync_batchnorm
    return convert_sync_batchnorm(model)


def wrap(model: torch.nn.Module, ranks: Ranks, device: torch.device) -> torch.nn.Module:
    """The module a step runs: ``model`` itself in one process, its ``DistributedDataParallel`` across several."""
    if ranks.world == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == 'cuda' else None,
                                   broadcast_buffers=False)


def average_bn(models, ranks: Ranks) -> None:
    """Average the batch-norm running statistics over the ranks (timm's ``distribute_bn(reduce=True)``), before a
    rank evaluates: each rank's come from its own shards."""
    if ranks.world > 1:
        from timm.utils import distribute_bn
        for model in models:
            distribute_bn(model, ranks.world, reduce=True)


class RankShard:
    """This rank's slice of every batch of ``batches`` (the same global batches on every rank)."""

    def __init__(self, batches, ranks: Ranks):
        self.batches, self.ranks = batches, ranks

    def __len__(self) -> int:
        return len(self.batches)

    @property
    def num_samples(self) -> int:
        return self.batches.num_samples

    def __iter__(self) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        for x, y in self.batches:
            yield x.tensor_split(self.ranks.world)[self.ranks.rank], y.tensor_split(self.ranks.world)[self.ranks.rank]
