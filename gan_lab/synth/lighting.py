"""Lighting in linear RGB: coloured directional/point lights, an SH ambient environment, Blinn-Phong
specular, and shadows.

- Diffuse: irradiance E(n) = SH_ambient(n) + sum_k I_k c_k max(n.l_k, 0) vis_k att_k; the image is
  albedo * E + specular (no 1/pi: intensities are relative, the camera's auto-exposure sets the scale).
- Ambient: a 2nd-order (9-coefficient) spherical-harmonics environment per colour channel; irradiance by
  Ramamoorthi & Hanrahan (2001): E(n) = sum_lm A_l L_lm Y_lm(n), A = (pi, 2pi/3, pi/4), clamped >= 0.
- Specular: normalised Blinn-Phong, k_s (s+8)/8 max(n.h, 0)^s I c max(n.l, 0) vis att (white highlights:
  dielectric label varnish; metal cans are brighter and sharper).
- Shadows, two kinds, both soft:
  * cast by the product (self-shadow of bottle shoulders/neck, shadow on the backdrop): shadow rays from
    every surface point towards ``shadow_samples`` directions jittered over the light's angular radius,
    tested analytically against the product; visibility = share of unblocked rays;
  * an off-screen occluder (blinds, a window frame, an object edge or leaf-like blobs) in a plane across
    the key light's beam: each point's ray to the light crosses that plane at distance s; the penumbra
    half-width is s * tan(angular radius), so shadows blur with distance as real ones do.
  Points lit from behind (n.l <= 0) get no direct light; the pouch's wrinkles do not shadow each other.
"""

from __future__ import annotations

import colorsys
import math

import torch
from torch import Tensor

from gan_lab.synth import geometry as g
from gan_lab.synth.config import RenderConfig
from gan_lab.synth.rng import Stream

SH_A = (math.pi, 2 * math.pi / 3, math.pi / 4)
MAX_LIGHTS = 3


def srgb_to_linear(x):
    if isinstance(x, Tensor):
        return torch.where(x <= 0.04045, x / 12.92, ((x.clamp_min(0) + 0.055) / 1.055) ** 2.4)
    return [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in x]


def kelvin_rgb(k: float) -> list[float]:
    """Black-body colour (Tanner Helland's fit) as linear RGB with luminance 1."""
    t = k / 100
    r = 255 if t <= 66 else 329.698727446 * (t - 60) ** -0.1332047592
    gr = 99.4708025861 * math.log(t) - 161.1195681661 if t <= 66 else 288.1221695283 * (t - 60) ** -0.0755148492
    b = 255 if t >= 66 else (0 if t <= 19 else 138.5177312231 * math.log(t - 10) - 305.0447927307)
    rgb = srgb_to_linear([min(max(v, 0), 255) / 255 for v in (r, gr, b)])
    return unit_luminance(rgb)


def unit_luminance(rgb) -> list[float]:
    lum = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]
    return [round(c / max(lum, 1e-6), 5) for c in rgb]


def light_colour(rng: Stream, cfg: RenderConfig) -> tuple[list[float], bool]:
    if rng.random() < cfg.coloured_light_prob:
        rgb = srgb_to_linear(list(colorsys.hsv_to_rgb(rng.random(), rng.between(cfg.light_saturation), 1.0)))
        return unit_luminance(rgb), True
    return kelvin_rgb(rng.between(cfg.colour_temperature)), False


def sh_basis(n: Tensor) -> Tensor:
    """Real SH basis Y_lm(n) for l <= 2 of normals (3, ...): (9, ...), order (00, 1-1, 10, 11, 2-2, 2-1, 20, 21, 22)."""
    x, y, z = n[0], n[1], n[2]
    return torch.stack([torch.full_like(x, 0.282095), 0.488603 * y, 0.488603 * z, 0.488603 * x,
                        1.092548 * x * y, 1.092548 * y * z, 0.315392 * (3 * z * z - 1), 1.092548 * x * z,
                        0.546274 * (x * x - y * y)])


def sh_irradiance(n: Tensor, coeffs: Tensor) -> Tensor:
    """Irradiance at normals ``n`` (3,B,P) from radiance SH ``coeffs`` (B,9,3) -> (3,B,P), >= 0."""
    a = torch.tensor([SH_A[0]] + [SH_A[1]] * 3 + [SH_A[2]] * 5, device=n.device)
    basis = sh_basis(n).flatten(2) * a.view(9, 1, 1)  # (9, B, P)
    return torch.bmm(coeffs.transpose(1, 2), basis.transpose(0, 1)).transpose(0, 1).clamp_min(0).view(n.shape)


def _random_dir(rng: Stream, max_polar_deg: float) -> list[float]:
    """A direction towards the light, around the camera side (-z), biased upwards (-y)."""
    polar, az = math.radians(rng.uniform(0, max_polar_deg)), rng.uniform(0, 2 * math.pi)
    v = [math.sin(polar) * math.cos(az), math.sin(polar) * math.sin(az) - 0.35, -math.cos(polar)]
    s = math.sqrt(sum(c * c for c in v))
    return [c / s for c in v]


def sample_lights(seed: int, index: int, cfg: RenderConfig, geo: dict) -> dict:
    """JSON light params of sample ``index`` (stream "light"; the occluder from stream "shadow")."""
    rng = Stream(seed, index, "light")
    height = geo["shape"]["height"] * geo["scale"]
    lights = []
    for k in range(rng.int_between(cfg.n_lights)):
        colour, coloured = light_colour(rng, cfg)
        d = _random_dir(rng, 80 if k == 0 else 100)
        light = {"type": "point" if rng.random() < cfg.point_light_prob else "directional", "dir": d,
                 "colour": colour, "coloured": coloured, "intensity": 1.0 if k == 0 else rng.uniform(0.2, 0.8),
                 "size": rng.between(cfg.light_size)}
        if light["type"] == "point":
            dist = rng.uniform(1.5, 4.0) * height
            light["pos"] = [c + dist * v for c, v in zip(geo["centre"], d)]
        lights.append(light)
    amb_colour, _ = light_colour(rng, cfg)
    amb = rng.between(cfg.ambient) / SH_A[0] / 0.282095  # DC term: irradiance `ambient` everywhere
    sky = _random_dir(rng, 120)
    coeffs = [[amb * c for c in amb_colour]]
    for k in range(3):  # a directional (sky / ground) tilt, Y_1m order (y, z, x)
        comp = sky[(1, 2, 0)[k]] * rng.uniform(0.3, 0.9) * amb * 0.282095 / 0.488603 * 2
        coeffs.append([comp * c for c in amb_colour])
    for _ in range(5):
        coeffs.append([rng.uniform(-0.12, 0.12) * amb for _ in range(3)])
    spec = {"strength": rng.between(cfg.specular_strength), "shininess": rng.log_between(cfg.shininess)}
    return {"lights": lights, "sh": coeffs, "specular": spec, "occluder": sample_occluder(seed, index, cfg, geo, lights[0])}


def sample_occluder(seed: int, index: int, cfg: RenderConfig, geo: dict, key: dict) -> dict | None:
    rng = Stream(seed, index, "shadow")
    if rng.random() >= cfg.shadow_prob:
        return None
    height = geo["shape"]["height"] * geo["scale"]
    dist = rng.uniform(0.3, 1.2) * height
    if key["type"] == "point":
        dist = min(dist, 0.6 * math.dist(key["pos"], geo["centre"]))
    kind = rng.choice(["blinds", "window", "edge", "blobs"])
    shift = [rng.uniform(-0.4, 0.4) * height, rng.uniform(-0.4, 0.4) * height]
    occ = {"kind": kind, "dist": dist, "angle": rng.uniform(0, math.pi), "offset": shift}
    if kind in ("blinds", "window"):
        occ["period"] = rng.uniform(0.15, 0.5) * height
        occ["duty"] = rng.uniform(0.25, 0.6) if kind == "blinds" else rng.uniform(0.08, 0.2)
    elif kind == "blobs":
        occ["blobs"] = [[rng.uniform(-0.4, 0.4) * height, rng.uniform(-0.4, 0.4) * height,
                         rng.uniform(0.08, 0.3) * height, rng.uniform(0.05, 0.2) * height, rng.uniform(0, math.pi)]
                        for _ in range(rng.randint(1, 4))]
    return occ


def _frame(l: list[float]) -> tuple[list[float], list[float]]:
    """Two unit vectors spanning the plane perpendicular to ``l``."""
    ref = [0.0, 1.0, 0.0] if abs(l[1]) < 0.9 else [1.0, 0.0, 0.0]
    e1 = torch.linalg.cross(torch.tensor(l), torch.tensor(ref))
    e1 = e1 / e1.norm()
    e2 = torch.linalg.cross(torch.tensor(l), e1)
    return e1.tolist(), e2.tolist()


def occluder_sdf(occ: dict, x: Tensor, y: Tensor) -> Tensor:
    """Signed distance in the occluder plane: < 0 on the occluder, > 0 in the open."""
    ca, sa = math.cos(occ["angle"]), math.sin(occ["angle"])
    x, y = x - occ["offset"][0], y - occ["offset"][1]
    xr, yr = ca * x + sa * y, -sa * x + ca * y
    if occ["kind"] == "edge":
        return xr
    if occ["kind"] in ("blinds", "window"):
        p = occ["period"]
        half = occ["duty"] * p / 2
        sd = (torch.remainder(yr, p) - p / 2).abs() - half
        if occ["kind"] == "window":
            sd = torch.minimum(sd, (torch.remainder(xr, p * 1.3) - p * 0.65).abs() - half)
        return sd
    sd = torch.full_like(x, float("inf"))
    for bx, by, ax, ay, ang in occ["blobs"]:
        c, s = math.cos(ang), math.sin(ang)
        u, v = c * (x - bx) + s * (y - by), -s * (x - bx) + c * (y - by)
        sd = torch.minimum(sd, (torch.sqrt((u / ax) ** 2 + (v / ay) ** 2) - 1) * min(ax, ay))
    return sd


def occluder_visibility(occ: dict, centre, light: dict, p: Tensor, l: Tensor) -> Tensor:
    """Soft visibility (P,) of the key light through the occluder for points ``p`` (3,P), light dirs ``l``."""
    lc = torch.tensor(light["dir"], device=p.device).view(3, 1)
    plane_c = torch.tensor(centre, device=p.device).view(3, 1) + occ["dist"] * lc
    s = g.dot(plane_c - p, lc) / g.dot(l, lc).clamp_min(1e-3)  # distance along the ray to the plane
    q = p + s * l - plane_c
    e1, e2 = (torch.tensor(e, device=p.device).view(3, 1) for e in _frame(light["dir"]))
    sd = occluder_sdf(occ, g.dot(q, e1), g.dot(q, e2))
    w = (s.clamp_min(0) * math.tan(light["size"])).clamp_min(2e-3)
    vis = ((sd / w).clamp(-1, 1) * 0.5 + 0.5)
    vis = vis * vis * (3 - 2 * vis)  # smoothstep
    return torch.where(s > 0, vis, torch.ones_like(vis))


def _jitter(j: Tensor, k: int, radius: Tensor, l: Tensor) -> Tensor:
    """Ray ``j`` of ``k`` stratified directions over cones of angular ``radius`` around unit ``l`` (3, ...).

    ``j`` and ``radius`` broadcast against ``l[0]``. The k directions are a sunflower spiral on the
    light's disc: equal-area rings, golden-angle turns.
    """
    lx, ly, lz = l[0], l[1], l[2]  # e1 = l x ref, ref = +y (or +x when l is near y), written out
    use_y, zero = ly.abs() < 0.9, torch.zeros_like(lx)
    e1 = g.normalize(torch.stack([torch.where(use_y, -lz, zero), torch.where(use_y, zero, lz),
                                  torch.where(use_y, lx, -ly)]))
    e2 = g.cross(l, e1)
    jk = torch.arange(k, dtype=l.dtype, device=l.device)  # the k spiral points, looked up per ray
    ang = jk * 2.399963
    pick = j.reshape(-1)
    cos, sin = (x.index_select(0, pick).view(j.shape) for x in (torch.cos(ang), torch.sin(ang)))
    rad = torch.tan(radius) * torch.sqrt((jk + 0.5) / k).index_select(0, pick).view(j.shape)
    return g.normalize(l + rad * (cos * e1 + sin * e2))


def _cone_meets_sphere(o: Tensor, l: Tensor, sphere: Tensor, half_angle: Tensor) -> Tensor:
    """Rays from ``o`` (3,K) with directions within ``half_angle`` (K,) of unit ``l`` (3,K) that may meet the
    spheres ``sphere`` (4,K: centre, radius) ahead: a conservative test (a margin of 1e-3 rad, and an origin
    inside the sphere always passes), so that dropping the others changes no shadow."""
    w = sphere[:3] - o
    wl = g.dot(w, w).sqrt()
    r = sphere[3]
    seen = torch.asin((r / wl.clamp_min(1e-12)).clamp(max=1.0))  # angular radius of the sphere from o
    reach = (seen + half_angle + 1e-3).clamp(max=math.pi)
    return (wl <= r * 1.001) | (g.dot(w, l) >= wl * torch.cos(reach))


def _shadow_visibility(o: Tensor, l: Tensor, dist: Tensor, is_point: Tensor, size: Tensor, idx: Tensor, ndl: Tensor,
                       convex: Tensor, products, shadow_samples: int, subpixel: Tensor, n_sub: int) -> Tensor:
    """Share (b,P) of the jittered shadow rays from ``o`` towards the light ``l`` (3,b,P) that reach it.

    Rays are traced only where n.l > 0, as one flat list, and only those whose cone (the jittered
    directions lie within the light's angular radius of l) can meet their sample's bounding sphere: the
    others miss the product whatever the jitter. Nor are the rays from a convex product (``convex`` (b,P))
    whose whole cone lies on the open side of the tangent plane (n.l > sin(radius + 1e-3)): they start
    2e-3 off the surface and move away from the plane, which bounds the product. ``idx`` (b,): the samples
    of the rows."""
    b, P = dist.shape
    vis = torch.ones_like(dist)
    flat = (ndl > 0).view(-1).nonzero()[:, 0]
    if not len(flat):
        return vis
    rows = flat // P
    o_r, l_r = g.select(o.reshape(3, -1), flat), g.select(l.reshape(3, -1), flat)
    size_r = size.index_select(0, rows)
    keep = _cone_meets_sphere(o_r, l_r, g.select(products.spheres(idx), rows), size_r)
    keep &= ~(convex.view(-1).index_select(0, flat) & (ndl.view(-1).index_select(0, flat) > torch.sin(size_r + 1e-3)))
    keep = keep.nonzero()[:, 0]
    if not len(keep):
        return vis
    flat, rows = flat.index_select(0, keep), rows.index_select(0, keep)
    o_r, l_r = g.select(o_r, keep), g.select(l_r, keep)
    far = dist.view(-1).index_select(0, flat)
    point_r, size_r, sample_r = is_point[:, 0][rows], size_r.index_select(0, keep), idx.index_select(0, rows)
    sub_r = subpixel.index_select(0, flat % P)
    passes = -(-shadow_samples // n_sub)
    seen = torch.zeros_like(far)
    for m in range(passes):
        lj = _jitter(sub_r + m * n_sub, passes * n_sub, size_r, l_r)
        t = products.occlusion_rays(o_r, lj, sample_r)
        seen = seen + ((t == g.INF) | (point_r & (t >= far))).float()
    return vis.view(-1).index_copy_(0, flat, seen / passes).view(b, P)


def shade(p: Tensor, n: Tensor, d: Tensor, ks: Tensor, shin: Tensor, light_params: list[dict], geos: list[dict],
          products, shadow_samples: int, subpixel: Tensor, n_sub: int, convex: Tensor | None = None) -> dict[str, Tensor]:
    """Per-ray diffuse irradiance, specular radiance and direct-light luminance with/without shadows.

    p, n, d: (3,B,P) hit points, normals, view rays; ks, shin: (B,P) material; returns (3,B,P)/(B,P) maps.
    Soft shadows are stratified over the ``n_sub`` rays of a pixel (``subpixel`` (P,) = a ray's slot in
    its pixel): each ray traces ceil(shadow_samples / n_sub) shadow rays per light, and the pixel's rays
    together cover ``max(shadow_samples, n_sub)`` directions of the light's disc. ``convex`` (B,P): the rays
    that hit a convex product (``products.CONVEX``; default none), whose lit side cannot shadow itself.
    """
    _, B, P = p.shape
    convex = torch.zeros(B, P, dtype=torch.bool, device=p.device) if convex is None else convex
    dev = p.device
    sh = torch.tensor([lp["sh"] for lp in light_params], dtype=torch.float32, device=dev)
    diffuse = sh_irradiance(n, sh)
    specular = torch.zeros_like(diffuse)
    direct = torch.zeros(B, P, device=dev)
    free = torch.zeros(B, P, device=dev)
    origin = p + n * 2e-3
    for k in range(MAX_LIGHTS):
        have = [i for i in range(B) if k < len(light_params[i]["lights"])]
        if not have:
            break
        idx = torch.tensor(have, device=dev)
        every = len(have) == B  # all samples have light k: no gathers / scatters of whole maps

        def take(x):  # the rows of the samples with light k (the sample axis is the second-to-last)
            return x if every else x.index_select(x.dim() - 2, idx)

        def add(acc, x):
            return acc.add_(x) if every else acc.index_add_(acc.dim() - 2, idx, x)

        lights = [light_params[i]["lights"][k] for i in have]
        pi, ni = take(p), take(n)
        is_point = torch.tensor([lt["type"] == "point" for lt in lights], device=dev)[:, None]
        pos = torch.tensor([lt.get("pos", [0.0, 0.0, 0.0]) for lt in lights], device=dev).T[..., None]
        dirs = torch.tensor([lt["dir"] for lt in lights], device=dev).T[..., None]
        to_light = pos - pi
        dist = g.dot(to_light, to_light).sqrt()
        ref_dist = torch.tensor([math.dist(lt.get("pos", geos[i]["centre"]), geos[i]["centre"])
                                 for lt, i in zip(lights, have)], device=dev)[:, None]
        l, att = to_light / dist.clamp_min(1e-12), (ref_dist / dist.clamp_min(1e-3)) ** 2
        directional = [j for j, lt in enumerate(lights) if lt["type"] != "point"]  # overwrite their rows
        if directional:  # (row copies: a where() broadcasting per-sample values over the rays is several times slower)
            rows = torch.tensor(directional, device=dev)
            l.index_copy_(1, rows, dirs.index_select(1, rows).expand(-1, -1, P))
            att.index_fill_(0, rows, 1.0)
        ndl = g.dot(ni, l).clamp_min(0)
        radiance = torch.tensor([[c * lt["intensity"] for c in lt["colour"]] for lt in lights], device=dev).T[..., None]
        size = torch.tensor([lt["size"] for lt in lights], device=dev)
        vis = _shadow_visibility(take(origin), l, dist, is_point, size, idx, ndl, take(convex), products,
                                 shadow_samples, subpixel, n_sub)
        if k == 0:  # the occluder shadows the key light
            for j, i in enumerate(have):
                occ = light_params[i]["occluder"]
                if occ is not None:
                    vis[j] = vis[j] * occluder_visibility(occ, geos[i]["centre"], lights[j], pi[:, j], l[:, j])
        irr = ndl * att
        lit = irr * vis
        add(diffuse, lit * radiance)
        h = g.normalize(l - take(d))
        ndh = g.dot(ni, h).clamp_min(0)
        s_ = take(shin)
        spec = take(ks) * (s_ + 8) / 8 * ndh ** s_ * lit
        add(specular, spec * radiance)
        lum = (radiance[0] * 0.2126 + radiance[1] * 0.7152) + radiance[2] * 0.0722
        add(direct, lit * lum)
        add(free, irr * lum)
    return {"diffuse": diffuse, "specular": specular, "direct": direct, "direct_unshadowed": free}
