"""Class-conditional generator and discriminator (AC-GAN style; the CIFAR-100 setting).

The generator joins noise and a learned label embedding, then up-samples from 4×4; the
discriminator has no batch norm (gradient-penalty friendly) and returns an embedding φ(x)
for the classifier head next to its real/fake score.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gan_lab.nets.blocks import embedding_norm, init_discriminator, init_weights, norm2d
from gan_lab.registry import ConfigError

SIZES = (8, 16, 32, 64, 128)


def _n_stages(image_size: int) -> int:
    if image_size not in SIZES:
        raise ConfigError(f"dataset.image_size={image_size} is not supported by model=acgan; allowed: {list(SIZES)}")
    return int(math.log2(image_size)) - 2  # 4x4 -> image_size


class ConditionalGenerator(nn.Module):
    def __init__(self, z_dim: int, num_classes: int, image_size: int, channels: int, width: int = 64,
                 norm: str = "batch"):
        super().__init__()
        n = _n_stages(image_size)
        dims = [min(width * 8, width * 2 ** (n - i)) for i in range(n + 1)]  # channels at 4x4, 8x8, ...
        self.embed = nn.Embedding(num_classes, z_dim)
        self.fc = nn.Linear(2 * z_dim, dims[0] * 16)
        self.dim0 = dims[0]
        blocks = [norm2d(norm, dims[0]), nn.ReLU()]
        for i in range(n):
            blocks += [nn.Upsample(scale_factor=2, mode="nearest"),
                       nn.Conv2d(dims[i], dims[i + 1], 3, 1, 1, bias=False), norm2d(norm, dims[i + 1]), nn.ReLU()]
        blocks += [nn.Conv2d(dims[-1], channels, 3, 1, 1), nn.Tanh()]
        self.main = nn.Sequential(*blocks)
        init_weights(self)
        nn.init.normal_(self.embed.weight, 0.0, 1.0)

    def forward(self, z: Tensor, labels: Tensor) -> Tensor:
        h = self.fc(torch.cat([z, self.embed(labels.long()).to(z.dtype)], dim=1))
        return self.main(h.view(z.size(0), self.dim0, 4, 4))


class MinibatchStd(nn.Module):
    """ProGAN's minibatch standard deviation: one extra feature map holding, for each group of ``group``
    consecutive samples, the mean over features of their standard deviation, so the critic can see a batch
    with too little variety (mode collapse) -- something it cannot see one sample at a time. Groups are
    consecutive samples; a batch that is not a multiple of ``group`` uses the largest divisor of its size that
    is <= group. A batch-statistics layer: the module scores real and fake in separate forwards when D has one."""

    def __init__(self, group: int):
        super().__init__()
        self.group = group

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        g = max(d for d in range(1, min(self.group, n) + 1) if n % d == 0)
        y = x.reshape(n // g, g, c, h, w)
        std = (y.var(dim=1, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (n // g,)
        return torch.cat([x, std.repeat_interleave(g).view(n, 1, 1, 1).expand(n, 1, h, w)], dim=1)


class ConditionalDiscriminator(nn.Module):
    """(adv score (N, 1), embedding (N, embed_dim))."""

    def __init__(self, image_size: int, channels: int, width: int = 64, embed_dim: int = 128,
                 init: str = "default", emb_norm: str = "layer", spectral_norm: bool = False, mbstd_group: int = 0):
        super().__init__()
        n = _n_stages(image_size)
        layers, dim = [nn.Conv2d(channels, width, 3, 1, 1), nn.LeakyReLU(0.2)], width
        for _ in range(n):
            nxt = min(dim * 2, width * 8)
            layers += [nn.Conv2d(dim, nxt, 4, 2, 1), nn.LeakyReLU(0.2)]
            dim = nxt
        if mbstd_group > 1:  # before the last down-sampling conv: that conv sees the batch's variety
            last = layers[-2]
            layers[-2:] = [MinibatchStd(mbstd_group), nn.Conv2d(last.in_channels + 1, last.out_channels, 4, 2, 1),
                           nn.LeakyReLU(0.2)]
        self.main = nn.Sequential(*layers)
        self.adv = nn.Linear(dim * 16, 1)
        self.emb = nn.Linear(dim * 16, embed_dim)
        self.emb_norm = embedding_norm(emb_norm, embed_dim)
        init_discriminator(self, init)
        if spectral_norm:  # SN-GAN / BigGAN: every weight layer 1-Lipschitz, the critic's gradient bounded without a
            for m in self.modules():  # penalty (so hinge or non-saturating losses need no double backward)
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.utils.parametrizations.spectral_norm(m)

    def shared_layer(self) -> nn.Parameter:
        """The weight of the last layer shared by the critic and the embedding (for gradient diagnostics)."""
        layer = self.main[-2]
        return layer.parametrizations.weight.original if hasattr(layer, "parametrizations") else layer.weight

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.main(x).flatten(1)
        return self.adv(h), self.emb_norm(self.emb(h))
