"""StarGAN (Choi et al. 2018) generator and PatchGAN discriminator.

The discriminator returns an embedding φ(x) instead of class logits: the classifier head
(soft-max or an angular-margin head) lives in ``gan_lab.losses.margin``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gan_lab.nets.blocks import embedding_norm, init_discriminator, init_weights, norm2d
from gan_lab.registry import ConfigError


class ResidualBlock(nn.Module):
    def __init__(self, dim: int, norm: str):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False), norm2d(norm, dim), nn.ReLU(),
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False), norm2d(norm, dim),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class StarGANGenerator(nn.Module):
    """Image + target-label vector tiled over space -> translated image in [-1, 1]."""

    def __init__(self, channels: int, num_classes: int, conv_dim: int = 64, n_down: int = 2, n_res: int = 6,
                 norm: str = "instance"):
        super().__init__()
        self.num_classes = num_classes
        layers = [nn.Conv2d(channels + num_classes, conv_dim, 7, 1, 3, bias=False), norm2d(norm, conv_dim), nn.ReLU()]
        dim = conv_dim
        for _ in range(n_down):
            layers += [nn.Conv2d(dim, dim * 2, 4, 2, 1, bias=False), norm2d(norm, dim * 2), nn.ReLU()]
            dim *= 2
        layers += [ResidualBlock(dim, norm) for _ in range(n_res)]
        for _ in range(n_down):
            layers += [nn.ConvTranspose2d(dim, dim // 2, 4, 2, 1, bias=False), norm2d(norm, dim // 2), nn.ReLU()]
            dim //= 2
        layers += [nn.Conv2d(dim, channels, 7, 1, 3, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        c = c.to(x.dtype)[:, :, None, None].expand(-1, -1, x.size(2), x.size(3))
        return self.main(torch.cat([x, c], dim=1))


def check_patch_size(image_size: int, n_layers: int) -> None:
    """image_size must be a multiple of 2**n_layers (at least 2**n_layers)."""
    f = 2 ** n_layers
    if image_size < f or image_size % f:
        sizes = ", ".join(str(f * k) for k in (1, 2, 3, 4, 8))
        fitting = [n for n in range(1, 8) if image_size % (2 ** n) == 0 and image_size >= 2 ** n]
        raise ConfigError(
            f"dataset.image_size={image_size} does not fit model.discriminator.n_layers={n_layers}: the image size must "
            f"be a multiple of 2**n_layers; allowed sizes for n_layers={n_layers}: {sizes}, ...; "
            f"allowed n_layers for this size: {fitting or 'none (use a multiple of 2)'}"
        )


class StarGANDiscriminator(nn.Module):
    """PatchGAN: (real/fake patch map (N,1,h,w), embedding φ(x) (N, embed_dim)). No norm (gradient penalty)."""

    def __init__(self, image_size: int, channels: int, conv_dim: int = 64, n_layers: int = 6, embed_dim: int = 128,
                 init: str = "default", emb_norm: str = "layer"):
        super().__init__()
        check_patch_size(image_size, n_layers)
        layers, dim = [nn.Conv2d(channels, conv_dim, 4, 2, 1), nn.LeakyReLU(0.01)], conv_dim
        for _ in range(1, n_layers):
            layers += [nn.Conv2d(dim, dim * 2, 4, 2, 1), nn.LeakyReLU(0.01)]
            dim *= 2
        self.main = nn.Sequential(*layers)
        self.out_src = nn.Conv2d(dim, 1, 3, 1, 1, bias=False)
        self.out_emb = nn.Conv2d(dim, embed_dim, image_size // 2 ** n_layers, bias=False)
        self.emb_norm = embedding_norm(emb_norm, embed_dim)
        init_discriminator(self, init)

    def shared_layer(self) -> nn.Parameter:
        """The weight of the last layer shared by the critic and the embedding (for gradient diagnostics)."""
        return self.main[-2].weight

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.main(x)
        return self.out_src(h), self.emb_norm(self.out_emb(h).flatten(1))
