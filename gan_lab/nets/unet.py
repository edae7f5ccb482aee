"""pix2pix nets (Isola et al. 2017): a U-Net generator and a conditional PatchGAN discriminator.

``UNetGenerator``: ``depth`` stride-2 4×4 convolutions down (LeakyReLU 0.2, norm except on the first
and the innermost), mirrored by stride-2 transposed convolutions up (ReLU, norm, optional dropout
in the innermost up-blocks, as pix2pix uses as noise), each up-block concatenating the skip
connection of the same resolution; channels ``width · min(2^k, 8)``; tanh output in [-1, 1]
(``output="linear"``: no activation, for callers that map the raw output themselves).
``input_skip=True`` adds a full-resolution skip of the input itself: the last up-block makes ``width``
feature maps at full resolution, concatenated with the input and mixed by a 3×3 and a 1×1 convolution
before the output. pix2pix's first layer has stride 2, so without it nothing at full resolution reaches
the output and fine detail (small label text at 64 px) can only be re-synthesised, not copied.
``refine=N`` (with the input skip) puts N residual blocks (3×3 conv, LeakyReLU, 3×3 conv, plus the block's
input) at full resolution between those two convolutions: capacity where per-pixel restoration (sensor
noise, JPEG blocks) happens, which the U-Net otherwise only reaches through one 3×3 convolution.
``global_out=K`` adds a global head: the innermost features, averaged over space, through a linear layer
to K numbers per image (zero-initialised); ``forward`` then returns ``(image, (N, K) vector)``. The
albedo translator uses it for a per-image colour transform (``model.generator.global_colour``).
Input height and width must be multiples of ``2**depth`` (``required_multiple``).

``PatchDiscriminator``: pix2pix's N-layer PatchGAN on ``concat(input, output)`` (conditional):
``n_layers`` stride-2 convolutions, one stride-1, then a 1-channel score map (70×70 receptive
field for n_layers = 3). ``forward(..., features=True)`` also returns every intermediate
activation, for discriminator feature matching.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gan_lab.nets.blocks import init_weights, norm2d
from gan_lab.registry import ConfigError


OUTPUTS = ("tanh", "linear")


class ResidualBlock(nn.Module):
    """x + conv3×3(LeakyReLU(conv3×3(x))), channels and resolution kept (no normalisation)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1), nn.LeakyReLU(0.2),
                                  nn.Conv2d(channels, channels, 3, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class UNetGenerator(nn.Module):
    """Image (N, in_channels, H, W) -> image (N, out_channels, H, W): in [-1, 1] (tanh), or raw (linear)."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, width: int = 64, depth: int = 8,
                 norm: str = "batch", dropout: float = 0.0, n_dropout: int = 3, input_skip: bool = False,
                 output: str = "tanh", refine: int = 0, global_out: int = 0):
        super().__init__()
        if refine < 0 or (refine and not input_skip):
            raise ConfigError(f"model.generator.refine={refine} is invalid; allowed: 0, or an integer >= 1 with "
                              "model.generator.input_skip=true (the blocks work at the input's resolution)")
        if depth < 2:
            raise ConfigError(f"model.generator.depth={depth} is invalid; allowed: an integer >= 2")
        if output not in OUTPUTS:
            raise ConfigError(f"model.generator.output={output!r} is invalid; allowed: {', '.join(OUTPUTS)}")
        act = nn.Tanh() if output == "tanh" else nn.Identity()
        self.depth = depth
        chans = [width * min(2**k, 8) for k in range(depth)]  # output channels of each down-block
        self.down = nn.ModuleList()
        prev = in_channels
        for k, c in enumerate(chans):
            layers: list[nn.Module] = [] if k == 0 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(prev, c, 4, 2, 1, bias=norm != "batch" or k in (0, depth - 1)))
            if 0 < k < depth - 1:
                layers.append(norm2d(norm, c))
            self.down.append(nn.Sequential(*layers))
            prev = c
        self.up = nn.ModuleList()
        for i, k in enumerate(reversed(range(1, depth))):  # up-block: resolution of down k -> down k-1
            c_in = chans[k] if k == depth - 1 else chans[k] * 2
            layers = [nn.ReLU(), nn.ConvTranspose2d(c_in, chans[k - 1], 4, 2, 1, bias=norm != "batch"),
                      norm2d(norm, chans[k - 1])]
            if dropout > 0 and i < n_dropout:  # the innermost up-blocks, as in pix2pix
                layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))
        self.input_skip = bool(input_skip)
        if self.input_skip:
            self.out = nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(chans[0] * 2, width, 4, 2, 1), norm2d(norm, width),
                                     nn.ReLU())
            self.mix = nn.Sequential(nn.Conv2d(width + in_channels, width, 3, 1, 1), nn.LeakyReLU(0.2),
                                     *(ResidualBlock(width) for _ in range(refine)),
                                     nn.Conv2d(width, out_channels, 1), act)
        else:
            self.out = nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(chans[0] * 2, out_channels, 4, 2, 1), act)
        self.global_head = nn.Linear(chans[-1], global_out) if global_out > 0 else None
        init_weights(self)
        if self.global_head is not None:  # starts as "no global change": the caller's identity
            nn.init.zeros_(self.global_head.weight)
            nn.init.zeros_(self.global_head.bias)

    @property
    def required_multiple(self) -> int:
        return 2**self.depth

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        m = self.required_multiple
        if x.size(-2) % m or x.size(-1) % m:
            raise ValueError(f"UNetGenerator(depth={self.depth}) needs H and W divisible by {m}; got "
                             f"{tuple(x.shape[-2:])} (pad or resize the input)")
        skips = []
        h = x
        for block in self.down:
            h = block(h)
            skips.append(h)
        h = skips.pop()  # innermost
        vec = None if self.global_head is None else self.global_head(h.float().mean(dim=(2, 3)))
        for block in self.up:
            h = torch.cat([block(h), skips.pop()], dim=1)
        out = self.mix(torch.cat([self.out(h), x], dim=1)) if self.input_skip else self.out(h)
        return out if vec is None else (out, vec)


class PatchDiscriminator(nn.Module):
    """Conditional PatchGAN: (condition, image) -> score map (N, 1, h, w) [, list of features]."""

    def __init__(self, in_channels: int = 6, width: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        if n_layers < 1:
            raise ConfigError(f"model.discriminator.n_layers={n_layers} is invalid; allowed: an integer >= 1")
        key = "model.discriminator.norm"
        blocks = [nn.Sequential(nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2))]
        mult = 1
        for k in range(1, n_layers + 1):
            prev, mult = mult, min(2**k, 8)
            stride = 2 if k < n_layers else 1
            blocks.append(nn.Sequential(nn.Conv2d(width * prev, width * mult, 4, stride, 1, bias=norm != "batch"),
                                        norm2d(norm, width * mult, key), nn.LeakyReLU(0.2)))
        self.blocks = nn.ModuleList(blocks)
        self.score = nn.Conv2d(width * mult, 1, 4, 1, 1)
        self.n_layers = n_layers
        init_weights(self)

    def score_size(self, image_size: int) -> int:
        """Side of the score map for a square input: halved n_layers times, then two 4×4 stride-1 convs (−1 each)."""
        s = image_size
        for _ in range(self.n_layers):
            s = s // 2
        return s - 2

    def forward(self, condition: Tensor, image: Tensor, features: bool = False):
        h = torch.cat([condition, image], dim=1)
        feats = []
        for block in self.blocks:
            h = block(h)
            feats.append(h)
        out = self.score(h)
        return (out, feats) if features else out
