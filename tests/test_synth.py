"""The label renderer (gan_lab.synth): determinism, ranges, albedo vs lighting, geometry, tags, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from gan_lab.registry import ConfigError
from gan_lab.synth import RenderConfig, render_batch, render_sample
from gan_lab.synth import geometry as g
from gan_lab.synth import lighting, products
from gan_lab.commands.albedo_synth import main as synth_main

FIELDS = ("image", "albedo", "mask", "shading", "normals", "specular", "depth")
CLEAN = dict(noise=(0.0, 0.0), blur_sigma=(0.0, 0.0), jpeg_prob=0.0)  # no camera degradations


@pytest.fixture(scope="module")
def batch4():
    return render_batch(4, seed=3, size=32)


def _close_to_batch(alone, batch, row):
    """The batched-path tolerance (RenderConfig.batched): maps within 1e-4; the photo within 1e-4 on average
    and a few 8-bit codes at most (a rounding flip before the 8-bit JPEG can move a block by a code)."""
    for f in FIELDS:
        a, b = getattr(alone, f)[0], getattr(batch, f)[row]
        if f == "image":
            assert (a - b).abs().mean() <= 1e-4 and (a - b).abs().max() <= 4 / 255 + 1e-6, f
        else:
            assert torch.allclose(a, b, atol=1e-4, rtol=0), f


def test_same_seed_same_bytes_and_sample_independent_of_batch(batch4):
    again = render_batch(4, seed=3, size=32)  # the same call again: bit-identical
    for f in FIELDS:
        assert torch.equal(getattr(batch4, f), getattr(again, f)), f
    assert json.dumps(batch4.params) == json.dumps(again.params)
    alone = render_sample(3, 2, size=32)  # another batch composition: equal within the batched tolerance
    _close_to_batch(alone, batch4, 2)
    assert alone.params[0] == batch4.params[2]
    other = render_batch(2, seed=4, size=32)
    assert not torch.equal(other.image, batch4.image[:2])
    odd = render_batch(3, seed=3, size=30, indices=[3, 1, 2])  # another composition, an odd size
    _close_to_batch(render_sample(3, 1, size=30), odd, 1)


def test_sample_by_sample_is_bit_identical_in_any_batch():
    cfg = RenderConfig(batched=False)
    b = render_batch(3, seed=3, size=30, config=cfg, indices=[3, 1, 2])
    alone = render_sample(3, 1, size=30, config=cfg)
    for f in FIELDS:
        assert torch.equal(getattr(alone, f)[0], getattr(b, f)[1]), f
    assert alone.params[0] == b.params[1]


def test_batched_pass_matches_sample_by_sample(batch4):
    slow = render_batch(4, seed=3, size=32, config=RenderConfig(batched=False))
    for f in FIELDS:
        assert torch.allclose(getattr(slow, f), getattr(batch4, f), atol=1e-4), f


def test_artwork_thread_and_torch_threads_do_not_change_samples():
    """The artwork is drawn on a helper thread (render._artwork_job): renders made at once from several
    threads, pipelined over chunks, or with another torch thread count are the same bytes."""
    from concurrent.futures import ThreadPoolExecutor

    from gan_lab.synth import render, scene

    ref = render_batch(3, seed=5, size=16, indices=[4, 0, 9])
    with ThreadPoolExecutor(3) as pool:  # concurrent callers share the one artwork thread
        outs = list(pool.map(lambda _: render_batch(3, seed=5, size=16, indices=[4, 0, 9]), range(3)))
    n = torch.get_num_threads()
    try:
        torch.set_num_threads(2 if n == 1 else 1)
        outs.append(render_batch(3, seed=5, size=16, indices=[4, 0, 9]))
    finally:
        torch.set_num_threads(n)
    for out in outs:
        for f in FIELDS:
            assert torch.equal(getattr(ref, f), getattr(out, f)), f
        assert out.params == ref.params
    cfg = RenderConfig()  # the helper's textures are the ones drawn directly
    for (lab, back, info), i in zip(render._artwork_job(cfg, 5, [4, 0]).result(), [4, 0]):
        want = scene.textures(5, i, cfg, scene.sample_geometry(5, i, cfg))
        assert torch.equal(lab, want[0]) and torch.equal(back, want[1]) and info == want[2]
    slow = RenderConfig(batched=False)  # one pass per sample, the next sample's artwork pipelined
    pipelined = render_batch(3, seed=5, size=16, config=slow, indices=[4, 0, 9])
    for j, i in enumerate([4, 0, 9]):
        alone = render_sample(5, i, size=16, config=slow)
        for f in FIELDS:
            assert torch.equal(getattr(alone, f)[0], getattr(pipelined, f)[j]), f


def test_large_batches_render_in_chunks():
    from gan_lab.synth import render

    b = render_batch(render.CHUNK + 2, seed=2, size=8, indices=list(range(render.CHUNK - 1, 2 * render.CHUNK + 1)))
    assert b.image.shape[0] == render.CHUNK + 2 and [p["index"] for p in b.params] == list(range(render.CHUNK - 1, 2 * render.CHUNK + 1))
    _close_to_batch(render_sample(2, render.CHUNK, size=8), b, 1)


def test_jpeg_backends_degrade_alike():
    from gan_lab.synth import camera

    x = render_batch(2, seed=1, size=32, config=RenderConfig(jpeg_prob=0.0)).image
    pil, kornia = camera.jpeg(x, [60, 60], "pil"), camera.jpeg(x, [60, 60], "kornia")
    assert torch.equal(pil, camera.jpeg(x, [60, 60], "pil"))  # libjpeg is deterministic
    e_pil, e_kornia = (pil - x).abs().mean(), (kornia - x).abs().mean()
    assert 0 < e_pil and 0.5 < e_pil / e_kornia < 2  # the same quality scale, a comparable loss


def test_shapes_dtypes_ranges(batch4):
    b = batch4
    for f in ("image", "albedo", "shading", "normals", "specular"):
        assert getattr(b, f).shape == (4, 3, 32, 32) and getattr(b, f).dtype == torch.float32, f
    assert b.mask.shape == b.depth.shape == (4, 1, 32, 32)
    assert 0 <= b.image.min() and b.image.max() <= 1 and 0 <= b.albedo.min() and b.albedo.max() <= 1
    assert set(b.mask.unique().tolist()) <= {0.0, 1.0} and b.mask.sum() > 0
    assert b.shading.min() >= 0 and b.specular.min() >= 0
    assert torch.allclose(b.normals.norm(dim=1), torch.ones(4, 32, 32), atol=1e-4)
    json.dumps(b.params)  # JSON-serialisable
    for p in b.params:
        assert set(p["difficulty"]) <= {"specular", "shadow", "coloured_light"}
        assert p["product"] in ("bottle", "can", "box", "pouch") and p["seed"] == 3


def test_albedo_independent_of_lighting():
    dim = RenderConfig(n_lights=(1, 1), specular_strength=(0.0, 0.0), shadow_prob=0.0, coloured_light_prob=0.0)
    harsh = RenderConfig(n_lights=(3, 3), specular_strength=(1.5, 1.5), shadow_prob=1.0, coloured_light_prob=1.0)
    a, b = render_batch(3, 7, 32, dim), render_batch(3, 7, 32, harsh)
    assert torch.equal(a.albedo, b.albedo) and torch.equal(a.mask, b.mask) and torch.equal(a.normals, b.normals)
    assert (a.image - b.image).abs().mean() > 0.02


def test_albedo_is_the_label_inside_the_mask_and_unchanged_outside(tmp_path):
    for name, colour in (("red", (200, 30, 40)), ("blue", (20, 60, 220))):
        (tmp_path / name).mkdir()
        Image.new("RGB", (64, 32), colour).save(tmp_path / name / "label.png")
    kw = dict(supersample=1, artwork_prob=1.0, products={"can": 1, "box": 1})
    red = render_batch(3, 1, 32, RenderConfig(artwork_dir=str(tmp_path / "red"), **kw))
    blue = render_batch(3, 1, 32, RenderConfig(artwork_dir=str(tmp_path / "blue"), **kw))
    m = red.mask.bool().expand(-1, 3, -1, -1)
    assert m.any() and torch.equal(red.mask, blue.mask)
    assert torch.equal(red.albedo[~m], blue.albedo[~m])  # outside the label: nothing changed
    want = torch.tensor([200, 30, 40]).view(1, 3, 1, 1).expand_as(red.albedo)[m] / 255
    assert (red.albedo[m] - want).abs().max() < 2e-3  # inside: the artwork's colour, unlit


def test_image_is_albedo_times_shading_plus_specular_without_camera_effects():
    b = render_batch(3, 5, 32, RenderConfig(supersample=1, **CLEAN))
    lin = lighting.srgb_to_linear(b.image)
    model = lighting.srgb_to_linear(b.albedo) * b.shading + b.specular
    ok = model < 0.98  # not clipped
    assert ok.float().mean() > 0.5
    assert (lin[ok] - model[ok]).abs().max() < 1e-3


def test_difficulty_tags_follow_the_parameters():
    base = dict(products={"can": 1.0}, **CLEAN)
    shiny = render_batch(4, 0, 32, RenderConfig(specular_strength=(3.0, 3.0), shininess=(30.0, 30.0), **base))
    matte = render_batch(4, 0, 32, RenderConfig(specular_strength=(0.0, 0.0), **base))
    assert sum("specular" in p["difficulty"] for p in shiny.params) >= 3
    assert not any("specular" in p["difficulty"] for p in matte.params)
    shaded = render_batch(4, 0, 32, RenderConfig(shadow_prob=1.0, ambient=(0.05, 0.05), light_size=(0.01, 0.01), **base))
    open_ = render_batch(4, 0, 32, RenderConfig(shadow_prob=0.0, **base))  # a can is convex: no cast shadow on it
    assert any("shadow" in p["difficulty"] for p in shaded.params)
    assert not any("shadow" in p["difficulty"] for p in open_.params)
    colour = render_batch(4, 0, 32, RenderConfig(coloured_light_prob=1.0, light_saturation=(0.8, 0.8),
                                                 white_balance=(0.0, 0.0), **base))
    white = render_batch(4, 0, 32, RenderConfig(coloured_light_prob=0.0, colour_temperature=(6500.0, 6500.0),
                                                white_balance=(0.0, 0.0), wb_error=0.0, **base))
    assert all("coloured_light" in p["difficulty"] for p in colour.params)
    assert not any("coloured_light" in p["difficulty"] for p in white.params)


def _vec(*v):
    """A per-sample vector (3, 1, 1) or, with one value, a per-sample scalar (1, 1)."""
    x = torch.tensor(v, dtype=torch.float32)
    return x.view(1, 1) if len(v) == 1 else x.view(-1, 1, 1)


def test_ray_primitive_intersections_by_hand():
    o = torch.zeros(3, 1, 1)  # vectors are components first: (3, samples, rays)
    d = torch.tensor([[[0.0, 0.0, 1.0], [0.6, 0.0, 0.8]]]).permute(2, 0, 1)
    vec = one = _vec
    t, n, side = g.capped_cylinder(o, d, vec(0, 0, 5), vec(0, -1, 0), one(1.0), one(2.0))
    assert t[0, 0] == pytest.approx(4.0) and torch.allclose(n[:, 0, 0], torch.tensor([0.0, 0.0, -1.0])) and side[0, 0]
    # second ray: |(0.6t, 0.8t - 5)| = 1 in the xz plane -> t^2 - 8t + 24 = 0 has no root: a miss
    assert t[0, 1] == math.inf
    t, n, local, face = g.box(o, d, vec(0, 0, 5), torch.eye(3).view(3, 3, 1, 1), vec(1.0, 1.0, 1.0))
    assert t[0, 0] == pytest.approx(4.0) and face[0, 0] == 4 and torch.allclose(n[:, 0, 0], torch.tensor([0.0, 0.0, -1.0]))
    assert t[0, 1] == math.inf  # x = 0.6 * 4.x > 1 at the front face plane, and the ray leaves the slab
    rot = g.rotation(0.3, -0.2, 0.1).view(3, 3, 1, 1)  # to_local / to_world: R^T v and R v, inverse of each other
    v = torch.randn(3, 1, 4)
    torch.testing.assert_close(g.to_local(v, rot)[:, 0].T, v[:, 0].T @ rot[:, :, 0, 0])
    torch.testing.assert_close(g.to_world(g.to_local(v, rot), rot), v)


def test_select_gathers_columns_of_every_row():
    x = torch.arange(24.0).view(2, 3, 4)
    idx = torch.tensor([3, 0, 0, 2])
    assert torch.equal(g.select(x, idx), x[..., idx])
    assert g.select(x, idx[:0]).shape == (2, 3, 0)


def test_bounding_sphere_culling_changes_nothing():
    from gan_lab.synth.scene import sample_geometry

    cfg = RenderConfig()
    geos = [sample_geometry(0, i, cfg) for i in range(12)]
    for kind in ("bottle", "can", "box", "pouch"):
        ps = [{**x["shape"], "centre": x["centre"], "scale": x["scale"]} for x in geos if x["product"] == kind]
        assert ps, f"no {kind} among the sampled scenes: raise the sample count"
        P = products.stack(kind, ps, "cpu")
        d = g.camera_rays(torch.full((len(ps),), math.tan(math.radians(20))), 24)
        o = torch.zeros(3, len(ps), 1).expand_as(d)
        full, culled = products.hit(kind, o, d, P), products.hit_culled(kind, o, d, P)
        # Two code paths: their floats may differ in the last bits (AVX-512 vs AMX kernels), so a grazing ray
        # may hit in one and miss in the other. A culling bug loses whole objects: thousands of rays.
        hit, hit_culled = torch.isfinite(full[0]), torch.isfinite(culled[0])
        assert hit.any() and (hit != hit_culled).float().mean() <= 1e-3, kind
        both = hit & hit_culled
        for a, b in zip(full, culled):
            torch.testing.assert_close(a[..., both], b[..., both], rtol=1e-4, atol=1e-4, msg=kind)


def test_sh_irradiance_matches_a_numerical_cosine_integral():
    gen = torch.Generator().manual_seed(0)
    coeffs = torch.randn(1, 9, 3, generator=gen) * 0.3
    coeffs[0, 0] += 2.0  # keep radiance positive so the clamp does not act
    n = g.normalize(torch.randn(3, 1, 5, generator=gen))
    # integrate L(w) max(n.w, 0) over the sphere on a fine (theta, phi) grid
    th = (torch.arange(400) + 0.5) / 400 * math.pi
    ph = (torch.arange(800) + 0.5) / 800 * 2 * math.pi
    T, Ph = torch.meshgrid(th, ph, indexing="ij")
    w = torch.stack([T.sin() * Ph.cos(), T.sin() * Ph.sin(), T.cos()], -1).reshape(-1, 3).double()
    dA = (T.sin() * (math.pi / 400) * (2 * math.pi / 800)).reshape(-1).double()
    L = lighting.sh_basis(w.T).T @ coeffs[0].double()  # (M, 3)
    want = torch.stack([((w @ nk.double()).clamp_min(0) * dA)[:, None].mul(L).sum(0) for nk in n[:, 0].T])
    got = lighting.sh_irradiance(n, coeffs)[:, 0].T.double()
    assert torch.allclose(got, want, rtol=2e-3, atol=2e-3)


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="n_lights"):
        RenderConfig(n_lights=(0, 5))
    with pytest.raises(ConfigError, match="products"):
        RenderConfig(products={"sphere": 1.0})
    with pytest.raises(ConfigError, match="unknown render config"):
        RenderConfig.from_dict({"shadow_probability": 0.5})


def test_albedo_synth_cli_writes_pairs_and_manifest_and_refuses_overwrite(tmp_path, capsys):
    out = tmp_path / "renders"
    synth_main([f"out={out}", "n=3", "size=16", "batch=2", "seed=5"])
    for sub in ("input", "albedo", "mask"):
        names = sorted(p.name for p in (out / sub).iterdir())
        assert names == ["000000.png", "000001.png", "000002.png"], sub
    assert Image.open(out / "input" / "000001.png").size == (16, 16)
    assert Image.open(out / "mask" / "000001.png").mode == "L"
    lines = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    assert [x["index"] for x in lines] == [0, 1, 2]
    assert lines[2]["input"] == "input/000002.png" and lines[2]["seed"] == 5
    assert lines[2]["difficulty"] == lines[2]["params"]["difficulty"] and "lighting" in lines[2]["params"]
    # the files hold the render: sample 2 alone gives the same photo
    ref = render_sample(5, 2, size=16)
    arr = np.asarray(Image.open(out / "input" / "000002.png"), np.float32) / 255
    assert np.abs(arr - ref.image[0].permute(1, 2, 0).numpy()).max() <= 0.5 / 255 + 1e-6
    with pytest.raises(ConfigError, match="not empty"):
        synth_main([f"out={out}", "n=1", "size=16"])
    synth_main([f"out={out}", "n=1", "size=16", "overwrite=true"])
    assert [p.name for p in (out / "albedo").iterdir()] == ["000000.png"]
    assert len((out / "manifest.jsonl").read_text().splitlines()) == 1
    with pytest.raises(ConfigError, match="n='abc'"):
        synth_main([f"out={tmp_path / 'x'}", "n=abc"])
    with pytest.raises(ConfigError, match="missing"):
        synth_main(["n=3"])


def test_label_gradients_equal_the_full_plane_formula():
    """artwork._gradient (per-channel planes, linear ones widened by a nearest resize) gives the bytes of
    the plain (h, w, 3) formula it replaced."""
    from gan_lab.synth import artwork

    for w, h, kind in ((37, 16, "vertical"), (50, 9, "horizontal"), (41, 30, "radial"), (8, 8, "radial")):
        c0, c1 = (200, 13, 77), (4, 250, 128)
        y, x = np.arange(h, dtype=np.float32)[:, None], np.arange(w, dtype=np.float32)[None, :]
        t = {"vertical": y / max(h - 1, 1), "horizontal": x / max(w - 1, 1),
             "radial": np.clip(np.hypot((x - w / 2) / w, (y - h / 2) / h) * 1.6, 0, 1)}[kind]
        want = (1 - t)[..., None] * np.array(c0, np.float32) + t[..., None] * np.array(c1, np.float32)
        want = np.broadcast_to(want.round().astype(np.uint8), (h, w, 3))
        assert np.array_equal(np.asarray(artwork._gradient(w, h, c0, c1, kind)), want), kind


def test_convex_products_skip_only_shadow_rays_that_cannot_hit(monkeypatch):
    """Shadow rays leaving the lit side of a can or box are not traced (lighting._shadow_visibility): with
    the shortcut switched off (no kind convex), every map is the same bytes."""
    from gan_lab.synth import products as prod

    cfg = RenderConfig(products={"can": 0.5, "box": 0.5}, light_size=(0.1, 0.12), **CLEAN)
    fast = render_batch(6, seed=11, size=24, config=cfg)
    monkeypatch.setattr(prod, "CONVEX", ())
    traced = render_batch(6, seed=11, size=24, config=cfg)
    for f in FIELDS:
        assert torch.equal(getattr(fast, f), getattr(traced, f)), f
    assert fast.params == traced.params
