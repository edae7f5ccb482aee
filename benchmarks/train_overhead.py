"""gan_lab's training iteration through Lightning against a plain PyTorch loop of the same nets and losses.

Usage (repository root; docs/performance.md has the measured numbers):

    python benchmarks/train_overhead.py                 # StarGAN published widths, 64 px RGB, batch 16, fp32
    python benchmarks/train_overhead.py --small         # reduced widths: finishes in about a minute
    python benchmarks/train_overhead.py --precision bf16-mixed --channels-last

The arms run in this one process, interleaved (fused, loop, plain, fused, loop, plain, ...): each repeat builds
fresh nets, runs ``--warmup`` iterations, then times ``--iters`` iterations (a multiple of n_critic, so every
block holds the same number of generator steps). The arms:

- gan_lab: the module ``gan-lab train model=stargan`` builds, from the composed config, in a real
  ``pl.Trainer`` with the trainer config and the per-step callbacks train() installs (train record, last
  checkpoint, progress bar), on synthetic in-memory data through gan_lab's own data loader, logger off,
  evaluation and sample grids off (``eval.every_n_steps=0 samples.every_n_steps=0``); twice: as configured
  (``fused``: ``model.fused_step=true``, the default: one D forward on cat(real, fake), G's output computed once
  per generator iteration) and as StarGAN's own loop (``loop``: ``model.fused_step=false``, the same passes as
  the plain loop, so loop / plain is the framework's overhead and plain / fused the default path's speed-up);
- plain: the loop a researcher would write: the same ``gan_lab.nets`` and losses (WGAN-GP + the head +
  cycle reconstruction), Adam, linear LR decay, the EMA generator, a ``.item()`` log every
  ``trainer.log_every_n_steps`` iterations, the discriminator frozen during the generator step.

Prints the seconds per iteration of each arm (median and range over repeats), in wall time and in this
process's CPU time (with ``--threads 1`` the CPU time leaves out the time other jobs hold the core: the
steadier figure on a shared machine), the ratio gan_lab / plain (the number that matters: absolute times
drift) and, from one extra repeat of each arm with a timer around every part, where the time goes.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan_lab.launch.ddp_guard import trainer_kwargs
from gan_lab.data.base import ImageDataModule  # noqa: E402
from gan_lab.losses import build_adversarial, build_head, gradient_penalty  # noqa: E402
from gan_lab.modules.conditional import balanced_lambda_cls  # noqa: E402
from gan_lab.modules.specs import HeadSpec  # noqa: E402
from gan_lab.nets import StarGANDiscriminator, StarGANGenerator  # noqa: E402

PUBLISHED = ["model.generator.conv_dim=64", "model.generator.n_res=6",
             "model.discriminator.conv_dim=64", "model.discriminator.n_layers=6"]
SMALL = ["model.generator.conv_dim=16", "model.generator.n_res=2",
         "model.discriminator.conv_dim=16", "model.discriminator.n_layers=5"]


class SyntheticData(ImageDataModule):
    """Random images in [-1, 1] with balanced labels, held in memory (train/val/test)."""

    name = "synthetic"

    def __init__(self, n: int, num_classes: int, image_size: int, batch_size: int):
        super().__init__(root="<memory>", image_size=image_size, batch_size=batch_size)
        self.n, self.num_classes, self.channels = n, num_classes, 3
        self.class_names = [str(i) for i in range(num_classes)]

    def _load(self):
        g = torch.Generator().manual_seed(0)
        x = torch.rand(self.n, 3, self.image_size, self.image_size, generator=g) * 2 - 1
        y = torch.arange(self.n) % self.num_classes
        return {s: TensorDataset(x, y) for s in ("train", "val", "test")}


def compose(args, out_dir: str):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from gan_lab.config import CONF_DIR

    overrides = [
        "model=stargan", "head=softmax", "adversarial=wgan-gp", "logger=none", f"trainer.precision={args.precision}",
        f"channels_last={str(args.channels_last).lower()}", f"dataset.image_size={args.size}",
        f"dataset.batch_size={args.batch}", f"model.optim.n_critic={args.n_critic}",
        "eval.every_n_steps=0", "samples.every_n_steps=0", "eval.final_metrics=[]", "eval.metrics=[]",
        "checkpoint.monitor=null", f"paths.output_dir={out_dir}", f"paths.cache_dir={out_dir}/cache",
        *(SMALL if args.small else PUBLISHED), *args.override,
    ]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose("train", overrides=overrides)


def clocks() -> tuple[float, float]:
    """(wall, CPU time of this process). With one thread, CPU time leaves out the time other jobs on a shared
    machine hold the core, so it is the steadier measure there; both are reported."""
    return time.perf_counter(), time.process_time()


class IterationClock(pl.Callback):
    """Wall and CPU time from the end of iteration ``start`` to the end of the last iteration."""

    def __init__(self, start: int):
        self.start, self.t0, self.t1 = start, None, None

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if trainer.global_step == self.start:
            self.t0 = clocks()
        self.t1 = clocks()


def lightning_run(cfg, dm, warmup: int, iters: int, timers=None) -> float:
    """Seconds per iteration of gan_lab's module in a real Trainer (the per-step callbacks of train())."""
    from gan_lab.callbacks.last_checkpoint import LastCheckpoint
    from gan_lab.callbacks.progress import StepProgressBar
    from gan_lab.callbacks.train_record import TrainRecord
    from gan_lab.modules import MODULES
    from gan_lab.modules.loading import module_args

    run_dir = Path(cfg.paths.output_dir)
    module = MODULES.get(cfg.model.module)(num_classes=dm.num_classes, channels=dm.channels,
                                           image_size=dm.image_size, class_names=dm.class_names, seed=cfg.seed,
                                           channels_last=cfg.channels_last, **module_args(cfg))
    if timers is not None:
        timers.instrument_module(module)
    clock = IterationClock(warmup)
    trainer_cfg = {**trainer_kwargs(OmegaConf.to_container(cfg.trainer, resolve=True)), "max_steps": warmup + iters,
                   "enable_model_summary": False}
    callbacks = [TrainRecord(run_dir / "train_metrics.jsonl", cfg.trainer.log_every_n_steps),
                 LastCheckpoint(run_dir / "checkpoints" / "last.ckpt", cfg.checkpoint.every_n_steps),
                 clock] + ([StepProgressBar()] if cfg.trainer.enable_progress_bar else [])
    if timers is not None:
        callbacks.append(timers.iteration_callback(warmup))
    trainer = pl.Trainer(**trainer_cfg, callbacks=callbacks, logger=False, default_root_dir=str(run_dir),
                         enable_checkpointing=False)
    trainer.fit(module, datamodule=dm)
    return tuple((b - a) / iters for a, b in zip(clock.t0, clock.t1))


def plain_run(cfg, dm, warmup: int, iters: int, timers=None) -> float:
    """Seconds per iteration of the hand-written loop (same nets, losses, optimiser, schedule, EMA)."""
    m, c = cfg.model, dm.num_classes
    t = timers or Timers()
    G = StarGANGenerator(3, c, **m.generator)
    D = StarGANDiscriminator(dm.image_size, 3, **m.discriminator)
    spec = HeadSpec.read(OmegaConf.to_container(cfg.head, resolve=True))
    head = build_head(spec.name, int(m.discriminator.embed_dim), c, **spec.options)
    G_ema = copy.deepcopy(G).requires_grad_(False).eval()
    adv = build_adversarial(cfg.adversarial.name)
    lambda_cls = balanced_lambda_cls(spec.lambda_cls, head, spec.reference_scale)
    lambda_gp, lambda_rec = float(cfg.adversarial.lambda_gp), float(m.objective.lambda_rec)
    o, fmt = m.optim, torch.channels_last if cfg.channels_last else torch.contiguous_format
    for net in (G, D, head, G_ema):
        net.to(memory_format=fmt)
    opt_d = torch.optim.Adam([*D.parameters(), *head.parameters()], lr=o.d_lr, betas=tuple(o.betas))
    opt_g = torch.optim.Adam(G.parameters(), lr=o.g_lr, betas=tuple(o.betas))
    max_steps, start = warmup + iters, int(o.decay_start * (warmup + iters))
    decay = lambda s: 1.0 if s < start else max(0.0, (max_steps - s) / max(1, max_steps - start))  # noqa: E731
    scheds = [torch.optim.lr_scheduler.LambdaLR(opt, decay) for opt in (opt_d, opt_g)]
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.trainer.precision == "bf16-mixed")
    loader = DataLoader(dm.dataset("train"), batch_size=dm.batch_size, shuffle=True, drop_last=True)
    onehot = lambda y: F.one_hot(y, c).float()  # noqa: E731
    data, step, t0 = iter(loader), 0, None
    while step < max_steps:
        with t("data"):
            try:
                x, y = next(data)
            except StopIteration:
                data = iter(loader)
                x, y = next(data)
            x = x.contiguous(memory_format=fmt)
            y_trg = (y + torch.randint(1, c, y.shape)) % c
        with autocast:
            with t("G forward"), torch.no_grad():
                fake = G(x, onehot(y_trg))
            with t("D forward + losses"):
                out_real, emb_real = D(x)
                out_fake, _ = D(fake)
                d_loss = adv.d_loss(out_real, out_fake) + lambda_cls * head(emb_real, y)
            with t("gradient penalty forward"):
                alpha = torch.rand(x.size(0), 1, 1, 1)
                x_hat = (alpha * x + (1 - alpha) * fake).requires_grad_(True)
                gp = gradient_penalty(D(x_hat)[0], x_hat)
                d_loss = d_loss + lambda_gp * gp
        with t("backward"):
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
        with t("Adam steps"):
            opt_d.step()
        if step % o.n_critic == 0:
            D.requires_grad_(False)
            head.requires_grad_(False)
            with autocast:
                with t("G forward"):
                    fake = G(x, onehot(y_trg))
                with t("G step forward (D, head, reconstruction)"):
                    out_fake, emb_fake = D(fake)
                    g_loss = (adv.g_loss(out_fake) + lambda_cls * head(emb_fake, y_trg)
                              + lambda_rec * F.l1_loss(G(fake, onehot(y)).float(), x.float()))
            with t("backward"):
                opt_g.zero_grad(set_to_none=True)
                g_loss.backward()
            with t("Adam steps"):
                opt_g.step()
            D.requires_grad_(True)
            head.requires_grad_(True)
            with t("EMA"), torch.no_grad():
                k = step - int(cfg.model.ema.start_step)
                d = 0.0 if k < 0 else min(float(cfg.model.ema.decay), (1.0 + k) / (10.0 + k))
                torch._foreach_lerp_(list(G_ema.parameters()), list(G.parameters()), 1.0 - d)
        with t("LR schedulers"):
            for s in scheds:
                s.step()
        step += 1
        with t("logging"):
            if step % cfg.trainer.log_every_n_steps == 0:
                _ = {"d_loss": d_loss.item(), "gp": gp.item()}
        if step == warmup:
            t.total.clear()  # the breakdown counts the timed iterations only
            t0 = clocks()
    return tuple((b - a) / iters for a, b in zip(t0, clocks()))


class Timers:
    """Exclusive CPU time per named part (nested parts are subtracted from their parent)."""

    def __init__(self):
        self.total: dict[str, float] = defaultdict(float)
        self._stack: list[list] = []

    @contextmanager
    def __call__(self, name: str):
        self._stack.append([name, time.process_time(), 0.0])
        try:
            yield
        finally:
            _, t0, child = self._stack.pop()
            dt = time.process_time() - t0
            self.total[name] += dt - child
            if self._stack:
                self._stack[-1][2] += dt

    def wrap(self, obj, attr: str, name: str) -> None:
        fn = getattr(obj, attr)

        def timed(*a, **kw):
            with self(name):
                return fn(*a, **kw)

        setattr(obj, attr, timed)

    def instrument_module(self, module) -> None:
        for attr, name in (("generate", "G forward"), ("discriminator_terms", "D forward + losses"),
                           ("_gradient_penalty", "gradient penalty forward"),
                           ("generator_terms", "G step forward (D, head, reconstruction)"),
                           ("manual_backward", "backward"), ("_update_ema", "EMA"),
                           ("_after_iteration", "LR schedulers"), ("_log_iteration", "logging"),
                           ("_check_finite", "finite checks"), ("toggle_optimizer", "toggle/untoggle"),
                           ("untoggle_optimizer", "toggle/untoggle"),
                           ("training_step", "rest of training_step (zero_grad, dicts, accuracy)")):
            self.wrap(module, attr, name)
        timers = self

        class StepTimer(pl.Callback):  # the optimiser steps go through the strategy (counted or not)
            def on_fit_start(self, trainer, pl_module):
                timers.wrap(trainer.strategy, "optimizer_step", "Adam steps")

        self._strategy_cb = StepTimer()

    def iteration_callback(self, start: int) -> pl.Callback:
        timers = self

        class Whole(pl.Callback):  # everything between two iterations' ends that is not in a named part
            def __init__(self, start: int):
                self.start = start

            def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
                now = time.process_time()
                if trainer.global_step == self.start:  # the breakdown counts the timed iterations only
                    timers.total.clear()
                elif trainer.global_step > self.start:
                    named = sum(timers.total.values()) - self.named_at_last
                    timers.total["Lightning loop, callbacks, data"] += (now - self.last) - named
                self.last, self.named_at_last = now, sum(timers.total.values())

        return _Both(self._strategy_cb, Whole(start))


class _Both(pl.Callback):
    def __init__(self, a, b):
        self.a, self.b = a, b

    def on_fit_start(self, trainer, pl_module):
        self.a.on_fit_start(trainer, pl_module)

    def on_train_batch_end(self, *args):
        self.b.on_train_batch_end(*args)


def spread(xs: list[float]) -> str:
    return f"median {statistics.median(xs):.4f} s (min {min(xs):.4f}, max {max(xs):.4f}, n={len(xs)})"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--small", action="store_true", help="reduced widths (G 16/2 res, D 16/5 layers)")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--classes", type=int, default=8)
    p.add_argument("--n-critic", type=int, default=5)
    p.add_argument("--precision", default="32-true", choices=["32-true", "bf16-mixed"])
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=10, help="timed iterations per repeat (rounded up to n_critic)")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--no-breakdown", action="store_true")
    p.add_argument("override", nargs="*", help="more config overrides (key=value)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    iters = -(-args.iters // args.n_critic) * args.n_critic
    import logging
    import warnings

    import gan_lab.train  # noqa: F401 (its warning filters: the same Lightning warnings a run hides)

    warnings.filterwarnings("ignore")
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as out:
        cfg = compose(args, out)
        args.override = [*args.override, "model.fused_step=false"]
        cfg_loop = compose(args, out)
        dm = SyntheticData(max(256, 4 * args.batch), args.classes, args.size, args.batch)
        dm.setup()
        print(f"torch {torch.__version__}, pytorch_lightning {pl.__version__}, threads {torch.get_num_threads()}; "
              f"G conv_dim {cfg.model.generator.conv_dim} n_res {cfg.model.generator.n_res}, D conv_dim "
              f"{cfg.model.discriminator.conv_dim} n_layers {cfg.model.discriminator.n_layers}; {args.size} px RGB, "
              f"batch {args.batch}, n_critic {args.n_critic}, {args.classes} classes, {args.precision}, channels_last "
              f"{args.channels_last}; warm-up {args.warmup}, {iters} timed iterations x {args.repeats} repeats",
              flush=True)
        runs = {"fused": [], "loop": [], "plain": []}  # per repeat: (wall, cpu) seconds per iteration
        for r in range(args.repeats):
            runs["fused"].append(lightning_run(cfg, dm, args.warmup, iters))
            runs["loop"].append(lightning_run(cfg_loop, dm, args.warmup, iters))
            runs["plain"].append(plain_run(cfg, dm, args.warmup, iters))
            print(f"repeat {r}: " + "; ".join(
                f"{clock} " + " ".join(f"{k} {v[-1][i]:.4f}" for k, v in runs.items()) + " s/it"
                for i, clock in enumerate(("wall", "CPU"))), flush=True)
        for i, clock in enumerate(("wall", "CPU")):
            t = {k: [x[i] for x in v] for k, v in runs.items()}
            print(f"{clock:4s} per iteration: " + "; ".join(f"{k} {spread(v)}" for k, v in t.items()))
            for name, a, b in (("overhead: gan_lab loop / plain", "loop", "plain"),
                               ("speed-up: plain / gan_lab fused (the default)", "plain", "fused")):
                ratios = [x / y for x, y in zip(t[a], t[b])]
                print(f"{clock:4s} {name}: median of per-repeat ratios {statistics.median(ratios):.3f} "
                      f"(min {min(ratios):.3f}, max {max(ratios):.3f}); ratio of medians "
                      f"{statistics.median(t[a]) / statistics.median(t[b]):.3f}; ratio of minima "
                      f"{min(t[a]) / min(t[b]):.3f}")
        if args.no_breakdown:
            return
        tl, tp = Timers(), Timers()  # the breakdown compares the same passes: gan_lab's loop against plain
        sl = lightning_run(cfg_loop, dm, args.warmup, iters, timers=tl)[1]
        sp = plain_run(cfg, dm, args.warmup, iters, timers=tp)[1]
        n_l = n_p = iters
        print(f"\nbreakdown (one more repeat of each arm with a timer around every part; CPU ms per timed "
              f"iteration; gan_lab {sl:.4f} s/it, plain {sp:.4f} s/it CPU in this repeat):")
        print(f"{'part':48s} {'gan_lab':>9s} {'plain':>9s} {'diff':>9s}")
        for name in dict.fromkeys([*tp.total, *tl.total]):
            a, b = 1e3 * tl.total.get(name, 0.0) / n_l, 1e3 * tp.total.get(name, 0.0) / n_p
            print(f"{name:48s} {a:9.2f} {b:9.2f} {a - b:+9.2f}")


if __name__ == "__main__":
    main()
