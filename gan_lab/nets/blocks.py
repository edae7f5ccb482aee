"""Small building blocks shared by the nets."""

from __future__ import annotations

from torch import nn

from gan_lab.registry import ConfigError

NORMS = ("instance", "batch", "none")


def norm2d(kind: str, channels: int, key: str = "model.generator.norm") -> nn.Module:
    """Instance norm (affine, no running stats: StarGAN), batch norm, or identity."""
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True, track_running_stats=False)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ConfigError(f"{key}={kind!r} is not a known norm; allowed: {', '.join(NORMS)}")


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """DCGAN-style N(0, 0.02) convolutions/linears, unit-gain norms: a stable start for GANs."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) and m.weight is not None:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


D_INITS = ("default", "dcgan")
EMB_NORMS = ("none", "layer")


def init_discriminator(module: nn.Module, kind: str, key: str = "model.discriminator.init") -> None:
    """``default``: PyTorch's own initialisation (official StarGAN / BigGAN-style discriminators);
    ``dcgan``: N(0, 0.02). The DCGAN start shrinks every layer, so an un-normalised D's embedding has
    ‖φ‖ ≈ 0.02, and a normalised head's gradient (∝ s/‖φ‖) then swamps the critic's (docs/results/live_critic.md)."""
    if kind == "dcgan":
        init_weights(module)
    elif kind != "default":
        raise ConfigError(f"{key}={kind!r} is not a known initialisation; allowed: {', '.join(D_INITS)}")


def embedding_norm(kind: str, dim: int, key: str = "model.discriminator.emb_norm") -> nn.Module:
    """``layer``: LayerNorm without affine on φ(x), so ‖φ‖ = sqrt(embed_dim) whatever the trunk's scale
    (ArcFace normalises its embedding with BatchNorm; LayerNorm is per-sample, safe under the gradient
    penalty); ``none``: identity."""
    if kind == "layer":
        return nn.LayerNorm(dim, elementwise_affine=False)
    if kind == "none":
        return nn.Identity()
    raise ConfigError(f"{key}={kind!r} is not a known embedding norm; allowed: {', '.join(EMB_NORMS)}")


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
