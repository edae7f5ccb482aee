"""Paired image-to-image translation, lit photo -> label albedo (pix2pix design, Isola et al. 2017).

G: U-Net. D: conditional PatchGAN on concat(photo, albedo). With w = 1 inside the label mask and
``model.objective.l1_outside_mask`` outside it (1 = plain pix2pix):
  D loss: ½·adv(D(x, y), D(x, G(x))) [+ λ_gp·GP]          (pix2pix halves D's objective)
  G loss: λ_adv·adv(D(x, G(x))) + λ_l1·L1_w(G(x), y) + λ_si_mse·siMSE_w + λ_lab·LabΔE_w + λ_grad·Grad_w
          + λ_ssim·(1 − SSIM_w(G(x), y)) + λ_fm·Σ_layers mean|D_l(x, G(x)) − D_l(x, y)|
``model.generator.output``: ``image`` (pix2pix: the U-Net's tanh output is the albedo) or ``gain``
(intrinsic-image style: the U-Net's 3 raw channels g are a per-pixel log-gain in linear light,
albedo = sRGB(clamp(linear(photo)·exp(g_max·tanh(g/g_max)), 0, 1)), g_max = ``GAIN_RANGE``; the photo's own
detail passes through and the net only has to predict how much light each pixel received) or
``gain_residual`` (6 raw channels: that gain, plus an sRGB residual added after it, clamped, so the net
can also remove what the camera added: noise, JPEG blocks, clipped highlights).
``model.generator.global_colour``: the U-Net's innermost features also give, per image, a 3×3 colour
matrix and an offset (identity at the start) applied to that albedo in sRGB (``apply_colour_transform``):
an easy path for what is global to an image (the light's and camera's colour left after white balance,
contrast), which per-pixel outputs can only express by agreeing across the whole image.
L1 is on [-1, 1] images (pix2pix); scale-invariant MSE and the multi-scale gradient loss
(``gan_lab.losses.reconstruction``, ``model.objective.grad_scales`` scales) and SSIM on [0, 1] images.
``model.objective.lambda_adv=0`` and ``lambda_fm=0``: no discriminator at all, the "L1 only" baseline
(one optimiser; every step is a generator step). ``adversarial``: vanilla (= non-saturating
BCE, pix2pix), lsgan, hinge, or wgan-gp with ``adversarial.lambda_gp``. EMA of G: ``model.ema.decay``
(0 = no averaging). Evaluation: ``gan_lab.albedo.evaluation.AlbedoEvaluator`` (albedo metrics in the mask).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import Tensor, nn

from gan_lab.losses import gradient_penalty
from gan_lab.losses.reconstruction import gradient_loss, l1_loss, lab_loss, si_mse_loss, weighted_mean
from gan_lab.metrics.albedo import ALBEDO_METRICS, ssim_map
from gan_lab.modules.base import GANModule
from gan_lab.modules.registry import register_module
from gan_lab.modules.specs import AlbedoObjective, read_spec
from gan_lab.nets import PatchDiscriminator, UNetGenerator
from gan_lab.registry import ConfigError


OUTPUTS = ("image", "gain", "gain_residual")
GAIN_RANGE = 4.0  # |log-gain| <= 4: a pixel may be brightened or darkened by up to e^4 ≈ 55x


def apply_gain(photo: Tensor, raw: Tensor, g_max: float = GAIN_RANGE) -> Tensor:
    """sRGB(clamp(linear(photo)·exp(g_max·tanh(raw/g_max)), 0, 1)) for photos in [-1, 1]; result in [-1, 1]."""
    from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb

    lin = rgb_to_linear_rgb(((photo.float() + 1) / 2).clamp(0, 1))
    gain = torch.exp(g_max * torch.tanh(raw.float() / g_max))
    return linear_rgb_to_rgb((lin * gain).clamp(0, 1)) * 2 - 1


def apply_gain_residual(photo: Tensor, raw: Tensor, g_max: float = GAIN_RANGE) -> Tensor:
    """``apply_gain`` on the first C raw channels, plus the last C channels added in sRGB, clamped to [-1, 1].

    The gain undoes lighting without re-synthesising the artwork but keeps the photo's noise, JPEG
    blocks and blur (a per-pixel gain follows them); the additive residual lets the net restore those.
    """
    c = photo.size(1)
    if raw.size(1) != 2 * c:
        raise ValueError(f"gain_residual needs {2 * c} raw channels for a {c}-channel photo; got {raw.size(1)}")
    return (apply_gain(photo, raw[:, :c], g_max) + raw[:, c:].float()).clamp(-1, 1)


def apply_colour_transform(image: Tensor, vec: Tensor) -> Tensor:
    """Images in [-1, 1] -> clamp(M·a + b) per image in [0, 1] sRGB, M = I + vec[:, :9], b = vec[:, 9:12]."""
    n, c = image.size(0), image.size(1)
    if c != 3 or vec.shape != (n, 12):
        raise ValueError(f"a colour transform needs RGB images and (N, 12) parameters; got {tuple(image.shape)}, "
                         f"{tuple(vec.shape)}")
    a = (image.float() + 1) / 2
    m = torch.eye(3, device=vec.device, dtype=torch.float32) + vec[:, :9].float().view(n, 3, 3)
    out = torch.einsum("nij,njhw->nihw", m, a) + vec[:, 9:].float()[:, :, None, None]
    return (out * 2 - 1).clamp(-1, 1)


@register_module("albedo")
class AlbedoTranslator(GANModule):
    """U-Net generator (+ conditional PatchGAN) trained on (photo, albedo, mask) batches."""

    task = "paired"
    has_diagnostics = False  # label-geometry diagnostics need a classifier head
    progress_keys = ("d_loss", "g_l1", "val/lmse")
    bar_key = "g_l1"
    metric_registry = ALBEDO_METRICS  # eval.metrics name albedo metrics

    @classmethod
    def validate_config(cls, cfg: DictConfig) -> None:
        if cfg.head.name != "none":
            raise ConfigError(f"head={cfg.head.name}: model={cfg.model.name} has no classifier head; use head=none "
                              "(experiment=albedo_synth sets it)")
        read_spec(AlbedoObjective, cfg.model.objective, "model.objective")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        g, d = dict(self.model_cfg["generator"]), self.model_cfg["discriminator"]
        self.objective = o = read_spec(AlbedoObjective, self.model_cfg["objective"], "model.objective")
        self.lambda_l1, self.lambda_adv, self.lambda_ssim = float(o.lambda_l1), float(o.lambda_adv), float(o.lambda_ssim)
        self.lambda_fm, self.lambda_si_mse, self.lambda_grad = float(o.lambda_fm), float(o.lambda_si_mse), float(o.lambda_grad)
        self.grad_scales, self.outside = int(o.grad_scales), float(o.l1_outside_mask)
        self.lambda_lab = float(o.lambda_lab)
        self.output = g.pop("output")
        self.global_colour = bool(g.pop("global_colour", False))
        if self.output not in OUTPUTS:
            raise ConfigError(f"model.generator.output={self.output!r} is invalid; allowed: {', '.join(OUTPUTS)}")
        out_channels = 2 * self.channels if self.output == "gain_residual" else self.channels
        if self.global_colour and self.channels != 3:
            raise ConfigError(f"model.generator.global_colour=true needs RGB photos; the data set has {self.channels} "
                              "channel(s)")
        self.G = UNetGenerator(self.channels, out_channels, output="tanh" if self.output == "image" else "linear",
                               global_out=12 if self.global_colour else 0, **g)
        m = self.G.required_multiple
        if self.image_size % m:
            raise ConfigError(f"dataset.image_size={self.image_size} does not fit model.generator.depth={self.G.depth}: "
                              f"the image size must be a multiple of 2**depth = {m}")
        self.use_d = self.lambda_adv > 0 or self.lambda_fm > 0
        self.D = PatchDiscriminator(2 * self.channels, **d) if self.use_d else None
        if self.D is not None and self.D.score_size(self.image_size) < 1:
            raise ConfigError(f"dataset.image_size={self.image_size} is too small for model.discriminator.n_layers="
                              f"{self.D.n_layers}: the score map would be empty; lower n_layers")
        self._finish_build()

    def _weights(self, mask: Tensor) -> Tensor:
        return mask + (1.0 - mask) * self.outside

    def generator_losses(self, x: Tensor, y: Tensor, mask: Tensor, fake: Tensor) -> dict[str, Tensor]:
        """Every generator loss term (weighted sum under ``g_loss``); also used by tests."""
        w = self._weights(mask)
        out = {"g_l1": l1_loss(fake, y, w)}  # always logged: the progress bar's reconstruction number
        total = self.lambda_l1 * out["g_l1"]
        p01, y01 = (fake.float() + 1) / 2, (y.float() + 1) / 2
        if self.lambda_si_mse > 0:
            out["g_si_mse"] = si_mse_loss(p01, y01, w)
            total = total + self.lambda_si_mse * out["g_si_mse"]
        if self.lambda_lab > 0:
            out["g_lab"] = lab_loss(p01, y01, w)
            total = total + self.lambda_lab * out["g_lab"]
        if self.lambda_grad > 0:
            out["g_grad"] = gradient_loss(p01, y01, w, self.grad_scales)
            total = total + self.lambda_grad * out["g_grad"]
        if self.lambda_ssim > 0:
            out["g_ssim"] = 1.0 - weighted_mean(ssim_map(p01, y01), w)
            total = total + self.lambda_ssim * out["g_ssim"]
        if self.D is not None:
            score, feats = self.D(x, fake, features=True)
            if self.lambda_adv > 0:
                out["g_adv"] = self.adv.g_loss(score)
                total = total + self.lambda_adv * out["g_adv"]
            if self.lambda_fm > 0:
                with torch.no_grad():
                    _, real_feats = self.D(x, y, features=True)
                out["g_fm"] = sum(F.l1_loss(a.float(), b.float()) for a, b in zip(feats, real_feats)) / len(feats)
                total = total + self.lambda_fm * out["g_fm"]
        out["g_loss"] = total
        return out

    def training_step(self, batch, batch_idx):
        x, y, mask = self._as_input(batch["input"]), self._as_input(batch["albedo"]), batch["mask"]
        opts = self.optimizer_list()
        logs: dict[str, Tensor] = {}
        if self.D is not None:
            opt_d, opt_g = opts
            self.toggle_optimizer(opt_d)
            with torch.no_grad():
                fake = self.translate(self.G, x)
            out_real, out_fake = self.D(x, y), self.D(x, fake)
            d_loss = 0.5 * self.adv.d_loss(out_real, out_fake)
            if self.lambda_gp > 0:
                a = torch.rand(x.size(0), 1, 1, 1, device=x.device, dtype=x.dtype)
                y_hat = (a * y + (1 - a) * fake).requires_grad_(True)
                logs["gp"] = gradient_penalty(self.D(x, y_hat), y_hat)
                d_loss = d_loss + self.lambda_gp * logs["gp"]
            logs["d_loss"] = d_loss
            self._optimise(opt_d, d_loss, logs)
        else:
            (opt_g,) = opts
        if self.D is None or self.global_step % self.n_critic == 0:
            self.toggle_optimizer(opt_g)
            g_logs = self.generator_losses(x, y, mask, self.translate(self.G, x))
            # one iteration = one D update = one global step; with no D the generator step is the iteration
            self._optimise(opt_g, g_logs["g_loss"], g_logs, counted=self.D is None)
            self._update_ema()
            logs.update(g_logs)
        self._after_iteration()
        self._log_iteration(logs)

    # -- inference / sampling API --------------------------------------------------------------------
    @torch.no_grad()
    def predict_albedo(self, x: Tensor, ema: bool = True) -> Tensor:
        """Photos (N, 3, H, W) in [-1, 1] (H, W multiples of ``required_multiple``) -> albedo in [-1, 1]."""
        net = self.G_ema if ema else self.G
        return self.translate(net, self._as_input(x.to(self.device))).float().clamp(-1, 1)

    def translate(self, net: nn.Module, x: Tensor) -> Tensor:
        """Photos in [-1, 1] -> albedos in [-1, 1] through ``net`` and the output mapping (``model.generator.output``)."""
        raw, vec = net(x), None
        if self.global_colour:
            raw, vec = raw
        if self.output == "gain":
            out = apply_gain(x, raw)
        elif self.output == "gain_residual":
            out = apply_gain_residual(x, raw)
        else:
            out = raw
        return out if vec is None else apply_colour_transform(out, vec)

    @property
    def required_multiple(self) -> int:
        return self.G.required_multiple

    @torch.no_grad()
    def sample_grid(self, grid_inputs: dict, max_classes: int = 0) -> Tensor:
        """Rows: input photos | predicted albedo (EMA G) | target albedo. (3, n, C, H, W) in [-1, 1]."""
        x = grid_inputs["input"]
        return torch.stack([x.cpu(), self.predict_albedo(x).cpu(), grid_inputs["albedo"].cpu()])

    @classmethod
    def build_evaluator(cls, datamodule, eval_cfg: dict, cache_dir=None, data_key=None):
        from gan_lab.albedo.evaluation import AlbedoEvaluator

        return AlbedoEvaluator(datamodule, eval_cfg)

    def grid_inputs(self, datamodule, n: int, seed: int, split: str = "val") -> dict:
        """The datamodule's fixed paired inputs and targets."""
        return datamodule.grid_inputs(n, seed)
