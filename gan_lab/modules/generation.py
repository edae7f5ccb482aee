"""Class-conditional generation (noise + label -> image), AC-GAN style, with a selectable head.

D loss: adv(real, fake) + λ_cls·head(φ(x), y) [+ λ_gp·GP]; G loss: adv(fake) + λ_cls·head(φ(G(z, c)), c).
As in the label-geometry paper, the head learns from real images only; the generator is pushed
toward its target class through the (margin-)classifier.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gan_lab.modules.conditional import ConditionalGANModule
from gan_lab.modules.registry import register_module
from gan_lab.nets import ConditionalDiscriminator, ConditionalGenerator


@register_module("generation")
class ConditionalGAN(ConditionalGANModule):
    """Conditional generator + discriminator with an embedding for the classifier head."""

    gan_train_source = "generated samples (their own noise seed)"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        g, d = self.model_cfg["generator"], self.model_cfg["discriminator"]
        self.z_dim = int(self.model_cfg["z_dim"])
        self.G = ConditionalGenerator(self.z_dim, self.num_classes, self.image_size, self.channels, **g)
        self.D = ConditionalDiscriminator(self.image_size, self.channels, **d)
        self.head = self._build_head(int(d["embed_dim"]))
        self._finish_build()

    def sample_targets(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        n = x.size(0)
        y_fake = torch.randint(0, self.num_classes, (n,), device=x.device)
        return torch.randn(n, self.z_dim, device=x.device), y_fake

    def generate(self, g_input: Tensor, y_trg: Tensor) -> Tensor:
        return self.G(g_input, y_trg)

    # -- sampling API ------------------------------------------------------------------------
    def ema_calibration_batches(self, n_batches: int = 8, batch_size: int = 128):
        """Noise and uniformly drawn labels, as training samples them, from a generator seeded by the run's
        seed: 1,024 samples re-estimate the EMA generator's batch-norm statistics."""
        gen = torch.Generator().manual_seed(self.seed)
        for _ in range(n_batches):
            z = torch.randn(batch_size, self.z_dim, generator=gen)
            y = torch.randint(0, self.num_classes, (batch_size,), generator=gen)
            yield z.to(self.device), y.to(self.device)

    @torch.no_grad()
    def generate_ema(self, z: Tensor, labels: Tensor, ema: bool = True) -> Tensor:
        net = self.ema_generator() if ema else self.G
        return net(z.to(self.device), labels.to(self.device)).float().clamp(-1, 1)

    @torch.no_grad()
    def make_eval_set(self, real_images: Tensor, real_labels: Tensor, n: int, seed: int, batch_size: int = 256):
        """n samples with balanced labels (i mod C) and seeded noise; real images are not used."""
        gen = torch.Generator().manual_seed(seed)
        labels = torch.arange(n) % self.num_classes
        z = torch.randn(n, self.z_dim, generator=gen)
        out = [self.generate_ema(z[i : i + batch_size], labels[i : i + batch_size]).cpu() for i in range(0, n, batch_size)]
        return {"fake_images": torch.cat(out), "fake_labels": labels, "fake_sources": None}

    @torch.no_grad()
    def sample_grid(self, grid_inputs: Tensor, max_classes: int = 20) -> Tensor:
        """Row k: class k; column j: the same fixed noise vector ``grid_inputs[j]`` (cols, z_dim)."""
        rows = []
        for k in range(min(self.num_classes, max_classes)):
            t = torch.full((grid_inputs.size(0),), k, dtype=torch.long)
            rows.append(self.generate_ema(grid_inputs, t).cpu())
        return torch.stack(rows)

    def grid_inputs(self, datamodule, n: int, seed: int, split: str = "val") -> Tensor:
        """Fixed noise vectors (one per column) seeded by the run's seed."""
        return torch.randn(n, self.z_dim, generator=torch.Generator().manual_seed(seed))
