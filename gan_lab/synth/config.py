"""RenderConfig: every knob of the label renderer, with defaults for a photo-real look.

Ranges are ``(low, high)`` pairs sampled uniformly per sample (``low == high`` pins a value). A bad value
raises ConfigError naming the field and what is allowed, before anything is rendered.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from gan_lab.registry import ConfigError

PRODUCTS = ("bottle", "can", "box", "pouch")


@dataclass
class RenderConfig:
    # --- products and label ---
    products: dict = field(default_factory=lambda: {"bottle": 0.3, "can": 0.25, "box": 0.25, "pouch": 0.2})
    artwork_dir: str | None = None      # folder of label images; None = procedural artwork only
    artwork_prob: float = 1.0           # with artwork_dir: share of samples using a folder image
    label_res: int = 128                # label texture height in texels (width = 2x)
    supersample: int = 2                # rays per pixel side (2 -> 4 rays per pixel, box-filtered)
    # --- lights (linear RGB) ---
    n_lights: tuple = (1, 3)
    point_light_prob: float = 0.4       # per light: point light (else directional)
    coloured_light_prob: float = 0.35   # per light: saturated hue (else a colour temperature)
    light_saturation: tuple = (0.3, 0.8)  # chroma of a coloured light (0 = white)
    colour_temperature: tuple = (3000.0, 8000.0)  # kelvin, for the non-coloured lights
    ambient: tuple = (0.1, 0.5)         # SH environment irradiance relative to the key light
    specular_strength: tuple = (0.0, 0.6)  # Blinn-Phong k_s of the label (cans x1.5, glossy)
    shininess: tuple = (15.0, 150.0)    # Blinn-Phong exponent (log-uniform)
    light_size: tuple = (0.01, 0.12)    # angular radius (rad) of lights: penumbra width
    shadow_prob: float = 0.4            # share of samples with an occluder casting a shadow
    shadow_samples: int = 4             # light directions per pixel for the product's cast shadow (spread
                                        # over the supersample rays: 4 at supersample=2 costs 1 ray each)
    # --- camera ---
    exposure_ev: tuple = (-0.7, 0.5)    # EV around auto-exposure (mean diffuse luminance 0.18)
    white_balance: tuple = (0.4, 1.0)   # share of the mean light colour the camera corrects (0 = none)
    wb_error: float = 0.05              # std of random per-channel white-balance gain error
    noise: tuple = (0.002, 0.012)       # read-noise std (linear); shot noise scales with it
    blur_sigma: tuple = (0.0, 0.7)      # Gaussian lens blur, output pixels
    jpeg_prob: float = 0.8
    jpeg_quality: tuple = (55, 95)
    jpeg_backend: str = "pil"           # "pil" (real libjpeg on 8-bit, ~10x faster on CPU) | "kornia"
                                        # (differentiable codec: same quality scale, for gradients / GPU)
    # --- execution ---
    batched: bool = True                # True: one tensor pass per chunk of up to 32 samples (~2x faster
    # than False on CPU). The vectorised kernels of torch round a few ops differently depending on where an
    # element falls in a SIMD lane, so a sample rendered in another batch differs by float rounding (maps
    # <= 1e-4 abs, the 8-bit photo by a few codes on rare pixels: see tests/test_synth.py); the same call
    # repeated is bit-identical. False renders sample by sample: sample i is then bit-identical alone, in
    # any batch, on any worker.

    def __post_init__(self):
        self.validate()

    @classmethod
    def from_dict(cls, values: dict) -> "RenderConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(f"unknown render config key(s) {unknown}; allowed: {sorted(names)}")
        return cls(**values)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        def bad(name, allowed):
            raise ConfigError(f"render config {name}={getattr(self, name)!r} is invalid; allowed: {allowed}")

        if not isinstance(self.products, dict) or not self.products:
            bad("products", f"a dict of weights over {PRODUCTS}")
        unknown = set(self.products) - set(PRODUCTS)
        if unknown or any(float(w) < 0 for w in self.products.values()) or sum(self.products.values()) <= 0:
            bad("products", f"non-negative weights (some > 0) over {PRODUCTS}")
        for name in ("n_lights", "light_saturation", "colour_temperature", "ambient", "specular_strength",
                     "shininess", "light_size", "exposure_ev", "white_balance", "noise", "blur_sigma",
                     "jpeg_quality"):
            v = getattr(self, name)
            if not (isinstance(v, (tuple, list)) and len(v) == 2 and v[0] <= v[1]):
                bad(name, "a (low, high) pair with low <= high")
            setattr(self, name, tuple(v))
        if not 1 <= self.n_lights[0] <= self.n_lights[1] <= 3:
            bad("n_lights", "1 <= low <= high <= 3")
        for name in ("artwork_prob", "point_light_prob", "coloured_light_prob", "shadow_prob", "jpeg_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                bad(name, "a probability in [0, 1]")
        for name, lo, hi in (("light_saturation", 0, 1), ("white_balance", 0, 1), ("ambient", 0, 10),
                             ("specular_strength", 0, 50), ("shininess", 1, 10000), ("light_size", 0, 0.5),
                             ("noise", 0, 0.5), ("blur_sigma", 0, 3), ("jpeg_quality", 1, 100),
                             ("colour_temperature", 1000, 40000)):
            v = getattr(self, name)
            if v[0] < lo or v[1] > hi:
                bad(name, f"values within [{lo}, {hi}]")
        if self.label_res < 16 or self.supersample not in (1, 2, 3, 4) or self.shadow_samples < 1:
            raise ConfigError(f"render config label_res={self.label_res} (>= 16), supersample={self.supersample} "
                              f"(1..4), shadow_samples={self.shadow_samples} (>= 1): a value is out of range")
        if self.jpeg_backend not in ("kornia", "pil"):
            bad("jpeg_backend", "'kornia' or 'pil'")
        if self.artwork_dir is not None and not Path(self.artwork_dir).is_dir():
            raise ConfigError(f"artwork={self.artwork_dir}: no such folder; point it at a folder of label images")
