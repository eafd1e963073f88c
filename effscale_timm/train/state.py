"""Everything a resumed run needs, in one object whose ``state_dict`` is the epoch checkpoint.

Model, optimizer, scheduler, EMA, every random number generator (Python, NumPy, torch, CUDA and the data
generator), the epochs done with their metrics, the best validation top-1, the wall time so far and the micro-batch
in use. ``load_state_dict(state_dict())`` restores a run exactly (bit-exact on the CPU with deterministic
algorithms), which is what resuming after a kill relies on.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np
import torch


def rng_state(generator: torch.Generator) -> Dict[str, Any]:
    """The state of every random number generator a run draws from, as tensors and plain Python values (NumPy's
    key as a list), so that ``torch.load`` with ``weights_only=True`` opens the checkpoint that holds it."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {'torch': torch.get_rng_state(), 'python': random.getstate(), 'generator': generator.get_state(),
             'numpy': (str(name), keys.tolist(), int(pos), int(has_gauss), float(gauss))}
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any], generator: torch.Generator) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state['torch'])
    name, keys, pos, has_gauss, gauss = state['numpy']
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    random.setstate(state['python'])
    generator.set_state(state['generator'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


@dataclass
class TrainingState:
    """The mutable state of one run; the model, optimizer, scheduler and EMA are timm/torch objects."""
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any  # a timm scheduler (step_update per optimizer update)
    ema: Optional[Any]  # timm ModelEmaV3, or None when the recipe has no EMA
    generator: torch.Generator
    micro_batch: int
    epoch: int = 0
    rows: List[Dict[str, Any]] = field(default_factory=list)
    best_val: float = -1.0
    wall_s: float = 0.0

    @property
    def eval_model(self) -> torch.nn.Module:
        """The weights evaluated and saved: the EMA when the recipe keeps one."""
        return self.ema.module if self.ema is not None else self.model

    def state_dict(self) -> Dict[str, Any]:
        return {
            'model': self.model.state_dict(), 'optimizer': self.optimizer.state_dict(),
            'scheduler': self.scheduler.state_dict(), 'ema': self.ema.state_dict() if self.ema is not None else None,
            'rng': rng_state(self.generator), 'epoch': self.epoch, 'metrics': self.rows, 'best_val': self.best_val,
            'wall_s': self.wall_s, 'micro_batch': self.micro_batch,
        }

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.model.load_state_dict(state['model'])
        self.optimizer.load_state_dict(state['optimizer'])
        self.scheduler.load_state_dict(state['scheduler'])
        if self.ema is not None:
            self.ema.load_state_dict(state['ema'])
        set_rng_state(state['rng'], self.generator)
        self.epoch, self.rows, self.best_val = state['epoch'], list(state['metrics']), state['best_val']
        self.wall_s, self.micro_batch = state['wall_s'], state.get('micro_batch', self.micro_batch)
