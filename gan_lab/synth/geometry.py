"""Analytic ray casting: camera rays and ray / primitive intersections, batched over samples and pixels.

Coordinates: camera at the origin looking along +z, x to the right, y down (image rows), so a pixel's
ray is normalize(x_ndc * tan(fov/2), y_ndc * tan(fov/2), 1).

Layout (structure of arrays): a vector field is one tensor with the components first, ``(3, B, P)``
(B samples, P rays each), so ``v[0]``, ``v[1]``, ``v[2]`` are contiguous ``(B, P)`` planes and every
kernel runs on contiguous memory (a size-3 last axis made each dot product a strided, ~10x slower
loop). Scalars per ray are ``(B, P)``; per-sample parameters are ``(B, 1)`` scalars, ``(3, B, 1)``
vectors and ``(3, 3, B, 1)`` rotations, which broadcast over the rays of their sample. Flat ray lists
(each ray with its own sample's parameters) are the case ``P = 1``: ``(3, K, 1)``.
Every intersector returns ``t`` (``inf`` where the ray misses) and the outward unit normal; hits closer
than ``eps`` are ignored so shadow rays can start on a surface.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

INF = float("inf")


def dot(a: Tensor, b: Tensor) -> Tensor:
    """Dot product over the leading (xyz) axis: (3, ...) x (3, ...) -> (...)."""
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def cross(a: Tensor, b: Tensor) -> Tensor:
    """Cross product over the leading axis."""
    return torch.stack([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def to_local(v: Tensor, rot: Tensor) -> Tensor:
    """rot^T v for vectors (3, ...) and rotations (3, 3, B, 1) (``rot[i, j]`` = R_ij, columns = local axes)."""
    return torch.stack([v[0] * rot[0, j] + v[1] * rot[1, j] + v[2] * rot[2, j] for j in range(3)])


def to_world(v: Tensor, rot: Tensor) -> Tensor:
    """rot v: local vectors (3, ...) back to camera space."""
    return torch.stack([v[0] * rot[i, 0] + v[1] * rot[i, 1] + v[2] * rot[i, 2] for i in range(3)])


def select(x: Tensor, idx: Tensor) -> Tensor:
    """Columns ``idx`` of every row of ``x`` (..., N) -> (..., K): one 1-D ``index_select`` per row, several
    times faster than ``index_select`` along the last axis of a 2-D tensor (or along an axis of rows)."""
    rows = x.reshape(-1, x.shape[-1])
    out = x.new_empty(rows.shape[0], idx.shape[0])
    for r in range(rows.shape[0]):
        torch.index_select(rows[r], 0, idx, out=out[r])
    return out.view(*x.shape[:-1], idx.shape[0])


def normalize(v: Tensor) -> Tensor:
    return v / dot(v, v).sqrt().clamp_min(1e-12)


def rotation(yaw: float, pitch: float, roll: float) -> Tensor:
    """R = Rz(roll) @ Ry(yaw) @ Rx(pitch) (radians), (3, 3): columns are the object's local axes in camera space."""
    cy, sy, cp, sp, cr, sr = (math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch),
                              math.cos(roll), math.sin(roll))
    rx = torch.tensor([[1, 0, 0], [0, cp, -sp], [0, sp, cp]], dtype=torch.float64)
    ry = torch.tensor([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]], dtype=torch.float64)
    rz = torch.tensor([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]], dtype=torch.float64)
    return (rz @ ry @ rx).float()


def camera_rays(tan_half_fov: Tensor, res: int) -> Tensor:
    """(B,) tan(fov/2) -> (3, B, res*res) unit ray directions through pixel centres, row-major."""
    ndc = (torch.arange(res, dtype=torch.float32, device=tan_half_fov.device) + 0.5) / res * 2 - 1
    y, x = torch.meshgrid(ndc, ndc, indexing="ij")
    s = tan_half_fov.view(-1, 1)
    d = torch.stack([x.reshape(1, -1) * s, y.reshape(1, -1) * s, torch.ones(s.shape[0], res * res, device=s.device)])
    return normalize(d)


def plane(o: Tensor, d: Tensor, c: Tensor, n: Tensor, eps: float = 1e-4) -> Tensor:
    """Ray / infinite plane through ``c`` with normal ``n``: t (inf on a miss or behind the origin)."""
    den = dot(d, n)
    t = dot(c - o, n) / torch.where(den.abs() < 1e-9, torch.full_like(den, 1e-9), den)
    return torch.where(t > eps, t, torch.full_like(t, INF))


def capped_cylinder(o: Tensor, d: Tensor, c: Tensor, a: Tensor, r: Tensor, hh: Tensor, eps: float = 1e-4):
    """Closed cylinder: centre ``c``, unit axis ``a``, radius ``r``, half height ``hh`` ((B, 1) scalars).

    Returns (t, normal, on_side): the nearest hit of the side (|axial| <= hh) or of the two cap discs.
    """
    w = o - c
    da, wa = dot(d, a), dot(w, a)
    dp = d - da * a
    wp = w - wa * a
    qa = dot(dp, dp).clamp_min(1e-12)
    qb = 2 * dot(wp, dp)
    r2 = r ** 2
    qc = dot(wp, wp) - r2
    disc = qb * qb - 4 * qa * qc
    sq = disc.clamp_min(0).sqrt()
    inf = torch.full_like(qa, INF)
    side = inf
    for root in ((-qb + sq) / (2 * qa), (-qb - sq) / (2 * qa)):  # the smaller valid root wins (assigned last)
        ok = (disc >= 0) & (root > eps) & ((wa + root * da).abs() <= hh)
        side = torch.where(ok & (root < side), root, side)
    cap = inf
    sgn_cap = torch.zeros_like(qa)
    safe_da = torch.where(da.abs() < 1e-9, torch.full_like(da, 1e-9), da)
    for sgn in (1.0, -1.0):
        tc = (sgn * hh - wa) / safe_da
        radial = wp + tc * dp
        ok = (tc > eps) & (dot(radial, radial) <= r2) & (tc < cap)
        cap = torch.where(ok, tc, cap)
        sgn_cap = torch.where(ok, torch.full_like(sgn_cap, sgn), sgn_cap)
    on_side = side <= cap
    t = torch.minimum(side, cap)
    q = w + torch.where(torch.isfinite(t), t, torch.zeros_like(t)) * d
    n_side = (q - dot(q, a) * a) / r
    n = torch.where(on_side, n_side, sgn_cap * a)
    return t, normalize(n), on_side & torch.isfinite(t)


def box(o: Tensor, d: Tensor, c: Tensor, rot: Tensor, half: Tensor, eps: float = 1e-4):
    """Oriented box (slab method): centre ``c``, rotation ``rot`` (3, 3, B, 1), half sizes ``half`` (3, B, 1).

    Returns (t, normal, local_hit, face) with face = 0..5 for -x,+x,-y,+y,-z,+z (local); -z faces the camera
    when rot is the identity.
    """
    ol = to_local(o - c, rot)  # = rot^T (o - c)
    dl = to_local(d, rot)
    dl = torch.where(dl.abs() < 1e-9, torch.full_like(dl, 1e-9), dl)
    t1 = (-half - ol) / dl
    t2 = (half - ol) / dl
    tnear, axis = torch.minimum(t1, t2).max(0)
    tfar = torch.maximum(t1, t2).min(0).values
    hit = (tfar >= tnear) & (tnear > eps)
    t = torch.where(hit, tnear, torch.full_like(tnear, INF))
    sign = -torch.sign(torch.gather(dl, 0, axis[None]))[0]  # outward: against the ray
    nl = (torch.arange(3, device=d.device).view(3, *[1] * axis.dim()) == axis).to(d.dtype) * sign
    n = to_world(nl, rot)
    local = ol + torch.where(hit, t, torch.zeros_like(t)) * dl
    face = axis * 2 + (sign > 0).long()
    return t, n, local, face


def sheet(o: Tensor, d: Tensor, c: Tensor, rot: Tensor, half: Tensor, height, iters: int = 8, eps: float = 1e-4,
          t_only: bool = False):
    """A displaced rectangle (pouch): local surface z = -height(x, y) over |x| <= hx, |y| <= hy (half (2, B, 1)).

    ``height(x, y[, grad]) -> (h, dh/dx, dh/dy)`` is zero on the border (grad=False: slopes None). The hit
    is found by fixed-point iteration from the flat rectangle's hit (t <- plane hit of the ray with the
    plane shifted by h at the current point), which converges for the small slopes used; rays that leave
    the outline miss. Returns (t, normal, local_xy (2, ...)), or t alone with ``t_only``.
    """
    ol = to_local(o - c, rot)
    dl = to_local(d, rot)
    hx, hy = half[0], half[1]
    dz = torch.where(dl[2].abs() < 1e-9, torch.full_like(dl[2], 1e-9), dl[2])
    t = -ol[2] / dz
    for _ in range(iters):
        x, y = ol[0] + t * dl[0], ol[1] + t * dl[1]
        h, _, _ = height(x.clamp(-hx, hx), y.clamp(-hy, hy), False)
        t = (-h - ol[2]) / dz
    x, y = ol[0] + t * dl[0], ol[1] + t * dl[1]
    inside = (x.abs() <= hx) & (y.abs() <= hy) & (t > eps)
    if t_only:  # shadow rays: the distance is all they need
        return torch.where(inside, t, torch.full_like(t, INF))
    _, gx, gy = height(x.clamp(-hx, hx), y.clamp(-hy, hy))
    n = to_world(normalize(torch.stack([-gx, -gy, -torch.ones_like(gx)])), rot)
    n = torch.where(dot(n, d) > 0, -n, n)  # seen from behind: the back of the sheet
    return torch.where(inside, t, torch.full_like(t, INF)), n, torch.stack([x, y])
