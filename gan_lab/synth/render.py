"""The public API: ``render_batch`` / ``render_sample`` -> ``RenderBatch`` (lit photo, albedo, mask, ...).

Sample ``i`` of ``(seed, size, config)`` depends only on ``(seed, i)``: rendering it alone, in a batch
of 4 or on another worker gives the same sample, up to float rounding on the default batched path
(maps within 1e-4, see ``RenderConfig.batched``) and the same bytes with ``batched=False`` (on the same
device and software); the same call repeated is always bit-identical. Geometry and label come from their
own random streams, so two lighting configs give the same albedo, different photos.

Outputs (``size`` x ``size``, box-filtered from ``supersample``^2 rays per pixel):
- ``image``   (n,3) float32 sRGB in [0, 1]: the photo (lights, shadows, highlights, camera, JPEG).
- ``albedo``  (n,3) sRGB in [0, 1]: the unlit reflectance of everything seen — the label artwork sampled
  through the same geometry inside the mask, the bare product and the backdrop texture outside it
  (unlit, never 0), so it is a complete intrinsic image; use ``mask`` to score only the label.
- ``mask``    (n,1) {0, 1}: 1 where any of the pixel's rays hit the label (edge pixels included).
- ``shading`` (n,3) linear: diffuse irradiance times exposure and white balance, so that before blur,
  noise, clipping and JPEG, linear(image) = linear(albedo) * shading + ``specular`` (exact per ray).
- ``specular`` (n,3) linear highlight radiance; ``normals`` (n,3) unit camera-space normals (x right,
  y down, z away from the camera); ``depth`` (n,1) ray distance.
- ``params``: one JSON-serialisable dict per sample (seed, index, product, geometry, lights, camera,
  label, stats, difficulty — see ``difficulty.py``).
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_lab.registry import ConfigError
from gan_lab.synth import camera, difficulty
from gan_lab.synth import geometry as g
from gan_lab.synth import lighting, products, scene
from gan_lab.synth.config import RenderConfig

LUMA = (0.2126, 0.7152, 0.0722)


@dataclass
class RenderBatch:
    image: Tensor
    albedo: Tensor
    mask: Tensor
    shading: Tensor
    normals: Tensor
    specular: Tensor
    depth: Tensor
    params: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return self.image.shape[0]


def _material(kind: str, spec: dict) -> list[tuple[float, float]]:
    """(k_s, shininess) of label, body, cap for one product."""
    ks, s = spec["strength"], spec["shininess"]
    body = {"bottle": (ks + 0.3, s * 2), "can": (1.5 * ks + 0.3, s * 1.5), "box": (0.5 * ks, s), "pouch": (ks, s)}[kind]
    cap = (1.5 * ks + 0.3, s * 1.5) if kind == "can" else (0.5 * ks + 0.1, s)
    return [(ks, s), body, cap]


def _pool(x: Tensor, res: int, ss: int) -> Tensor:
    """Rays (..., P) -> (..., res/ss, res/ss) box-filtered pixels, in the map's own memory order (no copy first:
    a (3, B, P) map stored as (B, 3, P), e.g. a texture lookup's, is pooled as such)."""
    if x.dim() == 3 and not x.is_contiguous() and x.transpose(0, 1).is_contiguous():
        return _pool(x.transpose(0, 1), res, ss).transpose(0, 1)
    img = x.reshape(-1, 1, res, res)
    out = F.avg_pool2d(img, ss) if ss > 1 else img
    return out.view(*x.shape[:-1], res // ss, res // ss)


def _mean_hw(x: Tensor) -> Tensor:
    """Per-sample spatial mean (B,C,1,1), one sample at a time: a batched reduction may sum in another
    order depending on the batch size, which would break "sample i is the same in any batch"."""
    return torch.stack([x[i].reshape(x.shape[1], -1).mean(1) for i in range(x.shape[0])]).view(*x.shape[:2], 1, 1)


def render_sample(seed: int, index: int, size: int = 64, config: RenderConfig | None = None, device="cpu") -> RenderBatch:
    """Sample ``index`` of stream ``seed`` alone (identical to row ``index`` of a batch render)."""
    return render_batch(1, seed, size, config, device, indices=[index])


def render_batch(n: int, seed: int, size: int = 64, config: RenderConfig | None = None, device="cpu",
                 indices: Sequence[int] | None = None) -> RenderBatch:
    """Render samples ``indices`` (default ``0..n-1``) of stream ``seed`` at ``size`` px."""
    cfg = config if config is not None else RenderConfig()
    cfg.validate()
    indices = list(range(n)) if indices is None else [int(i) for i in indices]
    if len(indices) != n or n < 1 or size < 8:
        raise ConfigError(f"render_batch(n={n}, size={size}, indices of length {len(indices)}): need n >= 1, size >= 8, "
                          "and len(indices) == n")
    dev = torch.device(device)
    if not cfg.batched and n > 1:  # one sample per pass: bit-identical whatever the batch (see RenderConfig)
        return _render_parts(cfg, seed, [[i] for i in indices], size, dev)
    if n > CHUNK:  # bounded memory: (chunk, rays, 3) temporaries
        return _render_parts(cfg, seed, [indices[s:s + CHUNK] for s in range(0, n, CHUNK)], size, dev)
    return _render(cfg, seed, indices, size, dev)


def _render_parts(cfg: RenderConfig, seed: int, parts: list[list[int]], size: int, dev: torch.device) -> RenderBatch:
    """Render ``parts`` one pass each, the artwork of the next part drawn while this one is traced."""
    out, job = [], _artwork_job(cfg, seed, parts[0])
    for k, part in enumerate(parts):
        nxt = _artwork_job(cfg, seed, parts[k + 1]) if k + 1 < len(parts) else None
        out.append(_render(cfg, seed, part, size, dev, job))
        job = nxt
    return RenderBatch(**{f: torch.cat([getattr(b, f) for b in out]) for f in FIELDS},
                       params=[p for b in out for p in b.params])


CHUNK = 32  # samples per batched pass
FIELDS = ("image", "albedo", "mask", "shading", "normals", "specular", "depth")


def _render(cfg: RenderConfig, seed: int, indices: list[int], size: int, dev: torch.device,
            artwork: Future | None = None) -> RenderBatch:
    """Render ``indices`` in one batched pass (``artwork``: their textures, already being drawn)."""
    n = len(indices)
    ss = cfg.supersample
    res = size * ss
    geos = [scene.sample_geometry(seed, i, cfg) for i in indices]
    lps = [lighting.sample_lights(seed, i, cfg, geo) for i, geo in zip(indices, geos)]
    cams = [camera.sample_camera(seed, i, cfg) for i in indices]
    # the artwork (PIL, one sample after another) is drawn on a helper thread while this one traces and
    # shades, which need no texture; each texture depends on its (seed, index) only, never on timing
    tex_job = artwork if artwork is not None else _artwork_job(cfg, seed, indices)

    # --- geometry: primary rays (3, B, P) against the product and the backdrop ---
    tanf = torch.tensor([g_["fov_deg"] for g_ in geos], device=dev).deg2rad().mul(0.5).tan()
    d = g.camera_rays(tanf, res)
    o = torch.zeros(3, n, 1, device=dev)
    kinds = [geo["product"] for geo in geos]
    prods = products.Products(kinds, [{**geo["shape"], "centre": geo["centre"], "scale": geo["scale"]} for geo in geos], dev)
    t_p, n_p, uv, mat = prods.hit(o, d)
    back_rot = torch.stack([g.rotation(*geo["backdrop"]["rot"]) for geo in geos]).to(dev).permute(1, 2, 0)[..., None]
    back_c = torch.tensor([[0.0, 0.0, geo["backdrop"]["z"]] for geo in geos], device=dev).T[..., None]  # (3,B,1)
    back_n = -back_rot[:, 2]
    t_b = g.plane(o, d, back_c, back_n)
    is_prod = t_p < t_b
    t = torch.where(is_prod, t_p, t_b)
    p = d * t
    normal = torch.where(is_prod, n_p, back_n.expand_as(n_p).contiguous())  # (a broadcast where is slow)

    # --- materials: k_s, shininess and sRGB colour of each sample's (label, body, cap), looked up per ray ---
    table = torch.tensor([[list(m) + (geo["body_srgb"] if j == products.BODY else geo["cap_srgb"])
                           for j, m in enumerate(_material(k, lp["specular"]))]
                          for k, lp, geo in zip(kinds, lps, geos)], device=dev)  # (B, 3, 5)
    key = (torch.arange(n, device=dev)[:, None] * 3 + mat).view(-1)
    per_ray = g.select(table.view(-1, 5).T, key).view(5, n, -1)  # label rays take the texture colour below
    ks = torch.where(is_prod, per_ray[0], torch.full_like(t, 0.02))
    shin = torch.where(is_prod, per_ray[1], torch.full_like(t, 8.0))
    rr = torch.arange(res, device=dev) % ss
    subpixel = (rr[:, None] * ss + rr[None, :]).reshape(-1)  # each ray's slot within its pixel
    convex = is_prod & torch.tensor([k in products.CONVEX for k in kinds], device=dev)[:, None]
    light = lighting.shade(p, normal, d, ks, shin, lps, geos, prods, cfg.shadow_samples, subpixel, ss * ss, convex)

    # --- albedo (sRGB texture values -> linear), (3, B, P) ---
    tex = tex_job.result()
    label_tex = torch.stack([t_[0] for t_ in tex]).to(dev)
    back_tex = torch.stack([t_[1] for t_ in tex]).to(dev)
    lab = F.grid_sample(label_tex, (uv.permute(1, 2, 0) * 2 - 1)[:, None], mode="bilinear", padding_mode="border",
                        align_corners=False)
    half = torch.tensor([geo["backdrop"]["half"] for geo in geos], device=dev).view(-1, 1)
    q = p - back_c
    bxy = torch.stack([g.dot(q, back_rot[:, 0]) / half, g.dot(q, back_rot[:, 1]) / half], -1)
    bg = F.grid_sample(back_tex, bxy[:, None], mode="bilinear", padding_mode="reflection", align_corners=False)
    is_label = mat == products.LABEL
    albedo = torch.where(is_label, lab[:, :, 0].transpose(0, 1), per_ray[2:])
    albedo = torch.where(is_prod, albedo, bg[:, :, 0].transpose(0, 1))
    albedo_lin = lighting.srgb_to_linear(albedo)
    mask = (is_prod & is_label).float()

    # --- box filter to pixels: each map pooled in its own layout ((3,B,P) vectors, (B,P) scalars) ---
    A, radiance, irr, spec, nrm = (_pool(x, res, ss).transpose(0, 1) for x in (
        albedo_lin, albedo_lin * light["diffuse"], light["diffuse"], light["specular"], normal))
    nrm = nrm / (nrm[:, 0:1] ** 2 + nrm[:, 1:2] ** 2 + nrm[:, 2:3] ** 2).sqrt().clamp_min(1e-8)
    msk, direct, free, depth = (_pool(x, res, ss)[:, None] for x in (mask, light["direct"], light["direct_unshadowed"], t))
    msk = (msk > 0).float()

    # --- camera: exposure, white balance gains, blur, noise, sRGB, JPEG ---
    luma = torch.tensor(LUMA, device=dev).view(1, 3, 1, 1)
    # per-sample exposure gain and white-balance gains: a few scalars each, computed in Python so that no
    # vectorised kernel (whose rounding can depend on the batch size) touches them
    mean_lum = _mean_hw((radiance * luma).sum(1, keepdim=True)).view(-1).tolist()
    greys = _mean_hw(irr).view(-1, 3).tolist()  # grey-world estimate of each sample's light colour
    gains, wbs = [], []
    for c, m, grey in zip(cams, mean_lum, greys):
        gains.append(0.18 * 2.0 ** c["exposure_ev"] / max(m, 1e-6))
        lum = max(sum(w * x for w, x in zip(LUMA, grey)), 1e-6)
        wb = [max(x / lum, 1e-3) ** -c["white_balance"] * e for x, e in zip(grey, c["wb_error"])]
        wl = sum(w * x for w, x in zip(LUMA, wb))
        wbs.append([x / wl for x in wb])
    gain = torch.tensor(gains, device=dev).view(-1, 1, 1, 1)
    wb = torch.tensor(wbs, device=dev).view(-1, 3, 1, 1)
    shading = irr * gain * wb
    specular = spec * gain * wb
    raw = (radiance + spec) * gain
    raw = camera.gaussian_blur(raw, torch.tensor([c["blur_sigma"] for c in cams], device=dev))
    raw = camera.sensor_noise(raw, cams, [scene_seed(seed, i) for i in indices])
    image = camera.linear_to_srgb(raw * wb)
    image = camera.jpeg(image, [c["jpeg_quality"] for c in cams], cfg.jpeg_backend).clamp(0, 1)
    albedo_out = camera.linear_to_srgb(A)

    stats = difficulty.measure(msk, specular, shading, irr, direct, free)
    params = []
    for j, i in enumerate(indices):
        params.append({"seed": int(seed), "index": i, "product": kinds[j], "size": size,
                       "difficulty": difficulty.tags(stats[j]), "stats": stats[j], "label": tex[j][2],
                       "geometry": geos[j], "lighting": lps[j], "camera": cams[j]})
    return RenderBatch(image=image.float().contiguous(), albedo=albedo_out.contiguous(), mask=msk.contiguous(),
                       shading=shading.contiguous(), normals=nrm.contiguous(), specular=specular.contiguous(),
                       depth=depth.contiguous(), params=params)


def _textures(cfg: RenderConfig, seed: int, indices: list[int]) -> list:
    return [scene.textures(seed, i, cfg, scene.sample_geometry(seed, i, cfg)) for i in indices]


_POOLS: dict[int, ThreadPoolExecutor] = {}


def _artwork_job(cfg: RenderConfig, seed: int, indices: list[int]) -> Future:
    """The textures of ``indices`` (label, backdrop, label params per sample), drawn on a helper thread.

    PIL holds the GIL for most drawing but torch's kernels release it, so the artwork of a chunk costs
    little wall time beside its tracing and shading. One thread per process (keyed by pid: a forked child,
    e.g. a DataLoader worker, starts its own), and a sample's textures depend on (seed, index) only."""
    pool = _POOLS.get(os.getpid())
    if pool is None:
        pool = _POOLS[os.getpid()] = ThreadPoolExecutor(1, thread_name_prefix="synth-artwork")
    return pool.submit(_textures, cfg, seed, list(indices))


def scene_seed(seed: int, index: int) -> int:
    from gan_lab.synth.rng import stream_seed

    return stream_seed(seed, index, "noise")
