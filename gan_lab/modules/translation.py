"""Multi-domain image-to-image translation (StarGAN design) with a selectable classifier head.

D loss: adv(real, fake) + λ_cls·head(φ(x), c_src) + λ_gp·GP
G loss: adv(fake) + λ_cls·head(φ(G(x, c)), c) + λ_rec·|x − G(G(x, c), c_src)|₁
The head is trained only by the discriminator update, on real images with their source labels;
the generator is trained so its outputs are classified as the target label (Sapkota et al. 2021).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_lab.modules.base import ConditionalGANModule
from gan_lab.modules.registry import register_module
from gan_lab.nets import StarGANDiscriminator, StarGANGenerator
from gan_lab.registry import ConfigError


@register_module("translation")
class TranslationGAN(ConditionalGANModule):
    """StarGAN generator + PatchGAN discriminator with an embedding for the classifier head."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        g, d = self.model_cfg["generator"], self.model_cfg["discriminator"]
        self.lambda_rec = float(self.loss_cfg.get("lambda_rec", 10.0))
        n_down = int(g.get("n_down", 2))
        if self.image_size % 2 ** n_down:
            raise ConfigError(
                f"dataset.image_size={self.image_size} does not fit model.generator.n_down={n_down}: the image size "
                f"must be a multiple of 2**n_down={2 ** n_down}")
        self.G = StarGANGenerator(self.channels, self.num_classes, **g)
        self.D = StarGANDiscriminator(self.image_size, self.channels, **d)
        self.head = self._build_head(int(d.get("embed_dim", 128)))
        self._finish_build()

    def random_targets(self, labels: Tensor) -> Tensor:
        """Uniform target domains different from the source (a translation must change the label)."""
        shift = torch.randint(1, self.num_classes, labels.shape, device=labels.device)
        return (labels + shift) % self.num_classes

    def training_step(self, batch, batch_idx):
        x, y = batch
        x = self._as_input(x)
        y_trg = self.random_targets(y)
        c_src, c_trg = self.onehot(y), self.onehot(y_trg)
        opt_d, opt_g = self.optimizers()

        # Discriminator (and head) update.
        self.toggle_optimizer(opt_d)
        with torch.no_grad():
            fake = self.G(x, c_trg)
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

        # Generator update every n_critic iterations.
        if (self.global_step) % self.n_critic == 0:
            self.toggle_optimizer(opt_g)
            fake = self.G(x, c_trg)
            out_fake, emb_fake = self.D(fake)
            g_adv = self.adv.g_loss(out_fake)
            g_cls = self.head(emb_fake, y_trg)
            g_rec = F.l1_loss(self.G(fake, c_src).float(), x.float())
            g_loss = g_adv + self.lambda_cls * g_cls + self.lambda_rec * g_rec
            g_logs = {"g_adv": g_adv, "g_cls": g_cls, "g_rec": g_rec, "g_loss": g_loss}
            self._optimise(opt_g, g_loss, g_logs, counted=False)
            self._update_ema()
            with torch.no_grad():
                g_logs["g_acc_fake"] = (self.head.logits(emb_fake.detach()).argmax(1) == y_trg).float().mean()
            logs.update(g_logs)
        self._after_iteration()
        self._log_iteration(logs)

    # -- sampling API ------------------------------------------------------------------------
    @torch.no_grad()
    def translate(self, x: Tensor, target: Tensor, ema: bool = True) -> Tensor:
        """Translate images ``x`` (N,C,H,W in [-1,1]) to target labels (N,) with the EMA generator."""
        net = self.G_ema if ema else self.G
        return net(self._as_input(x.to(self.device)), self.onehot(target.to(self.device))).float().clamp(-1, 1)

    @torch.no_grad()
    def make_eval_set(self, real_images: Tensor, real_labels: Tensor, n: int, seed: int, batch_size: int = 128):
        """n translations: real images cycled in order, each to a seeded random target ≠ its source."""
        gen = torch.Generator().manual_seed(seed)
        idx = torch.arange(n) % real_images.size(0)
        src = real_labels[idx]
        trg = (src + torch.randint(1, self.num_classes, (n,), generator=gen)) % self.num_classes
        out = [self.translate(real_images[idx[i : i + batch_size]], trg[i : i + batch_size]).cpu()
               for i in range(0, n, batch_size)]
        return {"fake_images": torch.cat(out), "fake_labels": trg, "fake_sources": src}

    @torch.no_grad()
    def sample_grid(self, grid_inputs: Tensor, max_classes: int = 20) -> Tensor:
        """Row 0: the fixed inputs; row k+1: every input translated to class k. (rows, cols, C, H, W)."""
        rows = [grid_inputs.cpu()]
        for k in range(min(self.num_classes, max_classes)):
            t = torch.full((grid_inputs.size(0),), k, dtype=torch.long)
            rows.append(self.translate(grid_inputs, t).cpu())
        return torch.stack(rows)
