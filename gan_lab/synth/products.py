"""Products: pose sampling and per-pixel evaluation (hit distance, normal, label UV, material).

- ``bottle``: body cylinder (label wrapped around part of it) + shoulder, neck and cap cylinders.
- ``can``: one metal cylinder; the label covers most of its side, rims and lids are bare metal.
- ``box``: an oriented box; the label is printed on the face towards the camera (local -z), the other
  faces are body colour.
- ``pouch``: a soft sheet bulging towards the camera with sinusoidal wrinkles (``geometry.sheet``),
  printed all over.

Each ``sample_*`` draws JSON params from the geometry stream; ``hit(kind, o, d, P)`` evaluates the rays of
a group of samples of one kind, with ``P`` the params stacked into ``(B, 1, ...)`` tensors. Materials:
0 = label, 1 = body, 2 = cap/lid/rim (see ``render.materials``). UV is in [0, 1]^2 (u right, v down).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gan_lab.synth import geometry as g
from gan_lab.synth.rng import Stream

LABEL, BODY, CAP = 0, 1, 2


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
    """Per-sample params (placed: with 'centre' and 'scale') -> (B, 1, ...) float tensors."""
    def t(key, fn=lambda p, k: p[k]):
        return torch.tensor([fn(p, key) for p in params], dtype=torch.float32, device=device)[:, None]

    P = {"c": t("centre"), "s": t("scale")[..., None]}
    if kind in ("bottle", "can"):
        for k in ("radius", "half_height", "coverage", "label_lo", "label_hi", "label_phase"):
            P[k] = t(k)[..., None] * (P["s"] if k in ("radius", "half_height") else 1)
        P["a"] = t("axis")
        if kind == "bottle":
            for k in ("neck_radius", "neck_len", "shoulder"):
                P[k] = t(k)[..., None] * P["s"]
    else:
        P["half"] = t("half") * P["s"]
        P["rot"] = torch.stack([g.rotation(*p["rot"]) for p in params]).to(device)[:, None]
        if kind == "pouch":
            P["bulge"] = t("bulge")[..., None] * P["s"]
            k = max(len(p["waves"]) for p in params)  # pad with zero-amplitude waves
            P["waves"] = torch.tensor([p["waves"] + [[0.0, 1.0, 0.0, 0.0]] * (k - len(p["waves"])) for p in params],
                                      dtype=torch.float32, device=device)
            # per-sample wave directions, computed once here rather than per ray inside the intersection
            ang, freq, hy = P["waves"][..., 0], P["waves"][..., 1], P["half"][..., 1]
            P["wave_dx"], P["wave_dy"] = torch.cos(ang) * freq / hy, torch.sin(ang) * freq / hy
    return P


def _pouch_height(P):
    hx, hy = P["half"][..., 0], P["half"][..., 1]
    waves, bulge = P["waves"], P["bulge"][..., 0]

    def height(x, y, grad: bool = True):
        """(h, dh/dx, dh/dy); with grad=False (the fixed-point iterations) only h, the slopes are None."""
        u, v = x / hx, y / hy
        fu, fv = 1 - u * u, 1 - v * v  # pillow profile, 0 on the border
        env = fu * fv
        h = bulge * env
        if grad:
            hxd, hyd = bulge * (-2 * u / hx) * fv, bulge * fu * (-2 * v / hy)
        for k in range(waves.shape[1]):
            ph, amp = waves[:, k, 2][:, None], waves[:, k, 3][:, None]
            dx, dy = P["wave_dx"][:, k][:, None], P["wave_dy"][:, k][:, None]
            arg = dx * x + dy * y + ph
            sw = torch.sin(arg)
            a = amp * P["s"][..., 0]
            h = h + a * env * sw
            if grad:
                cw = torch.cos(arg)
                hxd = hxd + a * ((-2 * u / hx) * fv * sw + env * cw * dx)
                hyd = hyd + a * (fu * (-2 * v / hy) * sw + env * cw * dy)
        return (h, hxd, hyd) if grad else (h, None, None)

    return height


def hit(kind: str, o: Tensor, d: Tensor, P: dict[str, Tensor], shadow_only: bool = False):
    """Rays of one product kind -> t (B,P) [, normal (B,P,3), uv (B,P,2), material (B,P) long]."""
    c = P["c"]
    if kind in ("bottle", "can"):
        a, r, hh = P["a"], P["radius"], P["half_height"]
        t, n, on_side = g.capped_cylinder(o, d, c, a, r, hh)
        mat = torch.full_like(t, CAP if kind == "can" else BODY, dtype=torch.long)
        if kind == "bottle":  # shoulder, neck and cap stacked along the axis
            parts = [(r * 0.7, P["shoulder"] / 2, hh + P["shoulder"] / 2, BODY),
                     (P["neck_radius"], P["neck_len"] / 2, hh + P["shoulder"] + P["neck_len"] / 2, BODY),
                     (P["neck_radius"] * 1.25, 0.03 * P["s"], hh + P["shoulder"] + P["neck_len"] + 0.03 * P["s"], CAP)]
            for pr, phh, off, m in parts:
                cp = c + a * off[..., 0:1]
                if d.shape[1] == 1:  # a flat ray list: test only the rays that meet this part's bounding sphere
                    near = _sphere_candidates(o, d, cp, torch.sqrt(pr ** 2 + phh ** 2)[..., 0] * 1.01 + 1e-4)
                    sel = near[:, 0].nonzero()[:, 0]
                    if len(sel):
                        def pick(x):
                            return x.index_select(0, sel)
                        tp, np_, _ = g.capped_cylinder(pick(o), pick(d), pick(cp), pick(a), pick(pr), pick(phh))
                        ts = pick(t)
                        closer = tp < ts
                        t = t.index_copy(0, sel, torch.where(closer, tp, ts))
                        n = n.index_copy(0, sel, torch.where(closer[..., None], np_, pick(n)))
                        on_side = on_side.index_copy(0, sel, pick(on_side) & ~closer)
                        mat = mat.index_copy(0, sel, torch.where(closer, torch.full_like(tp, m, dtype=torch.long), pick(mat)))
                    continue
                tp, np_, _ = g.capped_cylinder(o, d, cp, a, pr, phh)
                closer = tp < t
                t, n = torch.where(closer, tp, t), torch.where(closer[..., None], np_, n)
                on_side = on_side & ~closer
                mat = torch.where(closer, torch.full_like(mat, m), mat)
        if shadow_only:
            return t
        q = o + torch.where(torch.isfinite(t), t, torch.zeros_like(t))[..., None] * d - c
        e1 = g.normalize(-c - g.dot(-c, a)[..., None] * a)  # towards the camera, across the axis
        e2 = torch.cross(a.expand_as(e1), e1, dim=-1)
        phi = torch.atan2(g.dot(q, e2), g.dot(q, e1)) - P["label_phase"][..., 0] * 2 * math.pi
        phi = torch.remainder(phi + math.pi, 2 * math.pi) - math.pi
        u = phi / (2 * math.pi * P["coverage"][..., 0]) + 0.5
        axial = (g.dot(q, a) / (2 * hh[..., 0]) + 0.5)  # 0 at the bottom, 1 at the top of the body
        lo, hi = P["label_lo"][..., 0], P["label_hi"][..., 0]
        v = (hi - axial) / (hi - lo)
        is_label = on_side & (u >= 0) & (u <= 1) & (v >= 0) & (v <= 1)
        mat = torch.where(is_label, torch.full_like(mat, LABEL), mat)
        return t, n, torch.stack([u, v], -1), mat
    if kind == "box":
        t, n, local, face = g.box(o, d, c, P["rot"], P["half"])
        if shadow_only:
            return t
        uv = local[..., :2] / P["half"][..., :2] * 0.5 + 0.5
        mat = torch.where(face == 4, LABEL, BODY)
        return t, n, uv, mat
    if kind == "pouch":
        if shadow_only:
            return g.sheet(o, d, c, P["rot"], P["half"], _pouch_height(P), iters=3, t_only=True)
        t, n, xy = g.sheet(o, d, c, P["rot"], P["half"], _pouch_height(P), iters=6)
        uv = xy / P["half"][..., :2] * 0.5 + 0.5
        return t, n, uv, torch.full_like(t, LABEL, dtype=torch.long)
    raise ValueError(kind)


def bounds(kind: str, P: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
    """A bounding sphere (centre (B,1,3), radius (B,1)) of each product, for culling rays."""
    c = P["c"]
    if kind in ("bottle", "can"):
        hh, r = P["half_height"], P["radius"]
        extra = P["shoulder"] + P["neck_len"] + 0.06 * P["s"] if kind == "bottle" else torch.zeros_like(hh)
        centre = c + P["a"] * (extra / 2)
        radius = torch.sqrt(r ** 2 + (hh + extra / 2) ** 2)
    elif kind == "box":
        centre, radius = c, P["half"].norm(dim=-1, keepdim=True)
    else:
        centre = c
        radius = P["half"].norm(dim=-1, keepdim=True) + P["bulge"] + 0.03 * P["s"]
    return centre, radius[..., 0] * 1.01 + 1e-4


def _sphere_candidates(o: Tensor, d: Tensor, centre: Tensor, radius: Tensor) -> Tensor:
    """Rays (unit d) that meet the bounding sphere ahead of their origin."""
    w = o - centre
    b = g.dot(w, d)
    c = g.dot(w, w) - radius ** 2
    disc = b * b - c
    return (disc >= 0) & ((c < 0) | (b < 0))


def _take(P: dict[str, Tensor], rows: Tensor) -> dict[str, Tensor]:
    """Per-sample params gathered for a list of rays (index_select: much cheaper than fancy indexing)."""
    return {k: v.index_select(0, rows) for k, v in P.items()}


def hit_culled(kind: str, o: Tensor, d: Tensor, P: dict[str, Tensor], shadow_only: bool = False):
    """``hit`` evaluated only on the rays that meet the product's bounding sphere (same results).

    ``o`` is (B,1,3) or (B,P,3). The candidate rays are gathered into a flat list, each with its sample's
    params, and evaluated as (K, 1) "samples" of one ray each; misses keep t = inf.
    """
    B, Pn = d.shape[:2]
    centre, radius = bounds(kind, P)
    flat = _sphere_candidates(o, d, centre, radius).view(-1).nonzero()[:, 0]
    rows = flat // Pn
    o_k = o[:, 0].index_select(0, rows) if o.shape[1] == 1 else o.reshape(-1, 3).index_select(0, flat)
    out = hit(kind, o_k[:, None], d.reshape(-1, 3).index_select(0, flat)[:, None], _take(P, rows), shadow_only)
    t = torch.full((B * Pn,), g.INF, device=d.device)
    if shadow_only:
        return t.index_copy_(0, flat, out[:, 0]).view(B, Pn)
    n = torch.zeros(B * Pn, 3, device=d.device)
    uv = torch.zeros(B * Pn, 2, device=d.device)
    mat = torch.zeros(B * Pn, dtype=torch.long, device=d.device)
    for acc, x in zip((t, n, uv, mat), out):
        acc.index_copy_(0, flat, x[:, 0])
    return t.view(B, Pn), n.view(B, Pn, 3), uv.view(B, Pn, 2), mat.view(B, Pn)


class Products:
    """The products of a batch, grouped by kind so each kind is evaluated batched.

    ``hit`` gives the camera-visible surface; ``occlusion`` the nearest hit distance for shadow rays,
    each sample's rays tested against its own product only. Both cull rays by bounding spheres.
    """

    def __init__(self, kinds: list[str], params: list[dict], device):
        self.groups = []
        for kind in sorted(set(kinds)):
            idx = [i for i, k in enumerate(kinds) if k == kind]
            self.groups.append((kind, torch.tensor(idx, device=device), stack(kind, [params[i] for i in idx], device)))
        self.n = len(kinds)
        self._spheres = torch.zeros(self.n, 4, device=device)
        for kind, idx, P in self.groups:
            centre, radius = bounds(kind, P)
            self._spheres[idx] = torch.cat([centre[:, 0], radius], -1)

    def spheres(self, samples: Tensor | None = None) -> Tensor:
        """Bounding spheres (centre xyz, radius) of the products of ``samples`` (default all): (k, 4)."""
        return self._spheres if samples is None else self._spheres.index_select(0, samples)

    def hit(self, o: Tensor, d: Tensor):
        B, Pn = d.shape[:2]
        t = torch.full((B, Pn), g.INF, device=d.device)
        n = torch.zeros(B, Pn, 3, device=d.device)
        uv = torch.zeros(B, Pn, 2, device=d.device)
        mat = torch.zeros(B, Pn, dtype=torch.long, device=d.device)
        for kind, idx, P in self.groups:
            if len(self.groups) == 1:
                return hit_culled(kind, o, d, P)
            t[idx], n[idx], uv[idx], mat[idx] = hit_culled(kind, o.index_select(0, idx), d.index_select(0, idx), P)
        return t, n, uv, mat

    def occlusion_rays(self, o: Tensor, d: Tensor, samples: Tensor) -> Tensor:
        """Flat shadow rays (K,3) of samples ``samples`` (K,) -> nearest hit t (K,), inf on a miss.

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
            o_s, d_s = o.index_select(0, sel)[:, None], d.index_select(0, sel)[:, None]
            ok = _sphere_candidates(o_s, d_s, centre.index_select(0, gs), radius.index_select(0, gs))[:, 0]
            keep = ok.nonzero()[:, 0]
            if len(keep):
                sel, gs = sel.index_select(0, keep), gs.index_select(0, keep)
                out = hit(kind, o_s.index_select(0, keep), d_s.index_select(0, keep), _take(P, gs), shadow_only=True)
                t.index_copy_(0, sel, out[:, 0])
        return t

    def occlusion(self, o: Tensor, d: Tensor, samples: Tensor) -> Tensor:
        """Shadow rays (R,P,3) whose row r belongs to sample ``samples[r]`` -> nearest hit t (R,P)."""
        t = torch.full(d.shape[:2], g.INF, device=d.device)
        for kind, idx, P in self.groups:
            pos = torch.full((self.n,), -1, dtype=torch.long, device=d.device)
            pos[idx] = torch.arange(len(idx), device=d.device)
            rows = (pos[samples] >= 0).nonzero()[:, 0]
            if len(rows):
                sub = {k: v[pos[samples[rows]]] for k, v in P.items()}
                t[rows] = hit_culled(kind, o[rows], d[rows], sub, shadow_only=True)
        return t
