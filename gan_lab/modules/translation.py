"""Multi-domain image-to-image translation (StarGAN design) with a selectable classifier head.

D loss: adv(real, fake) + λ_cls·head(φ(x), c_src) + λ_gp·GP          (ConditionalGANModule.training_step)
G loss: adv(fake) + λ_cls·head(φ(G(x, c)), c) + λ_rec·|x − G(G(x, c), c_src)|₁
The head is trained only by the discriminator update, on real images with their source labels;
the generator is trained so its outputs are classified as the target label (Sapkota et al. 2021).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_lab.modules.conditional import ConditionalGANModule
from gan_lab.modules.registry import register_module
from gan_lab.modules.specs import TranslationObjective, read_spec
from gan_lab.nets import StarGANDiscriminator, StarGANGenerator
from gan_lab.registry import ConfigError


@register_module("translation")
class TranslationGAN(ConditionalGANModule):
    """StarGAN generator + PatchGAN discriminator with an embedding for the classifier head."""

    translates_images = True
    eval_protocol = "translation"
    gan_train_source = "translations of training-split images"
    sanity_rows = ("identity", "real")

    @classmethod
    def validate_config(cls, cfg) -> None:
        super().validate_config(cfg)
        read_spec(TranslationObjective, cfg.model.objective, "model.objective")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        g, d = self.model_cfg["generator"], self.model_cfg["discriminator"]
        self.objective = read_spec(TranslationObjective, self.model_cfg["objective"], "model.objective")
        self.lambda_rec = float(self.objective.lambda_rec)
        n_down = int(g["n_down"])
        if self.image_size % 2 ** n_down:
            raise ConfigError(
                f"dataset.image_size={self.image_size} does not fit model.generator.n_down={n_down}: the image size "
                f"must be a multiple of 2**n_down={2 ** n_down}")
        self.G = StarGANGenerator(self.channels, self.num_classes, **g)
        self.D = StarGANDiscriminator(self.image_size, self.channels, **d)
        self.head = self._build_head(int(d["embed_dim"]))
        self._finish_build()

    def random_targets(self, labels: Tensor) -> Tensor:
        """Uniform target domains different from the source (a translation must change the label)."""
        shift = torch.randint(1, self.num_classes, labels.shape, device=labels.device)
        return (labels + shift) % self.num_classes

    def loss_weights(self) -> dict[str, float]:
        return {**super().loss_weights(), "g_rec": self.lambda_rec}

    def sample_targets(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return x, self.random_targets(y)

    def generate(self, g_input: Tensor, y_trg: Tensor) -> Tensor:
        return self.G(g_input, self.onehot(y_trg))

    def generator_extra_terms(self, x: Tensor, y: Tensor, fake: Tensor) -> dict[str, Tensor]:
        """Cycle reconstruction: translating the fake back to the source label must give the input."""
        return {"g_rec": F.l1_loss(self.G(fake, self.onehot(y)).float(), x.float())}

    # -- sampling API ------------------------------------------------------------------------
    @torch.no_grad()
    def translate(self, x: Tensor, target: Tensor, ema: bool = True) -> Tensor:
        """Translate images ``x`` (N,C,H,W in [-1,1]) to target labels (N,) with the EMA generator."""
        net = self.G_ema if ema else self.G
        return net(self._as_input(x.to(self.device)), self.onehot(target.to(self.device))).float().clamp(-1, 1)

    @torch.no_grad()
    def make_eval_set(self, real_images: Tensor, real_labels: Tensor, n: int, seed: int, batch_size: int = 128):
        """n translations: real images cycled in order, each to a seeded random target ≠ its source
        (``input_index``: which real image each translation was made from)."""
        gen = torch.Generator().manual_seed(seed)
        idx = torch.arange(n) % real_images.size(0)
        src = real_labels[idx]
        trg = (src + torch.randint(1, self.num_classes, (n,), generator=gen)) % self.num_classes
        out = [self.translate(real_images[idx[i : i + batch_size]], trg[i : i + batch_size]).cpu()
               for i in range(0, n, batch_size)]
        return {"fake_images": torch.cat(out), "fake_labels": trg, "fake_sources": src, "input_index": idx}

    @torch.no_grad()
    def sample_grid(self, grid_inputs: Tensor, max_classes: int = 20) -> Tensor:
        """Row 0: the fixed inputs; row k+1: every input translated to class k. (rows, cols, C, H, W)."""
        rows = [grid_inputs.cpu()]
        for k in range(min(self.num_classes, max_classes)):
            t = torch.full((grid_inputs.size(0),), k, dtype=torch.long)
            rows.append(self.translate(grid_inputs, t).cpu())
        return torch.stack(rows)
