"""What every GAN module here shares (``GANModule``): two optimisers under manual optimisation, linear
learning-rate decay, an EMA generator, a finite-loss guard, per-rank RNG streams and full-state checkpoints;
and the hooks shared code calls. Task bases: ``ConditionalGANModule`` (class labels and a classifier head,
``modules/conditional.py``) and ``AlbedoTranslator`` (paired photo -> albedo, ``modules/albedo.py``).

Step semantics: one training iteration (one discriminator update) is one ``trainer.global_step``.
Lightning counts every optimiser step, so the generator's optimiser is stepped without the
counter (``step_uncounted``); ``trainer.max_steps=1000`` therefore means 1000 iterations, whatever
``model.optim.n_critic`` is.
"""

from __future__ import annotations

import logging
import random
from typing import Any, ClassVar, Mapping

import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from gan_lab.losses import build_adversarial
from gan_lab.modules.ema import make_ema, recalibrate_norm_stats, running_stat_norms, update_ema
from gan_lab.modules.specs import AdversarialSpec, EMASpec, OptimSpec, read_spec


log = logging.getLogger("gan_lab")


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN/inf; training stops and the last checkpoint is kept."""


def step_uncounted(module: pl.LightningModule, optimizer: Any) -> None:
    """Step a LightningOptimizer's optimizer without advancing ``trainer.global_step`` (see module docstring).

    ``LightningOptimizer.step`` is the one call that counts; underneath it calls the public
    ``Strategy.optimizer_step``, which runs the precision plugin (AMP scaling, clipping, the
    ``on_before_optimizer_step`` hook) and the optimiser. Calling that directly steps exactly the same way."""
    module.trainer.strategy.optimizer_step(optimizer.optimizer, closure=lambda: None, model=module)


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


def _per_rank(strategy, state: Tensor) -> Tensor:
    """(world_size, ...) ``state`` of every rank on the CPU. Gathered on the strategy's device: NCCL gathers
    CUDA tensors only, gloo CPU ones."""
    if strategy.world_size == 1:
        return state[None].clone()
    return strategy.all_gather(state.to(strategy.root_device)).cpu()


def rng_states(strategy) -> dict:
    """Every RNG stream of every rank, as plain tensors/lists (``torch.load(weights_only=True)`` accepts
    them). Torch's CPU (and CUDA) states are gathered from all ranks (every rank saves, rank 0 writes);
    numpy's and Python's streams are rank 0's (gan_lab draws from torch only)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    torch_state = torch.get_rng_state()
    states = {
        "torch": torch_state, "torch_per_rank": _per_rank(strategy, torch_state),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "python": [version, list(internal), gauss],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state()
        states["cuda_per_rank"] = _per_rank(strategy, states["cuda"])
    return states


def _row(per_rank: Tensor | None, rank: int, fallback: Tensor) -> Tensor:
    """This rank's row as a tensor of its own: torch's set_rng_state needs one (a row view of the stacked
    tensor, with a non-zero storage offset, segfaulted torch on every rank >= 1)."""
    state = per_rank[rank] if per_rank is not None and rank < len(per_rank) else fallback
    return state.detach().to("cpu", torch.uint8).contiguous().clone()


def restore_rng(states: dict, rank: int) -> None:
    """Put back the streams ``rng_states`` saved (this rank's torch and CUDA streams)."""
    torch.set_rng_state(_row(states.get("torch_per_rank"), rank, states["torch"]))
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), int(pos), int(has_gauss), float(cached)))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state(_row(states.get("cuda_per_rank"), rank, states["cuda"]))


class GANModule(pl.LightningModule):
    """Base of every module: subclasses build ``self.G`` (and ``self.D`` or None) and their task's steps.

    What shared code (train.py, callbacks, commands, config validation) asks of a module is declared here
    and overridden by a task, never probed with hasattr/isinstance: ``task``, ``has_diagnostics``,
    ``translates_images``, ``progress_keys``, ``bar_key``, ``metric_registry``, ``validate_config``,
    ``build_evaluator``, ``grid_inputs``, the sampling API ``make_eval_set`` / ``make_gan_train_set`` /
    ``sample_grid``, and what the evaluation needs to know of the task: ``eval_protocol``, ``gan_train_source``,
    ``sanity_rows`` and ``evaluation_facts``.
    """

    task: ClassVar[str] = "conditional"  # "conditional": class labels (translation, generation); "paired": albedo
    has_diagnostics: ClassVar[bool] = False  # label-geometry diagnostics (``diagnostics(x, y)``)
    translates_images: ClassVar[bool] = False  # image + target label -> image (gan-lab translate)
    progress_keys: ClassVar[tuple[str, ...]] = ("d_loss",)  # the progress bar's postfix
    bar_key: ClassVar[str] = "d_loss"  # the per-iteration loss shown on the progress bar
    metric_registry: ClassVar[Any] = None  # the Registry of names eval.metrics may use
    eval_protocol: ClassVar[str] = "generation"  # "translation": headline FID per target class (metrics.suite)
    gan_train_source: ClassVar[str] = "generated samples"  # what GAN-train learns from (make_gan_train_set), for the records
    sanity_rows: ClassVar[tuple[str, ...]] = ()  # stand-ins scored beside the model (gan_lab.metrics.sanity)

    @classmethod
    def validate_config(cls, cfg: DictConfig) -> None:
        """Task-specific config checks before any training (ConfigError naming the key and the fix)."""

    @classmethod
    def build_evaluator(cls, datamodule, eval_cfg: dict, cache_dir, data_key: dict):
        """The evaluator the evaluation callback runs (its ``prepare()`` before training, ``run()`` after)."""
        raise NotImplementedError

    def grid_inputs(self, datamodule, n: int, seed: int, split: str = "val"):
        """The fixed inputs of the sample grid (``sample_grid(grid_inputs)``)."""
        raise NotImplementedError

    def make_eval_set(self, real_images: Tensor, real_labels: Tensor, n: int, seed: int) -> dict:
        """dict(fake_images, fake_labels, fake_sources) for the conditional metrics (EMA generator, no grad)."""
        raise NotImplementedError

    def make_gan_train_set(self, train_images: Tensor, train_labels: Tensor, n: int, seed: int) -> dict:
        """The generated set GAN-train and aug_gain learn from; it must not hold the images they are scored on
        (the test split). Same shape as ``make_eval_set``'s; by default the same call on the training split."""
        return self.make_eval_set(train_images, train_labels, n, seed)

    def evaluation_facts(self) -> dict[str, float]:
        """Numbers about how the model was trained that every evaluation record carries (e.g. the head weight)."""
        return {}

    def sample_grid(self, grid_inputs, max_classes: int = 20) -> Tensor:
        """(rows, cols, C, H, W) image tensor in [-1, 1] from ``grid_inputs`` (EMA generator, no grad)."""
        raise NotImplementedError

    def __init__(
        self,
        num_classes: int,
        channels: int,
        image_size: int,
        model: Mapping,
        head: Mapping,
        adversarial: Mapping,
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
        self.optim = read_spec(OptimSpec, self.model_cfg["optim"], "model.optim")
        self.ema = read_spec(EMASpec, self.model_cfg["ema"], "model.ema")
        self.adversarial = read_spec(AdversarialSpec, adversarial, "adversarial")
        self.seed = seed
        self.use_channels_last = channels_last
        self.adv = build_adversarial(self.adversarial.name)
        self.lambda_gp = float(self.adversarial.lambda_gp)
        self.n_critic = int(self.optim.n_critic)
        self.last_logs: dict[str, float] = {}  # the latest iteration's losses (train_metrics.jsonl)
        self._latest_logs: dict[str, Tensor] = {}  # the latest value of every logged term (detached tensors)
        self._resume_rng: dict | None = None  # RNG states of the checkpoint being resumed
        self._data_seen: Tensor | float = 0.0  # sum of the real images this rank trained on (DDP digest)

    def _finish_build(self) -> None:
        self.G_ema = make_ema(self.G)
        if self.use_channels_last:
            self.to(memory_format=torch.channels_last)

    # -- optimisation ----------------------------------------------------------------------------
    def d_parameters(self) -> list[nn.Parameter]:
        """What the discriminator's optimiser updates (empty: no discriminator, one optimiser)."""
        return [] if self.D is None else list(self.D.parameters())

    def configure_optimizers(self):
        """Adam for D (if any) and G with the same linear decay; the order is [D, G]."""
        o = self.optim
        f = linear_decay(self.trainer.max_steps if self._trainer is not None else -1, float(o.decay_start))
        opts = []
        d_params = self.d_parameters()
        if d_params:
            opts.append(torch.optim.Adam(d_params, lr=o.d_lr, betas=tuple(o.betas)))
        opts.append(torch.optim.Adam(self.G.parameters(), lr=o.g_lr, betas=tuple(o.betas)))
        return opts, [torch.optim.lr_scheduler.LambdaLR(opt, f) for opt in opts]

    def optimizer_list(self) -> list:
        opts = self.optimizers()
        return list(opts) if isinstance(opts, (list, tuple)) else [opts]

    def _after_iteration(self) -> None:
        schedulers = self.lr_schedulers()
        for sch in schedulers if isinstance(schedulers, (list, tuple)) else [schedulers]:
            sch.step()

    def _update_ema(self) -> None:
        update_ema(self.G_ema, self.G, float(self.ema.decay), self.global_step, int(self.ema.start_step))
        self._ema_stats_stale = True  # the copied batch-norm statistics are the raw generator's

    def ema_generator(self) -> nn.Module:
        """``G_ema`` ready to sample: where it has batch-norm statistics and the weights moved since they were
        computed, they are recomputed for the averaged weights from ``ema_calibration_batches()`` (a pure
        function of the weights and the run's seed, so a resumed run samples exactly as an uninterrupted one)."""
        if getattr(self, "_ema_stats_stale", True) and running_stat_norms(self.G_ema):
            batches = self.ema_calibration_batches()
            if batches is not None:
                recalibrate_norm_stats(self.G_ema, batches)
        self._ema_stats_stale = False
        return self.G_ema

    def ema_calibration_batches(self):
        """Hook: an iterable of generator-input tuples drawn the way training draws them (seeded), on which
        ``G_ema``'s batch-norm statistics are recomputed; None keeps the copied statistics (a model whose
        inputs are data, or whose generator has no running statistics)."""
        return None

    def _optimise(self, opt, loss: Tensor, logs: Mapping[str, Tensor], counted: bool = True) -> None:
        """Check ``logs`` are finite, backward ``loss``, step ``opt`` (the generator's step uncounted), untoggle."""
        self._check_finite(logs)
        opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if counted:
            opt.step()
        else:
            step_uncounted(self, opt)
        self.untoggle_optimizer(opt)

    def _is_log_step(self) -> bool:
        """Whether this iteration's values reach the loggers: Lightning writes them when the iteration count
        (``global_step`` after the discriminator's step) is a multiple of ``trainer.log_every_n_steps``, or
        when the trainer is stopping. Values of other iterations are never written, so they are not logged."""
        every = self.trainer.log_every_n_steps
        return bool(every) and self.global_step % every == 0 or self.trainer.should_stop

    def _is_record_step(self) -> bool:
        """Whether this iteration's values are recorded anywhere (loggers or train_metrics.jsonl): values
        only reported (e.g. an accuracy) need not be computed on other iterations."""
        return self.global_step % max(1, self.trainer.log_every_n_steps) == 0 or self._is_log_step()

    def _log_iteration(self, logs: Mapping[str, Tensor], bar_key: str | None = None) -> None:
        """``train/*`` to the loggers, ``last_logs`` for train_metrics.jsonl, ``bar_key`` on the progress bar.

        Lightning's ``log_dict`` costs about 0.4 ms per key per call (measured: benchmarks/train_overhead.py),
        so ``train/*`` goes to Lightning only on the iterations it writes (``_is_log_step``). What is written
        is unchanged: the latest value of every key, including terms not computed at that iteration (the
        generator's, every ``n_critic`` iterations), kept as detached tensors (no host sync) in between."""
        bar_key = bar_key or self.bar_key
        self._latest_logs.update({k: v.detach() for k, v in logs.items()})
        if self.global_step % max(1, self.trainer.log_every_n_steps) == 0:  # one host sync per logged step
            self.last_logs = {k: float(v.detach()) for k, v in logs.items()}
        if self._is_log_step():
            self.log_dict({f"train/{k}": v.float() for k, v in self._latest_logs.items()}, prog_bar=False)
        if bar_key in logs:
            self.log(bar_key, logs[bar_key].detach().float(), prog_bar=True, logger=False)

    def _check_finite(self, losses: Mapping[str, Tensor]) -> None:
        """One host sync for all ``losses`` (not one per loss); the message names the first non-finite one."""
        values = list(losses.values())
        if not values or bool(torch.isfinite(torch.stack([v.detach().float().reshape(-1).sum() for v in values])).all()):
            return
        for name, value in losses.items():
            if not torch.isfinite(value).all():
                raise NonFiniteLossError(
                    f"loss '{name}' became {value.detach().float().item()} at step {self.global_step}. "
                    "Training stopped; checkpoints/last.ckpt holds the last good state. Try a lower "
                    "model.optim.d_lr/g_lr, trainer.precision=32-true, or a larger adversarial.lambda_gp."
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

    def train(self, mode: bool = True):
        super().train(mode)
        if "G_ema" in self._modules:  # not yet built while nn.Module.__init__ runs
            self.G_ema.eval()
        return self
