"""Class-conditional generation (noise + label -> image), AC-GAN style, with a selectable head.

D loss: adv(real, fake) + λ_cls·head(φ(x), y) [+ λ_gp·GP]; G loss: adv(fake) + λ_cls·head(φ(G(z, c)), c).
As in the label-geometry paper, the head learns from real images only; the generator is pushed
toward its target class through the (margin-)classifier.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gan_lab.modules.base import ConditionalGANModule
from gan_lab.modules.registry import register_module
from gan_lab.nets import ConditionalDiscriminator, ConditionalGenerator


@register_module("generation")
class ConditionalGAN(ConditionalGANModule):
    """Conditional generator + discriminator with an embedding for the classifier head."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        g, d = self.model_cfg["generator"], self.model_cfg["discriminator"]
        self.z_dim = int(self.model_cfg.get("z_dim", 128))
        self.G = ConditionalGenerator(self.z_dim, self.num_classes, self.image_size, self.channels, **g)
        self.D = ConditionalDiscriminator(self.image_size, self.channels, **d)
        self.head = self._build_head(int(d.get("embed_dim", 128)))
        self._finish_build()

    def training_step(self, batch, batch_idx):
        x, y = batch
        x = self._as_input(x)
        n = x.size(0)
        y_fake = torch.randint(0, self.num_classes, (n,), device=x.device)
        z = torch.randn(n, self.z_dim, device=x.device)
        opt_d, opt_g = self.optimizers()

        self.toggle_optimizer(opt_d)
        with torch.no_grad():
            fake = self.G(z, y_fake)
        out_real, emb_real = self.D(x)
        out_fake, _ = self.D(fake)
        d_adv = self.adv.d_loss(out_real, out_fake)
        d_cls = self.head(emb_real, y)
        d_loss = d_adv + self.lambda_cls * d_cls
        logs = {"d_adv": d_adv, "d_cls": d_cls}
        if self.lambda_gp > 0:
            gp = self._gradient_penalty(x, fake)
            d_loss = d_loss + self.lambda_gp * gp
            logs["gp"] = gp
        logs["d_loss"] = d_loss
        self._optimise(opt_d, d_loss, logs)
        with torch.no_grad():
            logs["d_acc_real"] = (self.head.logits(emb_real.detach()).argmax(1) == y).float().mean()

        if self.global_step % self.n_critic == 0:
            self.toggle_optimizer(opt_g)
            fake = self.G(z, y_fake)
            out_fake, emb_fake = self.D(fake)
            g_adv = self.adv.g_loss(out_fake)
            g_cls = self.head(emb_fake, y_fake)
            g_loss = g_adv + self.lambda_cls * g_cls
            g_logs = {"g_adv": g_adv, "g_cls": g_cls, "g_loss": g_loss}
            self._optimise(opt_g, g_loss, g_logs, counted=False)
            self._update_ema()
            with torch.no_grad():
                g_logs["g_acc_fake"] = (self.head.logits(emb_fake.detach()).argmax(1) == y_fake).float().mean()
            logs.update(g_logs)
        self._after_iteration()
        self._log_iteration(logs)

    # -- sampling API ------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, z: Tensor, labels: Tensor, ema: bool = True) -> Tensor:
        net = self.G_ema if ema else self.G
        return net(z.to(self.device), labels.to(self.device)).float().clamp(-1, 1)

    @torch.no_grad()
    def make_eval_set(self, real_images: Tensor, real_labels: Tensor, n: int, seed: int, batch_size: int = 256):
        """n samples with balanced labels (i mod C) and seeded noise; real images are not used."""
        gen = torch.Generator().manual_seed(seed)
        labels = torch.arange(n) % self.num_classes
        z = torch.randn(n, self.z_dim, generator=gen)
        out = [self.generate(z[i : i + batch_size], labels[i : i + batch_size]).cpu() for i in range(0, n, batch_size)]
        return {"fake_images": torch.cat(out), "fake_labels": labels, "fake_sources": None}

    @torch.no_grad()
    def sample_grid(self, grid_inputs: Tensor, max_classes: int = 20) -> Tensor:
        """Row k: class k; column j: the same fixed noise vector ``grid_inputs[j]`` (cols, z_dim)."""
        rows = []
        for k in range(min(self.num_classes, max_classes)):
            t = torch.full((grid_inputs.size(0),), k, dtype=torch.long)
            rows.append(self.generate(grid_inputs, t).cpu())
        return torch.stack(rows)

    def grid_noise(self, n: int, seed: int) -> Tensor:
        return torch.randn(n, self.z_dim, generator=torch.Generator().manual_seed(seed))
