"""What every conditional GAN module here shares: two optimisers under manual optimisation,
linear learning-rate decay, an EMA generator, a finite-loss guard and full-state checkpoints.

Step semantics: one training iteration (one discriminator update) is one ``trainer.global_step``.
Lightning counts every optimiser step, so the generator's optimiser is stepped without the
counter (``step_uncounted``); ``trainer.max_steps=1000`` therefore means 1000 iterations, whatever
``model.optim.n_critic`` is.
"""

from __future__ import annotations

import logging
import random
from typing import Any, Mapping

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from gan_lab.losses import build_adversarial, build_head, gradient_penalty
from gan_lab.metrics.suite import METRICS
from gan_lab.modules.ema import make_ema, update_ema


log = logging.getLogger("gan_lab")


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


def head_options(loss_cfg: Mapping) -> dict:
    """The head's constructor options from the ``loss`` config (``easy_margin`` only where the head has it)."""
    from gan_lab.losses.margin import HEADS

    kw = {k: loss_cfg[k] for k in ("scale", "margin") if k in loss_cfg}
    if HEADS.get(loss_cfg["name"]).accepts_easy_margin:
        kw["easy_margin"] = bool(loss_cfg.get("easy_margin", False))
    return kw


def balanced_lambda_cls(lambda_cls: float, head, reference_scale: float | None) -> float:
    """λ_cls in use. A normalised head's loss gradient on φ grows linearly with its scale s, so its weight
    is ``λ_cls · reference_scale / s``: at s = reference_scale (3 by default) the head's gradient on D's
    trunk matches the soft-max head's (measured: docs/results/live_critic.md). null: λ_cls as configured."""
    if reference_scale is None or not head.normalised:
        return float(lambda_cls)
    return float(lambda_cls) * float(reference_scale) / head.scale


def rng_states(strategy) -> dict:
    """Every RNG stream of every rank, as plain tensors/lists (``torch.load(weights_only=True)`` accepts
    them). Torch's CPU state is gathered from all ranks (every rank saves, rank 0 writes); numpy's and
    Python's streams are rank 0's (gan_lab draws from torch only)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    torch_state = torch.get_rng_state()
    per_rank = strategy.all_gather(torch_state) if strategy.world_size > 1 else torch_state[None]
    states = {
        "torch": torch_state, "torch_per_rank": per_rank.cpu(),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "python": [version, list(internal), gauss],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state()
    return states


def restore_rng(states: dict, rank: int) -> None:
    """Put back the streams ``rng_states`` saved (this rank's torch stream)."""
    per_rank = states.get("torch_per_rank")
    torch.set_rng_state(per_rank[rank] if per_rank is not None and rank < len(per_rank) else states["torch"])
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), int(pos), int(has_gauss), float(cached)))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state(states["cuda"])


class ConditionalGANModule(pl.LightningModule):
    """Base: subclasses build ``self.G``, ``self.D`` and implement the task hooks and the sampling API.

    Sampling API used by callbacks and evaluation (all with the EMA generator, no grad):
    ``make_eval_set(real_images, real_labels, n, seed)`` -> dict(fake_images, fake_labels, fake_sources)
    ``sample_grid(grid_inputs)`` -> (rows, cols, C, H, W) image tensor in [-1, 1].

    What shared code (train.py, callbacks, commands, config validation) asks of a module is declared here
    and overridden by a task, never probed with hasattr: ``task``, ``uses_head``, ``has_diagnostics``,
    ``progress_keys``, ``metric_registry``, ``build_evaluator`` and ``grid_inputs``.
    """

    task = "conditional"  # "conditional": class labels (translation, generation); "paired": albedo
    uses_head = True  # a classifier head (config validation dry-runs it)
    has_diagnostics = True  # label-geometry diagnostics (a module without a classifier head sets False)
    translates_images = False  # image + target label -> image (gan-lab translate)
    progress_keys = ("d_loss", "val/gan_test", "val/fid_clf")  # the progress bar's postfix
    metric_registry = METRICS  # the names eval.metrics may use

    @classmethod
    def build_evaluator(cls, datamodule, eval_cfg: dict, cache_dir, data_key: dict):
        """The evaluator the evaluation callback runs (its ``prepare()`` before training, ``run()`` after)."""
        from gan_lab.evaluation import Evaluator

        return Evaluator(datamodule, eval_cfg, cache_dir, data_key=data_key)

    def grid_inputs(self, datamodule, n: int, seed: int, split: str = "val"):
        """The fixed sample-grid inputs: here the first real images of ``split``, one per class first."""
        ds = datamodule.dataset(split)
        chosen, seen = [], set()
        for i in range(len(ds)):  # one image per class first, in class order of appearance
            img, label = ds[i]
            if int(label) not in seen:
                seen.add(int(label))
                chosen.append(img)
            if len(chosen) == n:
                break
        i = 0
        while len(chosen) < n and i < len(ds):
            chosen.append(ds[i][0])
            i += 1
        return torch.stack(chosen)

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
        self.lambda_cls_config = float(self.loss_cfg.get("lambda_cls", 1.0))
        self.lambda_cls = self.lambda_cls_config  # the weight in use; balanced for normalised heads in _build_head
        self.lambda_gp = float(self.loss_cfg.get("lambda_gp", 0.0))
        self.n_critic = int(self.model_cfg["optim"].get("n_critic", 1))
        self.last_logs: dict[str, float] = {}  # the latest iteration's losses (train_metrics.jsonl)
        self._resume_rng: dict | None = None  # RNG states of the checkpoint being resumed
        self._data_seen: Tensor | float = 0.0  # sum of the real images this rank trained on (DDP digest)

    # -- construction helpers for subclasses -------------------------------------------------
    def _build_head(self, embed_dim: int) -> nn.Module:
        head = build_head(self.loss_cfg["name"], embed_dim, self.num_classes, **head_options(self.loss_cfg))
        self.lambda_cls = balanced_lambda_cls(self.lambda_cls_config, head, self.loss_cfg.get("cls_reference_scale"))
        if self.lambda_cls != self.lambda_cls_config:
            log.info("head %s (s=%g): lambda_cls %g in use (= loss.lambda_cls %g * loss.cls_reference_scale %g / s)",
                     head.name, head.scale, self.lambda_cls, self.lambda_cls_config,
                     self.loss_cfg["cls_reference_scale"])
        return head

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

    # -- the shared training step; subclasses declare the task through four hooks ------------------
    def sample_targets(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """(generator input, target labels) for a real batch: translation (x, random other classes),
        generation (noise, random classes)."""
        raise NotImplementedError

    def generate(self, g_input: Tensor, y_trg: Tensor) -> Tensor:
        """The training generator's output for ``g_input`` and target labels (with grad when enabled)."""
        raise NotImplementedError

    def generator_extra_terms(self, x: Tensor, y: Tensor, fake: Tensor) -> dict[str, Tensor]:
        """Task-specific generator terms beyond adversarial + classification (translation: g_rec)."""
        return {}

    def loss_weights(self) -> dict[str, float]:
        """The weight of every loss term by name (the totals d_loss / g_loss are their weighted sums)."""
        return {"d_adv": 1.0, "d_cls": self.lambda_cls, "gp": self.lambda_gp, "g_adv": 1.0, "g_cls": self.lambda_cls}

    def discriminator_terms(self, x: Tensor, y: Tensor, fake: Tensor) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """D's loss terms (adversarial on real vs fake, head on real with source labels, gradient penalty)
        and D's outputs (``out_real``, ``emb_real``, ``out_fake``, ``emb_fake``)."""
        out_real, emb_real = self.D(x)
        out_fake, emb_fake = self.D(fake)
        terms = {"d_adv": self.adv.d_loss(out_real, out_fake), "d_cls": self.head(emb_real, y)}
        if self.lambda_gp > 0:
            terms["gp"] = self._gradient_penalty(x, fake)
        return terms, {"out_real": out_real, "emb_real": emb_real, "out_fake": out_fake, "emb_fake": emb_fake}

    def generator_terms(self, x: Tensor, y: Tensor, y_trg: Tensor, fake: Tensor) -> tuple[dict[str, Tensor], Tensor]:
        """G's loss terms (adversarial, head on the fake with its target label, task extras) and φ(fake)."""
        out_fake, emb_fake = self.D(fake)
        terms = {"g_adv": self.adv.g_loss(out_fake), "g_cls": self.head(emb_fake, y_trg)}
        terms.update(self.generator_extra_terms(x, y, fake))
        return terms, emb_fake

    def weighted_sum(self, terms: Mapping[str, Tensor]) -> Tensor:
        w = self.loss_weights()
        return sum(w[k] * v for k, v in terms.items())

    def training_step(self, batch, batch_idx):
        x, y = batch
        x = self._as_input(x)
        if self.trainer.world_size > 1:  # a tensor sum: no host sync in the training step
            self._data_seen = self._data_seen + x.detach().double().sum()
        g_input, y_trg = self.sample_targets(x, y)
        opt_d, opt_g = self.optimizers()

        # Discriminator (and head) update: the head learns from real images with their source labels.
        self.toggle_optimizer(opt_d)
        with torch.no_grad():
            fake = self.generate(g_input, y_trg)
        terms, out = self.discriminator_terms(x, y, fake)
        d_loss = self.weighted_sum(terms)
        logs = {**terms, "d_loss": d_loss}
        self._optimise(opt_d, d_loss, logs)
        with torch.no_grad():
            logs["d_acc_real"] = (self.head.logits(out["emb_real"].detach()).argmax(1) == y).float().mean()

        # Generator update every n_critic iterations: its outputs should be classified as the target.
        if self.global_step % self.n_critic == 0:
            self.toggle_optimizer(opt_g)
            g_terms, emb_fake = self.generator_terms(x, y, y_trg, self.generate(g_input, y_trg))
            g_loss = self.weighted_sum(g_terms)
            g_logs = {**g_terms, "g_loss": g_loss}
            self._optimise(opt_g, g_loss, g_logs, counted=False)
            self._update_ema()
            with torch.no_grad():
                g_logs["g_acc_fake"] = (self.head.logits(emb_fake.detach()).argmax(1) == y_trg).float().mean()
            logs.update(g_logs)
        self._after_iteration()
        self._log_iteration(logs)

    # -- diagnostics: the label geometry and the balance of the loss terms ---------------------------
    def diagnostics(self, x: Tensor, y: Tensor) -> tuple[dict[str, float], dict[str, Tensor]]:
        """On a fixed real batch: ``geometry/*``, ``grad/*`` (norm of each weighted term's gradient on D's
        last shared layer and on G's output) and ``critic/wasserstein``; plus tensors for the plots
        (``weight_cos`` (C, C), ``cos_target_real``, ``cos_target_fake``). Leaves no trace in training:
        RNG streams are forked, gradients are taken with ``autograd.grad`` and buffers are restored."""
        from gan_lab.metrics.geometry import cosine_to_class, label_geometry, weight_cosines

        x = self._as_input(x.to(self.device))
        y = y.to(self.device)
        buffers = {k: v.clone() for k, v in self.named_buffers()}
        w = self.loss_weights()
        with torch.random.fork_rng(devices=[]), torch.enable_grad():
            torch.manual_seed(self.seed + self.global_step)
            g_input, y_trg = self.sample_targets(x, y)
            with torch.no_grad():
                fake = self.generate(g_input, y_trg)
            terms, out = self.discriminator_terms(x, y, fake)
            layer = self.D.shared_layer()
            scalars = {f"grad/{k}": self._grad_norm(w[k] * v, layer) for k, v in terms.items()}
            fake = fake.detach().requires_grad_(True)
            g_terms, _ = self.generator_terms(x, y, y_trg, fake)
            scalars.update({f"grad/{k}": self._grad_norm(w[k] * v, fake) for k, v in g_terms.items()})
        with torch.no_grad():
            for k, b in self.named_buffers():
                b.copy_(buffers[k])
        directions = self.head.class_directions().detach()
        emb_real, emb_fake = out["emb_real"].detach().float(), out["emb_fake"].detach().float()
        geo = label_geometry(directions, emb_real, y, emb_fake, y_trg)
        scalars.update({f"geometry/{k}": v for k, v in geo.items()})
        scalars["critic/wasserstein"] = float(out["out_real"].detach().float().mean()
                                              - out["out_fake"].detach().float().mean())
        tensors = {"weight_cos": weight_cosines(directions).float().cpu(),
                   "cos_target_real": cosine_to_class(emb_real, y, directions).float().cpu(),
                   "cos_target_fake": cosine_to_class(emb_fake, y_trg, directions).float().cpu()}
        return scalars, tensors

    @staticmethod
    def _grad_norm(loss: Tensor, wrt: Tensor) -> float:
        (g,) = torch.autograd.grad(loss, wrt, retain_graph=True, allow_unused=True)
        return 0.0 if g is None else float(g.detach().float().norm())

    def _log_iteration(self, logs: Mapping[str, Tensor], bar_key: str = "d_loss") -> None:
        """``train/*`` to the loggers, ``last_logs`` for train_metrics.jsonl, ``bar_key`` on the progress bar."""
        if self.global_step % max(1, self.trainer.log_every_n_steps) == 0:  # one host sync per logged step
            self.last_logs = {k: float(v.detach()) for k, v in logs.items()}
        self.log_dict({f"train/{k}": v.detach().float() for k, v in logs.items()}, prog_bar=False)
        if bar_key in logs:
            self.log(bar_key, logs[bar_key].detach().float(), prog_bar=True, logger=False)

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
        """A fresh run seeds this rank's streams from (seed, rank); a resumed run restores the streams its
        checkpoint saved, so it continues exactly as the uninterrupted run would have."""
        if self._resume_rng is not None:
            restore_rng(self._resume_rng, self.global_rank)
            self._resume_rng = None
            return
        s = self.seed * 1_000_003 + self.global_rank * 10_007 + self.global_step
        torch.manual_seed(s)
        np.random.seed(s % (2**32))
        random.seed(s)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["rng_states"] = rng_states(self.trainer.strategy)
        if self.trainer.world_size > 1:
            checkpoint["ddp"] = self._ddp_digests()

    def _ddp_digests(self) -> dict:
        """Per-rank digests (every rank computes, all are gathered): the parameters' sums and sums of squares
        (identical on every rank when DDP keeps them in sync) and the sum of the training data this rank has
        seen (different per rank: each rank trains on its own shard)."""
        params = [p.detach().double() for p in self.parameters()]
        mine = torch.stack([torch.stack([p.sum(), p.pow(2).sum()]) for p in params]).to(self.device)
        data = torch.as_tensor(self._data_seen, dtype=torch.float64, device=self.device).reshape(1)
        strategy = self.trainer.strategy
        digests, seen = strategy.all_gather(mine).cpu(), strategy.all_gather(data).cpu()
        if not all(torch.equal(digests[0], d) for d in digests[1:]):
            log.warning("DDP ranks disagree on the parameters at step %d: gradients are not synchronised",
                        self.global_step)
        return {"param_digests": digests, "data_seen": seen.flatten()}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self._resume_rng = checkpoint.get("rng_states")

    # -- evaluation API --------------------------------------------------------------------------
    def onehot(self, labels: Tensor) -> Tensor:
        return torch.nn.functional.one_hot(labels.long(), self.num_classes).float()

    def train(self, mode: bool = True):
        super().train(mode)
        if "G_ema" in self._modules:  # not yet built while nn.Module.__init__ runs
            self.G_ema.eval()
        return self
