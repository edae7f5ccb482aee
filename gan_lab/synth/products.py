"""Products: pose sampling and per-pixel evaluation (hit distance, normal, label UV, material).

- ``bottle``: body cylinder (label wrapped around part of it) + shoulder, neck and cap cylinders.
- ``can``: one metal cylinder; the label covers most of its side, rims and lids are bare metal.
- ``box``: an oriented box; the label is printed on the face towards the camera (local -z), the other
  faces are body colour.
- ``pouch``: a soft sheet bulging towards the camera with sinusoidal wrinkles (``geometry.sheet``),
  printed all over.

Each ``sample_*`` draws JSON params from the geometry stream; ``hit(kind, o, d, P)`` evaluates the rays
(components first, ``(3, B, P)``: see ``geometry``) of a group of samples of one kind, with ``P`` the params
stacked by ``stack`` (the sample on the second-to-last axis, so one ``_pick`` gathers any of them). Materials:
0 = label, 1 = body, 2 = cap/lid/rim (see ``render.materials``). UV is in [0, 1]^2 (u right, v down).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gan_lab.synth import geometry as g
from gan_lab.synth.rng import Stream

LABEL, BODY, CAP = 0, 1, 2
CONVEX = ("can", "box")  # a single convex solid: its tangent planes bound it (shadow rays use this)


def _cylinder_axis(rng: Stream) -> list[float]:
    """Mostly upright (up = -y), tilted towards/away from the camera and rolled a little."""
    pitch, roll = math.radians(rng.uniform(-28, 22)), math.radians(rng.uniform(-12, 12))
    return (g.rotation(0.0, pitch, roll) @ torch.tensor([0.0, -1.0, 0.0])).tolist()


def sample(kind: str, rng: Stream) -> dict:
    """Shape params in object units (height about 1); the scene places and scales them."""
    if kind in ("bottle", "can"):
        r = rng.uniform(0.17, 0.24) if kind == "bottle" else rng.uniform(0.26, 0.36)
        body_h = rng.uniform(0.6, 0.8) if kind == "bottle" else rng.uniform(0.8, 1.15)
        cov = rng.uniform(0.55, 0.9) if kind == "bottle" else rng.uniform(0.85, 1.0)
        lo, hi = (rng.uniform(0.05, 0.3), rng.uniform(0.7, 0.95)) if kind == "bottle" else (rng.uniform(0.04, 0.08), rng.uniform(0.92, 0.96))
        p = {"radius": r, "half_height": body_h / 2, "axis": _cylinder_axis(rng), "coverage": cov,
             "label_lo": lo, "label_hi": hi, "label_phase": rng.uniform(-0.5, 0.5) * (1 - cov)}
        if kind == "bottle":
            p.update(neck_radius=r * rng.uniform(0.3, 0.42), neck_len=rng.uniform(0.18, 0.3), shoulder=rng.uniform(0.06, 0.12))
        p["height"] = body_h + (p["shoulder"] + p["neck_len"] + 0.06 if kind == "bottle" else 0.0)
        p["label_aspect"] = 2 * math.pi * r * cov / ((hi - lo) * body_h)
        return p
    if kind == "box":
        w, h = rng.uniform(0.45, 1.0), rng.uniform(0.6, 1.0)
        return {"half": [w / 2, h / 2, rng.uniform(0.1, 0.35)], "height": h, "label_aspect": w / h,
                "rot": [math.radians(rng.uniform(-45, 45)), math.radians(rng.uniform(-25, 25)), math.radians(rng.uniform(-15, 15))]}
    if kind == "pouch":
        w, h = rng.uniform(0.55, 0.85), rng.uniform(0.8, 1.0)
        waves = [[rng.uniform(0, 2 * math.pi), rng.uniform(3, 10), rng.uniform(0, 2 * math.pi), rng.uniform(0.002, 0.008)]
                 for _ in range(rng.randint(2, 5))]
        return {"half": [w / 2, h / 2], "height": h, "label_aspect": w / h, "bulge": rng.uniform(0.04, 0.1),
                "waves": waves, "rot": [math.radians(rng.uniform(-35, 35)), math.radians(rng.uniform(-20, 20)),
                                        math.radians(rng.uniform(-12, 12))]}
    raise ValueError(kind)


def stack(kind: str, params: list[dict], device) -> dict[str, Tensor]:
    """Per-sample params (placed: with 'centre' and 'scale') -> tensors whose second-to-last axis is the
    sample: scalars (B, 1), vectors (3, B, 1), rotations (3, 3, B, 1), waves (n_waves, 4, B, 1)."""
    def t(key):
        x = torch.tensor([p[key] for p in params], dtype=torch.float32, device=device)
        return x.view(-1, 1) if x.dim() == 1 else x.T.contiguous()[..., None]  # vectors: components first

    P = {"c": t("centre"), "s": t("scale")}
    if kind in ("bottle", "can"):
        for k in ("radius", "half_height", "coverage", "label_lo", "label_hi", "label_phase"):
            P[k] = t(k) * (P["s"] if k in ("radius", "half_height") else 1)
        P["a"] = t("axis")
        if kind == "bottle":
            for k in ("neck_radius", "neck_len", "shoulder"):
                P[k] = t(k) * P["s"]
    else:
        P["half"] = t("half") * P["s"]
        P["rot"] = torch.stack([g.rotation(*p["rot"]) for p in params]).permute(1, 2, 0).contiguous()[..., None].to(device)
        if kind == "pouch":
            P["bulge"] = t("bulge") * P["s"]
            k = max(len(p["waves"]) for p in params)  # pad with zero-amplitude waves
            waves = torch.tensor([p["waves"] + [[0.0, 1.0, 0.0, 0.0]] * (k - len(p["waves"])) for p in params],
                                 dtype=torch.float32, device=device)
            P["waves"] = waves.permute(1, 2, 0).contiguous()[..., None]  # (k, 4, B, 1)
            # per-sample wave directions, computed once here rather than per ray inside the intersection
            ang, freq, hy = P["waves"][:, 0], P["waves"][:, 1], P["half"][1]
            P["wave_dx"], P["wave_dy"] = torch.cos(ang) * freq / hy, torch.sin(ang) * freq / hy
    return P


def _pouch_height(P):
    hx, hy = P["half"][0], P["half"][1]
    waves, bulge, s = P["waves"], P["bulge"], P["s"]

    def height(x, y, grad: bool = True):
        """(h, dh/dx, dh/dy); with grad=False (the fixed-point iterations) only h, the slopes are None."""
        u, v = x / hx, y / hy
        fu, fv = 1 - u * u, 1 - v * v  # pillow profile, 0 on the border
        env = fu * fv
        h = bulge * env
        if grad:
            hxd, hyd = bulge * (-2 * u / hx) * fv, bulge * fu * (-2 * v / hy)
        for k in range(waves.shape[0]):
            ph, amp = waves[k, 2], waves[k, 3]
            dx, dy = P["wave_dx"][k], P["wave_dy"][k]
            arg = dx * x + dy * y + ph
            sw = torch.sin(arg)
            a = amp * s
            h = h + a * env * sw
            if grad:
                cw = torch.cos(arg)
                hxd = hxd + a * ((-2 * u / hx) * fv * sw + env * cw * dx)
                hyd = hyd + a * (fu * (-2 * v / hy) * sw + env * cw * dy)
        return (h, hxd, hyd) if grad else (h, None, None)

    return height


def _pick(x: Tensor, sel: Tensor) -> Tensor:
    """Rows ``sel`` of the sample / ray axis (the second-to-last) of a (..., N, 1) scalar, vector or parameter."""
    return g.select(x[..., 0], sel)[..., None]


def _bottle_parts(o: Tensor, d: Tensor, P: dict[str, Tensor], t, n, on_side, mat):
    """The bottle's shoulder, neck and cap, stacked along the axis, merged into the body's hit."""
    c, a, r, hh = P["c"], P["a"], P["radius"], P["half_height"]
    parts = [(r * 0.7, P["shoulder"] / 2, hh + P["shoulder"] / 2, BODY),
             (P["neck_radius"], P["neck_len"] / 2, hh + P["shoulder"] + P["neck_len"] / 2, BODY),
             (P["neck_radius"] * 1.25, 0.03 * P["s"], hh + P["shoulder"] + P["neck_len"] + 0.03 * P["s"], CAP)]
    for pr, phh, off, m in parts:
        cp = c + a * off
        if d.shape[-1] != 1:  # rays of whole samples
            tp, np_, _ = g.capped_cylinder(o, d, cp, a, pr, phh)
            closer = tp < t
            t, n = torch.where(closer, tp, t), torch.where(closer, np_, n)
            on_side = on_side & ~closer
            mat = torch.where(closer, torch.full_like(mat, m), mat)
            continue
        # a flat ray list: test only the rays that meet this part's bounding sphere
        sel = _sphere_candidates(o, d, cp, torch.sqrt(pr ** 2 + phh ** 2) * 1.01 + 1e-4)[:, 0].nonzero()[:, 0]
        if len(sel):
            tp, np_, _ = g.capped_cylinder(*(_pick(x, sel) for x in (o, d, cp, a, pr, phh)))
            ts = _pick(t, sel)
            closer = tp < ts
            t = t.index_copy(0, sel, torch.where(closer, tp, ts))
            n = n.index_copy(1, sel, torch.where(closer, np_, _pick(n, sel)))
            on_side = on_side.index_copy(0, sel, _pick(on_side, sel) & ~closer)
            mat = mat.index_copy(0, sel, torch.where(closer, torch.full_like(tp, m, dtype=torch.long), _pick(mat, sel)))
    return t, n, on_side, mat


def hit(kind: str, o: Tensor, d: Tensor, P: dict[str, Tensor], shadow_only: bool = False):
    """Rays (3, B, P) of one product kind -> t (B,P) [, normal (3,B,P), uv (2,B,P), material (B,P) long]."""
    c = P["c"]
    if kind in ("bottle", "can"):
        a, hh = P["a"], P["half_height"]
        t, n, on_side = g.capped_cylinder(o, d, c, a, P["radius"], hh)
        mat = torch.full_like(t, CAP if kind == "can" else BODY, dtype=torch.long)
        if kind == "bottle":
            t, n, on_side, mat = _bottle_parts(o, d, P, t, n, on_side, mat)
        if shadow_only:
            return t
        q = o + torch.where(torch.isfinite(t), t, torch.zeros_like(t)) * d - c
        e1 = g.normalize(-c - g.dot(-c, a) * a)  # towards the camera, across the axis
        e2 = g.cross(a, e1)
        phi = torch.atan2(g.dot(q, e2), g.dot(q, e1)) - P["label_phase"] * 2 * math.pi
        phi = torch.remainder(phi + math.pi, 2 * math.pi) - math.pi
        u = phi / (2 * math.pi * P["coverage"]) + 0.5
        axial = (g.dot(q, a) / (2 * hh) + 0.5)  # 0 at the bottom, 1 at the top of the body
        lo, hi = P["label_lo"], P["label_hi"]
        v = (hi - axial) / (hi - lo)
        is_label = on_side & (u >= 0) & (u <= 1) & (v >= 0) & (v <= 1)
        mat = torch.where(is_label, torch.full_like(mat, LABEL), mat)
        return t, n, torch.stack([u, v]), mat
    if kind == "box":
        t, n, local, face = g.box(o, d, c, P["rot"], P["half"])
        if shadow_only:
            return t
        uv = local[:2] / P["half"][:2] * 0.5 + 0.5
        mat = torch.where(face == 4, LABEL, BODY)
        return t, n, uv, mat
    if kind == "pouch":
        if shadow_only:
            return g.sheet(o, d, c, P["rot"], P["half"], _pouch_height(P), iters=3, t_only=True)
        t, n, xy = g.sheet(o, d, c, P["rot"], P["half"], _pouch_height(P), iters=6)
        uv = xy / P["half"] * 0.5 + 0.5
        return t, n, uv, torch.full_like(t, LABEL, dtype=torch.long)
    raise ValueError(kind)


def bounds(kind: str, P: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
    """A bounding sphere (centre (3,B,1), radius (B,1)) of each product, for culling rays."""
    c = P["c"]
    if kind in ("bottle", "can"):
        hh, r = P["half_height"], P["radius"]
        extra = P["shoulder"] + P["neck_len"] + 0.06 * P["s"] if kind == "bottle" else torch.zeros_like(hh)
        centre = c + P["a"] * (extra / 2)
        radius = torch.sqrt(r ** 2 + (hh + extra / 2) ** 2)
    elif kind == "box":
        centre, radius = c, P["half"].norm(dim=0)
    else:
        centre = c
        radius = P["half"].norm(dim=0) + P["bulge"] + 0.03 * P["s"]
    return centre, radius * 1.01 + 1e-4


def _sphere_candidates(o: Tensor, d: Tensor, centre: Tensor, radius: Tensor) -> Tensor:
    """Rays (unit d) that meet the bounding sphere ahead of their origin."""
    w = o - centre
    b = g.dot(w, d)
    c = g.dot(w, w) - radius ** 2
    disc = b * b - c
    return (disc >= 0) & ((c < 0) | (b < 0))


def _take(P: dict[str, Tensor], rows: Tensor) -> dict[str, Tensor]:
    """Per-sample params gathered for a list of rays (index_select: much cheaper than fancy indexing)."""
    return {k: _pick(v, rows) for k, v in P.items()}


def hit_culled(kind: str, o: Tensor, d: Tensor, P: dict[str, Tensor], shadow_only: bool = False):
    """``hit`` evaluated only on the rays that meet the product's bounding sphere (same results).

    ``o`` is (3,B,1) or (3,B,P). The candidate rays are gathered into a flat list, each with its sample's
    params, and evaluated as (3, K, 1) "samples" of one ray each; misses keep t = inf.
    """
    B, Pn = d.shape[1:]
    centre, radius = bounds(kind, P)
    flat = _sphere_candidates(o, d, centre, radius).view(-1).nonzero()[:, 0]
    rows = flat // Pn
    o_k = g.select(o[..., 0], rows) if o.shape[-1] == 1 else g.select(o.reshape(3, -1), flat)
    out = hit(kind, o_k[..., None], g.select(d.reshape(3, -1), flat)[..., None], _take(P, rows), shadow_only)
    t = torch.full((B * Pn,), g.INF, device=d.device)
    if shadow_only:
        return t.index_copy_(0, flat, out[:, 0]).view(B, Pn)
    n = torch.zeros(3, B * Pn, device=d.device)
    uv = torch.zeros(2, B * Pn, device=d.device)
    mat = torch.zeros(B * Pn, dtype=torch.long, device=d.device)
    for acc, x in zip((t, n, uv, mat), out):
        acc.index_copy_(acc.dim() - 1, flat, x[..., 0])
    return t.view(B, Pn), n.view(3, B, Pn), uv.view(2, B, Pn), mat.view(B, Pn)


class Products:
    """The products of a batch, grouped by kind so each kind is evaluated batched.

    ``hit`` gives the camera-visible surface; ``occlusion_rays`` the nearest hit distance for shadow rays,
    each sample's rays tested against its own product only. Both cull rays by bounding spheres.
    """

    def __init__(self, kinds: list[str], params: list[dict], device):
        self.groups = []
        for kind in sorted(set(kinds)):
            idx = [i for i, k in enumerate(kinds) if k == kind]
            self.groups.append((kind, torch.tensor(idx, device=device), stack(kind, [params[i] for i in idx], device)))
        self.n = len(kinds)
        self._spheres = torch.zeros(4, self.n, device=device)
        for kind, idx, P in self.groups:
            centre, radius = bounds(kind, P)
            self._spheres[:, idx] = torch.cat([centre[..., 0], radius.T])

    def spheres(self, samples: Tensor | None = None) -> Tensor:
        """Bounding spheres (centre xyz, radius) of the products of ``samples`` (default all): (4, k)."""
        return self._spheres if samples is None else self._spheres.index_select(1, samples)

    def hit(self, o: Tensor, d: Tensor):
        """Primary rays (3, B, P) -> t (B,P), normal (3,B,P), uv (2,B,P), material (B,P)."""
        B, Pn = d.shape[1:]
        if len(self.groups) == 1:
            return hit_culled(self.groups[0][0], o, d, self.groups[0][2])
        t = torch.full((B, Pn), g.INF, device=d.device)
        n = torch.zeros(3, B, Pn, device=d.device)
        uv = torch.zeros(2, B, Pn, device=d.device)
        mat = torch.zeros(B, Pn, dtype=torch.long, device=d.device)
        for kind, idx, P in self.groups:
            t[idx], n[:, idx], uv[:, idx], mat[idx] = hit_culled(kind, _pick(o, idx), d.index_select(1, idx), P)
        return t, n, uv, mat

    def occlusion_rays(self, o: Tensor, d: Tensor, samples: Tensor) -> Tensor:
        """Flat shadow rays (3,K) of samples ``samples`` (K,) -> nearest hit t (K,), inf on a miss.

        The bounding-sphere test runs on the rays alone (sphere per sample, gathered per ray); only the
        rays that meet it get their sample's params gathered and the exact intersection."""
        t = torch.full(samples.shape, g.INF, device=d.device)
        for kind, idx, P in self.groups:
            pos = torch.full((self.n,), -1, dtype=torch.long, device=d.device)
            pos[idx] = torch.arange(len(idx), device=d.device)
            grp = pos.index_select(0, samples)
            sel = (grp >= 0).nonzero()[:, 0]
            if not len(sel):
                continue
            centre, radius = bounds(kind, P)
            gs = grp.index_select(0, sel)
            o_s, d_s = g.select(o, sel), g.select(d, sel)
            ok = _sphere_candidates(o_s, d_s, g.select(centre[..., 0], gs), radius[:, 0].index_select(0, gs))
            keep = ok.nonzero()[:, 0]
            if len(keep):
                sel, gs = sel.index_select(0, keep), gs.index_select(0, keep)
                out = hit(kind, g.select(o_s, keep)[..., None], g.select(d_s, keep)[..., None],
                          _take(P, gs), shadow_only=True)
                t.index_copy_(0, sel, out[:, 0])
        return t
