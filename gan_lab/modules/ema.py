"""Exponential moving average of a generator's weights (used for samples and evaluation).

GAN generators oscillate; the EMA copy is the standard way to evaluate a smoother model
(Karras et al.; StudioGAN). Buffers (e.g. norm statistics) are copied, not averaged — and batch-norm
statistics copied from the raw generator do not belong to the averaged weights: ``recalibrate_norm_stats``
recomputes them from the EMA generator's own activations (as StudioGAN's "standing statistics" and
Brock et al.'s BigGAN do) before it is sampled.
"""

from __future__ import annotations

import copy
from typing import Iterable

import torch
from torch import nn


def make_ema(net: nn.Module) -> nn.Module:
    """A frozen deep copy of ``net`` in eval mode."""
    ema = copy.deepcopy(net)
    ema.requires_grad_(False)
    ema.eval()
    return ema


def ema_decay(decay: float, step: int, start_step: int) -> float:
    """0 (copy) before ``start_step``; then ``min(decay, (1 + k) / (10 + k))``, k = steps since the start.

    The warm-up (as in TensorFlow's ExponentialMovingAverage with num_updates) keeps a short run's EMA
    from being mostly the initial weights: with decay 0.999 and 200 generator updates, 82% of a plain
    EMA would still be the random initialisation.
    """
    if step < start_step:
        return 0.0
    k = step - start_step
    return min(decay, (1.0 + k) / (10.0 + k))


@torch.no_grad()
def update_ema(ema: nn.Module, net: nn.Module, decay: float, step: int, start_step: int) -> None:
    """ema <- d*ema + (1-d)*net with d = ema_decay(decay, step, start_step)."""
    d = ema_decay(decay, step, start_step)
    ema_params = list(ema.parameters())
    params = [p.detach().to(e.dtype) for e, p in zip(ema_params, net.parameters())]
    if ema_params:
        torch._foreach_lerp_(ema_params, params, 1.0 - d)  # one fused call, not one kernel launch per tensor
    for b_ema, b in zip(ema.buffers(), net.buffers()):
        b_ema.copy_(b)


def running_stat_norms(net: nn.Module) -> list[nn.Module]:
    """The batch-norm layers of ``net`` that keep running statistics (empty for instance norm / none)."""
    return [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@torch.no_grad()
def recalibrate_norm_stats(net: nn.Module, batches: Iterable[tuple]) -> int:
    """Replace every batch-norm layer's running mean and variance by their average over ``batches`` of
    ``net``'s own inputs (``net(*batch)``; momentum None: the exact cumulative average, each batch weighted
    alike). The weights are untouched; every layer's mode and momentum are restored. Returns the batches used."""
    norms = running_stat_norms(net)
    if not norms:
        return 0
    saved = [(m.momentum, m.training) for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    n = 0
    try:
        for batch in batches:
            net(*batch)
            n += 1
    finally:
        for m, (momentum, training) in zip(norms, saved):
            m.momentum = momentum
            m.train(training)
    return n
