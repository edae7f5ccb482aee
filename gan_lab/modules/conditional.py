"""Class-conditional tasks (translation, generation): a discriminator with a conditioning head on its
embedding φ(x), and the one training step both tasks share. With T the differentiable augmentation
(``model.diffaugment``, identity when off) and D(x, y) = critic(T(x)) [+ head.adversarial_term(φ, y) for a
projecting head]:

D loss: adv(D(x, c_src), D(fake, c_trg)) + λ_cls·head.d_loss(φ_real, c_src, φ_fake, c_trg) [+ λ_gp·GP]
G loss: adv(D(fake, c_trg)) + λ_cls·head.g_loss(φ_fake, c_trg) + task terms (translation: λ_rec·cycle)
(the head terms only for heads that ``classify``; ``gan_lab/losses/heads.py``).
A task declares four hooks: ``sample_targets``, ``generate``, ``generator_extra_terms``, ``loss_weights``.
"""

from __future__ import annotations

import logging
from typing import Mapping

import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from gan_lab.augment import DiffAugment, parse_policy
from gan_lab.losses import HEADS, build_head, gradient_penalty
from gan_lab.metrics.suite import METRICS
from gan_lab.modules.base import GANModule
from gan_lab.modules.specs import HeadSpec
from gan_lab.nets.conditional import MinibatchStd
from gan_lab.registry import ConfigError

log = logging.getLogger("gan_lab")


def balanced_lambda_cls(lambda_cls: float, head, reference_scale: float | None) -> float:
    """λ_cls in use. A normalised head's loss gradient on φ grows linearly with its scale s, so its weight
    is ``λ_cls · reference_scale / s``: at s = reference_scale (3 by default) the head's gradient on D's
    trunk matches the soft-max head's (measured: docs/results/live_critic.md). null: λ_cls as configured."""
    if reference_scale is None or not head.normalised:
        return float(lambda_cls)
    return float(lambda_cls) * float(reference_scale) / head.scale


class ConditionalGANModule(GANModule):
    """Subclasses build ``self.G``, ``self.D`` (returning (adversarial output, embedding φ)) and call
    ``_build_head(embed_dim)`` then ``_finish_build()``."""

    task = "conditional"
    has_diagnostics = True
    progress_keys = ("d_loss", "val/gan_test", "val/fid_clf")
    metric_registry = METRICS
    sanity_rows = ("real", "template")

    @classmethod
    def validate_config(cls, cfg: DictConfig) -> None:
        """The head exists and accepts its options (a dry-run build runs the head's own range checks)."""
        if cfg.head.name == "none":
            raise ConfigError(f"model={cfg.model.name} needs a classifier head; choose head="
                              + "|".join(HEADS.names()))
        spec = HeadSpec.read(cfg.head)
        head = build_head(spec.name, 2, 2, **spec.options)
        if head.classifies and spec.lambda_cls is None:
            raise ConfigError(f"head={spec.name} adds a loss term: set head.lambda_cls (its weight)")
        if not head.classifies and spec.lambda_cls is not None:
            raise ConfigError(f"head.lambda_cls is not used by head={spec.name} (it adds no loss term); remove it")
        parse_policy(cfg.model.diffaugment)

    @classmethod
    def build_evaluator(cls, datamodule, eval_cfg: dict, cache_dir, data_key: dict):
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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.head_spec = HeadSpec.read(self.hparams.head)
        self.lambda_cls = self.head_spec.lambda_cls or 0.0  # the weight in use; balanced for normalised heads
        # G's class term relative to D's (model.g_cls_weight): 1 in StarGAN, 0.1 in AC-WGAN-GP (Gulrajani et al.)
        self.g_cls_weight = float(self.model_cfg["g_cls_weight"])
        self.augment = DiffAugment(self.model_cfg["diffaugment"])  # before every D input (empty: identity)
        self.fused_step = bool(self.model_cfg["fused_step"])  # see training_step

    def _build_head(self, embed_dim: int) -> nn.Module:
        spec = self.head_spec
        head = build_head(spec.name, embed_dim, self.num_classes, **spec.options)
        self.lambda_cls = balanced_lambda_cls(self.lambda_cls, head, spec.reference_scale)
        if head.classifies and self.lambda_cls != spec.lambda_cls:
            log.info("head %s (s=%g): lambda_cls %g in use (= head.lambda_cls %g * head.reference_scale %g / s)",
                     head.name, head.scale, self.lambda_cls, spec.lambda_cls, spec.reference_scale)
        return head

    def joint_critic(self) -> bool:
        """Whether D scores real and fake in one forward (``model.fused_step``): only when D's output for a sample
        depends on that sample alone (no batch-statistics layer -- batch norm, minibatch std -- whose statistics
        would mix real and fake)."""
        batch_stats = (nn.modules.batchnorm._BatchNorm, MinibatchStd)
        return self.fused_step and not any(isinstance(m, batch_stats) for m in self.D.modules())

    def evaluation_facts(self) -> dict[str, float]:
        """The classifier head's weight in use (normalised heads: balanced by the scale; see balanced_lambda_cls)."""
        return {"lambda_cls_in_use": float(self.lambda_cls), "g_cls_weight": self.g_cls_weight}

    def d_parameters(self) -> list[nn.Parameter]:
        return list(self.D.parameters()) + list(self.head.parameters())

    def critic(self, x: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """D's (critic output, φ) on the augmented ``x``; a projecting head adds its class term to the output."""
        return self._scored(self.D(self.augment(x)), labels)

    def _scored(self, d_out: tuple[Tensor, Tensor], labels: Tensor) -> tuple[Tensor, Tensor]:
        """D's raw (output, φ) with a projecting head's class term added to the output."""
        out, emb = d_out
        if self.head.projects:
            out = out + self.head.adversarial_term(emb, labels).to(out.dtype).view(-1, *[1] * (out.dim() - 1))
        return out, emb

    def _gradient_penalty(self, real: Tensor, fake: Tensor, labels: Tensor) -> Tensor:
        """WGAN-GP penalty of the critic's output at random interpolates of ``real`` and ``fake`` (a projecting
        head's term taken with the real images' labels)."""
        alpha = torch.rand(real.size(0), 1, 1, 1, device=real.device, dtype=real.dtype)
        x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        return gradient_penalty(self.critic(x_hat, labels)[0], x_hat)

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
        return {"d_adv": 1.0, "d_cls": self.lambda_cls, "gp": self.lambda_gp, "g_adv": 1.0,
                "g_cls": self.lambda_cls * self.g_cls_weight}

    def discriminator_terms(self, x: Tensor, y: Tensor, fake: Tensor, y_trg: Tensor
                            ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """D's loss terms (adversarial on real vs fake, the head's term, gradient penalty) and D's outputs
        (``out_real``, ``emb_real``, ``out_fake``, ``emb_fake``)."""
        if self.joint_critic():  # one D forward on cat(T(real), T(fake)): the same per-sample maths, one larger batch
            n = x.size(0)
            out, emb = self._scored(self.D(torch.cat([self.augment(x), self.augment(fake)])), torch.cat([y, y_trg]))
            out_real, out_fake, emb_real, emb_fake = out[:n], out[n:], emb[:n], emb[n:]
        else:
            out_real, emb_real = self.critic(x, y)
            out_fake, emb_fake = self.critic(fake, y_trg)
        terms = {"d_adv": self.adv.d_loss(out_real, out_fake)}
        if self.head.classifies:
            terms["d_cls"] = self.head.d_loss(emb_real, y, emb_fake, y_trg)
        if self.lambda_gp > 0:
            terms["gp"] = self._gradient_penalty(x, fake, y)
        return terms, {"out_real": out_real, "emb_real": emb_real, "out_fake": out_fake, "emb_fake": emb_fake}

    def generator_terms(self, x: Tensor, y: Tensor, y_trg: Tensor, fake: Tensor) -> tuple[dict[str, Tensor], Tensor]:
        """G's loss terms (adversarial, the head's term on the fake with its target label, task extras), φ(fake)."""
        out_fake, emb_fake = self.critic(fake, y_trg)
        terms = {"g_adv": self.adv.g_loss(out_fake)}
        if self.head.classifies:
            terms["g_cls"] = self.head.g_loss(emb_fake, y_trg)
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
        # The generator steps when the iteration count after D's (counted) step is a multiple of n_critic.
        g_step = (self.global_step + 1) % self.n_critic == 0
        # model.fused_step: on generator iterations G's output is computed once, with grad, before D's update
        # (G does not change during it) and serves both updates; otherwise D gets a no-grad copy and G
        # generates again, as StarGAN's own loop does. Same values either way; fused saves one G forward.
        fake_g = self.generate(g_input, y_trg) if g_step and self.fused_step else None

        # Discriminator (and head) update: the head learns from real images with their source labels.
        self.toggle_optimizer(opt_d)
        if fake_g is not None:
            fake = fake_g.detach()
        else:
            with torch.no_grad():
                fake = self.generate(g_input, y_trg)
        terms, out = self.discriminator_terms(x, y, fake, y_trg)
        d_loss = self.weighted_sum(terms)
        logs = {**terms, "d_loss": d_loss}
        self._optimise(opt_d, d_loss, logs)
        if self._is_record_step():  # only reported: a step never recorded skips it (the generator's is kept
            with torch.no_grad():   # every step, since the loggers write its latest value)
                logs["d_acc_real"] = (self.head.logits(out["emb_real"].detach()).argmax(1) == y).float().mean()

        # Generator update every n_critic iterations: its outputs should be classified as the target.
        if g_step:
            self.toggle_optimizer(opt_g)
            fake_g = self.generate(g_input, y_trg) if fake_g is None else fake_g
            g_terms, emb_fake = self.generator_terms(x, y, y_trg, fake_g)
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
            terms, out = self.discriminator_terms(x, y, fake, y_trg)
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

    def onehot(self, labels: Tensor) -> Tensor:
        return torch.nn.functional.one_hot(labels.long(), self.num_classes).float()
