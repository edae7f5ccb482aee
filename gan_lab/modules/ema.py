"""Exponential moving average of a generator's weights (used for samples and evaluation).

GAN generators oscillate; the EMA copy is the standard way to evaluate a smoother model
(Karras et al.; StudioGAN). Buffers (e.g. norm statistics) are copied, not averaged.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def make_ema(net: nn.Module) -> nn.Module:
    """A frozen deep copy of ``net`` in eval mode."""
    ema = copy.deepcopy(net)
    ema.requires_grad_(False)
    ema.eval()
    return ema


@torch.no_grad()
def update_ema(ema: nn.Module, net: nn.Module, decay: float, step: int, start_step: int) -> None:
    """ema <- decay*ema + (1-decay)*net after ``start_step``; before it the EMA copies ``net``."""
    d = decay if step >= start_step else 0.0
    for p_ema, p in zip(ema.parameters(), net.parameters()):
        p_ema.lerp_(p.detach().to(p_ema.dtype), 1.0 - d)
    for b_ema, b in zip(ema.buffers(), net.buffers()):
        b_ema.copy_(b)
