"""What every conditional GAN module here shares: two optimisers under manual optimisation,
linear learning-rate decay, an EMA generator, a finite-loss guard and full-state checkpoints.

Step semantics: one training iteration (one discriminator update) is one ``trainer.global_step``.
Lightning counts every optimiser step, so the generator's optimiser is stepped without the
counter (``step_uncounted``); ``trainer.max_steps=1000`` therefore means 1000 iterations, whatever
``model.optim.n_critic`` is.
"""

from __future__ import annotations

import random
from typing import Any, Mapping

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from gan_lab.losses import build_adversarial, build_head, gradient_penalty
from gan_lab.modules.ema import make_ema, update_ema


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN/inf; training stops and the last checkpoint is kept."""


def step_uncounted(optimizer: Any) -> None:
    """Step a LightningOptimizer without advancing ``trainer.global_step`` (see module docstring)."""
    before, after = optimizer._on_before_step, optimizer._on_after_step
    optimizer._on_before_step = optimizer._on_after_step = lambda: None
    try:
        optimizer.step()
    finally:
        optimizer._on_before_step, optimizer._on_after_step = before, after


def linear_decay(max_steps: int, decay_start: float):
    """LR factor: 1 until ``decay_start * max_steps``, then linearly to 0 at ``max_steps`` (StarGAN)."""
    if max_steps is None or max_steps <= 0 or decay_start >= 1.0:
        return lambda step: 1.0
    start = int(decay_start * max_steps)

    def factor(step: int) -> float:
        if step < start:
            return 1.0
        return max(0.0, (max_steps - step) / max(1, max_steps - start))

    return factor


class ConditionalGANModule(pl.LightningModule):
    """Base: subclasses build ``self.G``, ``self.D`` and implement ``training_step`` and the sampling API.

    Sampling API used by callbacks and evaluation (all with the EMA generator, no grad):
    ``make_eval_set(real_images, real_labels, n, seed)`` -> dict(fake_images, fake_labels, fake_sources)
    ``sample_grid(grid_inputs)`` -> (rows, cols, C, H, W) image tensor in [-1, 1].
    """

    def __init__(
        self,
        num_classes: int,
        channels: int,
        image_size: int,
        model: Mapping,
        loss: Mapping,
        class_names: list[str] | None = None,
        seed: int = 0,
        channels_last: bool = False,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.num_classes = num_classes
        self.channels = channels
        self.image_size = image_size
        self.class_names = list(class_names) if class_names else [str(i) for i in range(num_classes)]
        self.model_cfg = dict(model)
        self.loss_cfg = dict(loss)
        self.seed = seed
        self.use_channels_last = channels_last
        self.adv = build_adversarial(self.loss_cfg["adversarial"])
        self.lambda_cls = float(self.loss_cfg.get("lambda_cls", 1.0))
        self.lambda_gp = float(self.loss_cfg.get("lambda_gp", 0.0))
        self.n_critic = int(self.model_cfg["optim"].get("n_critic", 1))

    # -- construction helpers for subclasses -------------------------------------------------
    def _build_head(self, embed_dim: int) -> nn.Module:
        kw = {k: self.loss_cfg[k] for k in ("scale", "margin") if k in self.loss_cfg}
        if self.loss_cfg["name"] == "aam":
            kw["easy_margin"] = bool(self.loss_cfg.get("easy_margin", False))
        return build_head(self.loss_cfg["name"], embed_dim, self.num_classes, **kw)

    def _finish_build(self) -> None:
        self.G_ema = make_ema(self.G)
        if self.use_channels_last:
            self.to(memory_format=torch.channels_last)

    # -- optimisation ----------------------------------------------------------------------------
    def configure_optimizers(self):
        o = self.model_cfg["optim"]
        betas = tuple(o.get("betas", (0.5, 0.999)))
        d_params = list(self.D.parameters()) + list(self.head.parameters())
        opt_d = torch.optim.Adam(d_params, lr=o["d_lr"], betas=betas)
        opt_g = torch.optim.Adam(self.G.parameters(), lr=o["g_lr"], betas=betas)
        max_steps = self.trainer.max_steps if self._trainer is not None else -1
        f = linear_decay(max_steps, float(o.get("decay_start", 1.0)))
        sch_d = torch.optim.lr_scheduler.LambdaLR(opt_d, f)
        sch_g = torch.optim.lr_scheduler.LambdaLR(opt_g, f)
        return [opt_d, opt_g], [sch_d, sch_g]

    def _after_iteration(self) -> None:
        for sch in self.lr_schedulers():
            sch.step()

    def _update_ema(self) -> None:
        e = self.model_cfg.get("ema", {})
        update_ema(self.G_ema, self.G, float(e.get("decay", 0.999)), self.global_step, int(e.get("start_step", 0)))

    def _optimise(self, opt, loss: Tensor, logs: Mapping[str, Tensor], counted: bool = True) -> None:
        """Check ``logs`` are finite, backward ``loss``, step ``opt`` (the generator's step uncounted), untoggle."""
        self._check_finite(logs)
        opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if counted:
            opt.step()
        else:
            step_uncounted(opt)
        self.untoggle_optimizer(opt)

    def _gradient_penalty(self, real: Tensor, fake: Tensor) -> Tensor:
        """WGAN-GP penalty of D's real/fake output at random interpolates of ``real`` and ``fake``."""
        alpha = torch.rand(real.size(0), 1, 1, 1, device=real.device, dtype=real.dtype)
        x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        return gradient_penalty(self.D(x_hat)[0], x_hat)

    def _log_iteration(self, logs: Mapping[str, Tensor]) -> None:
        self.log_dict({f"train/{k}": v.detach().float() for k, v in logs.items()}, prog_bar=False)
        self.log("d_loss", logs["d_loss"].detach().float(), prog_bar=True, logger=False)

    def _check_finite(self, losses: Mapping[str, Tensor]) -> None:
        for name, value in losses.items():
            if not torch.isfinite(value).all():
                raise NonFiniteLossError(
                    f"loss '{name}' became {value.detach().float().item()} at step {self.global_step}. "
                    "Training stopped; checkpoints/last.ckpt holds the last good state. Try a lower "
                    "model.optim.d_lr/g_lr, trainer.precision=32-true, or a larger loss.lambda_gp."
                )

    def _as_input(self, x: Tensor) -> Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.use_channels_last else x

    # -- randomness: distinct per rank, reproducible per step ----------------------------------------
    def on_train_start(self) -> None:
        s = self.seed * 1_000_003 + self.global_rank * 10_007 + self.global_step
        torch.manual_seed(s)
        np.random.seed(s % (2**32))
        random.seed(s)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # Plain tensors/lists only, so torch.load(weights_only=True) (Lightning's default) accepts them.
        name, keys, pos, has_gauss, cached = np.random.get_state()
        version, internal, gauss = random.getstate()
        checkpoint["rng_states"] = {
            "torch": torch.get_rng_state(),
            "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
            "python": [version, list(internal), gauss],
        }

    # -- evaluation API --------------------------------------------------------------------------
    def onehot(self, labels: Tensor) -> Tensor:
        return torch.nn.functional.one_hot(labels.long(), self.num_classes).float()

    def train(self, mode: bool = True):
        super().train(mode)
        if hasattr(self, "G_ema"):
            self.G_ema.eval()
        return self
