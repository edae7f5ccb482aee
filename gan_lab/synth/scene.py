"""The scene of one sample: camera, product placement, backdrop, body colours and textures.

All of it comes from the sample's "geometry", "label" and "background" streams, so it does not change
when lighting or camera knobs change. Units: the product is about 1 unit tall (times its scale); the
camera distance is chosen so that it fills a random share of the frame.
"""

from __future__ import annotations

import colorsys
import math

import torch

from gan_lab.synth import artwork, products
from gan_lab.synth.config import RenderConfig
from gan_lab.synth.rng import Stream

BACKGROUND_RES = 128


def _colour(h, s, v) -> list[float]:
    return [round(c, 4) for c in colorsys.hsv_to_rgb(h % 1.0, s, v)]


def body_colours(kind: str, rng: Stream) -> tuple[list[float], list[float]]:
    """sRGB albedo of the bare product (body) and of its cap/lid/rim."""
    if kind == "bottle":
        body = rng.choice([_colour(0.33, 0.6, 0.35), _colour(0.08, 0.8, 0.3), _colour(0.55, 0.1, 0.75),
                           _colour(rng.random(), rng.uniform(0.3, 0.9), rng.uniform(0.3, 0.9))])
    elif kind == "can":
        body = _colour(rng.random(), rng.uniform(0, 0.15), rng.uniform(0.6, 0.85))
    else:
        body = _colour(rng.random(), rng.uniform(0.1, 0.8), rng.uniform(0.3, 0.95))
    cap = rng.choice([_colour(rng.random(), rng.uniform(0.5, 1), rng.uniform(0.4, 0.9)),
                      _colour(0.0, 0.0, rng.uniform(0.6, 0.8))])
    return body, cap


def sample_geometry(seed: int, index: int, cfg: RenderConfig) -> dict:
    """JSON params of the scene geometry of sample ``index``."""
    rng = Stream(seed, index, "geometry")
    kind = rng.weighted(cfg.products)
    p = products.sample(kind, rng)
    fov = math.radians(rng.uniform(28, 50))
    tanf = math.tan(fov / 2)
    scale = rng.uniform(0.8, 1.25)
    frac = rng.uniform(0.55, 0.9)  # share of the frame height the product fills
    z = p["height"] * scale / (2 * tanf * frac)
    centre = [rng.uniform(-0.12, 0.12) * z * tanf, rng.uniform(-0.1, 0.1) * z * tanf, z]
    if kind in ("bottle", "can"):  # centre the whole bottle, not only its body
        shift = (p["height"] - 2 * p["half_height"]) / 2 * scale
        centre = [c - a * shift for c, a in zip(centre, p["axis"])]
    body, cap = body_colours(kind, rng)
    back_z = z + rng.uniform(0.5, 3.0) * p["height"] * scale
    back_rot = [math.radians(rng.uniform(-20, 20)), math.radians(rng.uniform(-20, 20)), 0.0]
    return {"product": kind, "shape": p, "scale": scale, "centre": centre, "fov_deg": math.degrees(fov),
            "frame_fill": frac, "body_srgb": body, "cap_srgb": cap,
            "backdrop": {"z": back_z, "rot": back_rot, "half": back_z * tanf * 1.7}}


def textures(seed: int, index: int, cfg: RenderConfig, geo: dict) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Label texture (3, R, 2R) and backdrop texture (3, 128, 128), sRGB in [0, 1], and their params."""
    label, info = artwork.label_texture(Stream(seed, index, "label"), cfg.label_res, geo["shape"]["label_aspect"],
                                        cfg.artwork_dir, cfg.artwork_prob)
    back = artwork.to_tensor(artwork.background_texture(Stream(seed, index, "background"), BACKGROUND_RES),
                             BACKGROUND_RES, BACKGROUND_RES)
    return label, back, info
