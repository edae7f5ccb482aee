"""Albedo extraction: nets, data, a short fit, train() end to end, extract-albedo, baselines (all tiny, CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from PIL import Image
from torch.utils.data import DataLoader

from conftest import compose
from gan_lab.registry import ConfigError

TINY_ALBEDO = [
    "experiment=albedo_synth", "dataset=albedo_folder", "dataset.image_size=32", "dataset.batch_size=4",
    "dataset.val_fraction=0.2", "dataset.test_fraction=0.3",
    "model.generator.width=8", "model.generator.depth=5", "model.discriminator.width=8",
    "model.discriminator.n_layers=2", "trainer.max_steps=6", "trainer.log_every_n_steps=1",
    "trainer.enable_progress_bar=false", "eval.every_n_steps=3", "eval.n_samples=4", "samples.every_n_steps=3",
    "samples.n_inputs=3", "checkpoint.every_n_steps=3", "logger=none",
]


def make_pairs(root: Path, n: int = 16, size: int = 32, seed: int = 0) -> Path:
    """A paired folder (input/albedo/mask + manifest) of two-colour labels under smooth coloured shading."""
    rng = np.random.default_rng(seed)
    for d in ("input", "albedo", "mask"):
        (root / d).mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:size, 0:size] / size
    lines = []
    for i in range(n):
        alb = np.zeros((size, size, 3)) + rng.uniform(0.2, 0.9, 3)
        alb[: size // 2] = rng.uniform(0.2, 0.9, 3)
        mask = np.zeros((size, size), bool)
        mask[size // 8: -size // 8, size // 8: -size // 8] = True
        img = alb * (0.4 + 0.6 * (xx if i % 2 else yy))[..., None] * rng.uniform(0.5, 1.0, 3)
        tags = (["specular"] if i % 3 == 0 else []) + (["coloured_light"] if i % 4 == 1 else [])
        name = f"{i:06d}.png"
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(root / "input" / name)
        Image.fromarray((alb * 255).round().astype(np.uint8)).save(root / "albedo" / name)
        Image.fromarray(mask.astype(np.uint8) * 255).save(root / "mask" / name)
        lines.append(json.dumps({"index": i, "input": f"input/{name}", "params": {"difficulty": tags}}))
    (root / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """On the shared 2-core machine, 2 OpenMP threads under load ran these tiny convolutions ~100x slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    return make_pairs(tmp_path_factory.mktemp("albedo") / "pairs")


@pytest.fixture(scope="module")
def trained(pairs, tmp_path_factory):
    """One tiny pix2pix run through train() on the paired folder: (metrics, run_dir)."""
    from gan_lab.train import train

    out = tmp_path_factory.mktemp("albedo_run") / "run"
    metrics, objs = train(compose([*TINY_ALBEDO, f"dataset.root={pairs}"], out, out.parent / "cache"))
    assert objs["trainer"].global_step == 6
    return metrics, out


# ------------------------------------------------------------------------------------------------ nets


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
def test_unet_shapes_and_patch_discriminator(norm):
    from gan_lab.nets import PatchDiscriminator, UNetGenerator

    g = UNetGenerator(3, 3, width=4, depth=4, norm=norm, dropout=0.5)
    y = g(torch.randn(2, 3, 32, 48))
    assert y.shape == (2, 3, 32, 48)
    with pytest.raises(ValueError, match="divisible by 16"):
        g(torch.randn(1, 3, 24, 32))
    d = PatchDiscriminator(6, width=4, n_layers=3, norm=norm)
    score, feats = d(torch.randn(2, 3, 64, 64), torch.randn(2, 3, 64, 64), features=True)
    assert score.shape == (2, 1, 6, 6) == (2, 1, d.score_size(64), d.score_size(64)) and len(feats) == 4
    with pytest.raises(ConfigError, match="model.generator.norm='group'"):
        UNetGenerator(3, 3, 4, 3, norm="group")


# ------------------------------------------------------------------------------------------------ data


def test_folder_datamodule_items_tags_and_split(pairs):
    from gan_lab.data import build_datamodule
    from gan_lab.data.albedo import DIFFICULTY_TAGS

    dm = build_datamodule({"name": "albedo_folder", "root": str(pairs), "image_size": 16, "val_fraction": 0.2,
                           "test_fraction": 0.3, "batch_size": 4})
    sizes = {s: len(dm.dataset(s)) for s in ("train", "val", "test")}
    assert sizes == {"train": 8, "val": 3, "test": 5}
    seen = set()
    for s in sizes:
        for i in range(sizes[s]):
            it = dm.dataset(s)[i]
            seen.add(int(it["index"]))
            assert it["input"].shape == it["albedo"].shape == (3, 16, 16) and it["mask"].shape == (1, 16, 16)
            assert set(it["mask"].unique().tolist()) <= {0.0, 1.0}
            k = int(it["index"])
            expect = [k % 3 == 0, False, k % 4 == 1]
            assert it["difficulty"].tolist() == [float(e) for e in expect], (k, DIFFICULTY_TAGS)
    assert seen == set(range(16))  # the splits partition the pairs
    batch = next(iter(dm.train_dataloader()))
    assert batch["input"].shape == (4, 3, 16, 16) and batch["difficulty"].shape == (4, 3)


def test_folder_errors_name_the_problem(tmp_path):
    from gan_lab.data import build_datamodule
    from gan_lab.errors import DatasetNotFoundError

    dm = build_datamodule({"name": "albedo_folder", "root": str(tmp_path / "nope"), "image_size": 16})
    with pytest.raises(DatasetNotFoundError, match="no input/ folder"):
        dm.setup()
    with pytest.raises(ConfigError, match="dataset.n_train"):
        build_datamodule({"name": "albedo_folder", "root": str(tmp_path), "image_size": 16, "n_train": 3})


def test_render_cache_key_changes_with_the_machine_fonts(monkeypatch, tmp_path):
    """Label text is drawn with the machine's TrueType fonts: a cache copied to a machine with other fonts
    must not pass its renders off as this machine's (the key names the font files)."""
    from gan_lab.data.albedo import renderer_fingerprint
    from gan_lab.synth import artwork

    fonts = [tmp_path / "A.ttf", tmp_path / "B.ttf"]
    for i, f in enumerate(fonts):
        f.write_bytes(b"x" * (10 + i))
    monkeypatch.setattr(artwork, "font_files", lambda: (str(fonts[0]), str(fonts[1])))
    both = renderer_fingerprint()
    assert renderer_fingerprint() == both  # stable
    monkeypatch.setattr(artwork, "font_files", lambda: (str(fonts[0]),))
    one = renderer_fingerprint()
    monkeypatch.setattr(artwork, "font_files", lambda: ())
    assert len({both, one, renderer_fingerprint()}) == 3


def test_render_stream_partitions_the_index_space(monkeypatch):
    """Each (worker, rank) renders its own chunks of sample indices; together they cover 0, 1, 2, ..."""
    from gan_lab.data import albedo as A

    calls = []

    def fake_render(n, seed, size, render, start=0):
        calls.append((seed, start))
        return [A._item(torch.zeros(3, size, size), torch.zeros(3, size, size), torch.ones(1, size, size),
                        start + i, []) for i in range(n)]

    monkeypatch.setattr(A, "render_items", fake_render)
    stream = A.RenderStream(split_seed=5, size=8, chunk_size=4, render=None)
    got = {}
    for wid in range(3):
        monkeypatch.setattr(A.RenderStream, "shard", staticmethod(lambda w=wid: (w, 3)))
        it = iter(stream)
        got[wid] = [int(next(it)["index"]) for _ in range(8)]
    assert got[0] == [0, 1, 2, 3, 12, 13, 14, 15] and got[1] == [4, 5, 6, 7, 16, 17, 18, 19]
    assert sorted(sum(got.values(), [])) == list(range(24))
    assert {s for s, _ in calls} == {5}
    dm = A.AlbedoSynthDataModule(image_size=8, split_seed=5)
    assert len({dm.holdout_seed("val"), dm.holdout_seed("test"), 5}) == 3 and dm.holdout_seed("test") >= 10**12


def test_synth_datamodule_renders_fixed_holdout(tmp_path):
    pytest.importorskip("gan_lab.synth.render")
    from gan_lab.data.albedo import AlbedoSynthDataModule

    kw = dict(image_size=16, n_train=3, n_val=2, n_test=3, chunk_size=2)
    a = AlbedoSynthDataModule(**kw)
    b = AlbedoSynthDataModule(**kw, cache_dir=str(tmp_path))
    c = AlbedoSynthDataModule(**kw, cache_dir=str(tmp_path))  # loads b's renders from the cache
    b.setup()
    assert len(list(tmp_path.glob("albedo_synth-*.pt"))) == 3  # val, test, train pool
    ta, tb, tc = a.dataset("test")[2], b.dataset("test")[2], c.dataset("test")[2]
    for k in ("input", "albedo", "mask", "difficulty", "index"):
        assert torch.equal(ta[k], tb[k]) and torch.equal(ta[k], tc[k])
    v = (ta["input"] + 1) * 127.5
    assert (v - v.round()).abs().max() < 1e-3  # 8-bit values, like a PNG
    assert len(a.dataset("train")) == 3 and ta["input"].shape == (3, 16, 16)
    assert not torch.equal(a.dataset("train")[0]["albedo"], ta["albedo"])


# ------------------------------------------------------------------------------------------------ module


def _module(lambda_adv: float, generator: dict | None = None, adversarial: str = "vanilla", channels: int = 3,
            **objective):
    from gan_lab.config import group_option
    from gan_lab.modules.albedo import AlbedoTranslator

    model = group_option("model", "pix2pix", generator={"width": 8, "depth": 4, "norm": "instance", **(generator or {})},
                         discriminator={"width": 8, "n_layers": 2, "norm": "instance"},
                         optim={"g_lr": 2e-3, "d_lr": 2e-3}, ema={"decay": 0.0},
                         objective={"lambda_adv": lambda_adv, **objective})
    adv = {"name": adversarial, "lambda_gp": 0.0}
    return AlbedoTranslator(num_classes=0, channels=channels, image_size=16, model=model, head={"name": "none"},
                            adversarial=adv)


@pytest.mark.parametrize("lambda_adv,extra,generator", [
    (1.0, {"lambda_ssim": 1.0, "lambda_fm": 1.0}, {}), (0.0, {}, {}),
    (0.0, {"lambda_si_mse": 300.0, "lambda_grad": 30.0}, {"input_skip": True, "output": "gain"}),
    (0.0, {"lambda_si_mse": 300.0}, {"input_skip": True, "output": "gain_residual", "global_colour": True})])
def test_short_fit_lowers_l1(pairs, lambda_adv, extra, generator):
    from gan_lab.data import build_datamodule
    from gan_lab.data.albedo import stack_items

    torch.manual_seed(0)
    dm = build_datamodule({"name": "albedo_folder", "root": str(pairs), "image_size": 16})
    batch = stack_items([dm.dataset("train")[i] for i in range(4)])
    module = _module(lambda_adv, generator, **extra)
    assert (module.D is None) == (lambda_adv == 0)

    def l1():
        module.G.eval()
        with torch.no_grad():
            return (module.translate(module.G, batch["input"]) - batch["albedo"]).abs().mean().item()

    before = l1()
    loader = DataLoader([batch] * 30, batch_size=None)
    trainer = pl.Trainer(max_steps=30, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu")
    trainer.fit(module, loader)
    assert trainer.global_step == 30  # one iteration = one global step, with or without a discriminator
    after = l1()
    assert after < 0.6 * before, (before, after)


def test_generator_loss_is_the_weighted_sum_of_its_terms():
    from gan_lab.losses.reconstruction import gradient_loss, l1_loss, lab_loss, si_mse_loss

    torch.manual_seed(1)
    m = _module(0.5, {"input_skip": True}, lambda_si_mse=200.0, lambda_grad=20.0, lambda_ssim=2.0, grad_scales=2,
                l1_outside_mask=0.25, lambda_lab=0.3)
    x, y = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    mask = (torch.rand(2, 1, 16, 16) > 0.5).float()
    fake = m.translate(m.G, x)
    out = m.generator_losses(x, y, mask, fake)
    w = mask + (1 - mask) * 0.25
    p01, y01 = (fake + 1) / 2, (y + 1) / 2
    assert torch.allclose(out["g_l1"], l1_loss(fake, y, w))
    assert torch.allclose(out["g_si_mse"], si_mse_loss(p01, y01, w))
    assert torch.allclose(out["g_grad"], gradient_loss(p01, y01, w, 2))
    assert torch.allclose(out["g_lab"], lab_loss(p01, y01, w))
    total = (100 * out["g_l1"] + 200 * out["g_si_mse"] + 20 * out["g_grad"] + 2 * out["g_ssim"] + 0.5 * out["g_adv"]
             + 0.3 * out["g_lab"])
    assert torch.allclose(out["g_loss"], total)


def test_gain_output_multiplies_the_photo_in_linear_light():
    from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb

    from gan_lab.modules.albedo import GAIN_RANGE, apply_gain

    photo = torch.rand(2, 3, 8, 8) * 2 - 1
    assert torch.allclose(apply_gain(photo, torch.zeros_like(photo)), photo, atol=1e-5)  # gain 1: the photo
    raw = torch.randn(2, 3, 8, 8)
    lin = rgb_to_linear_rgb((photo + 1) / 2) * torch.exp(GAIN_RANGE * torch.tanh(raw / GAIN_RANGE))
    assert torch.allclose(apply_gain(photo, raw), linear_rgb_to_rgb(lin.clamp(0, 1)) * 2 - 1, atol=1e-5)
    m = _module(0.0, {"output": "gain", "input_skip": True})
    assert m.G.input_skip and isinstance(m.G.mix[-1], torch.nn.Identity)  # raw channels, no tanh
    with pytest.raises(ConfigError, match="model.generator.output='log'"):
        _module(0.0, {"output": "log"})


def test_gain_residual_output_adds_a_residual_after_the_gain():
    from gan_lab.modules.albedo import apply_gain, apply_gain_residual

    photo = torch.rand(2, 3, 8, 8) * 2 - 1
    raw_gain, residual = torch.randn(2, 3, 8, 8), 0.3 * torch.randn(2, 3, 8, 8)
    expected = (apply_gain(photo, raw_gain) + residual).clamp(-1, 1)
    assert torch.allclose(apply_gain_residual(photo, torch.cat([raw_gain, residual], 1)), expected, atol=1e-6)
    zero_residual = torch.cat([raw_gain, torch.zeros_like(raw_gain)], 1)
    assert torch.allclose(apply_gain_residual(photo, zero_residual), apply_gain(photo, raw_gain), atol=1e-6)
    with pytest.raises(ValueError, match="6 raw channels"):
        apply_gain_residual(photo, raw_gain)
    m = _module(0.0, {"output": "gain_residual", "input_skip": True})
    assert m.G.mix[-2].out_channels == 6
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    out = m.translate(m.G, x)
    assert out.shape == x.shape and out.abs().max() <= 1


def test_global_colour_transform_matches_its_formula_and_starts_as_identity():
    from gan_lab.modules.albedo import apply_colour_transform, apply_gain_residual

    torch.manual_seed(3)
    image = torch.rand(2, 3, 4, 5) * 1.6 - 0.8
    vec = 0.1 * torch.randn(2, 12)
    a = (image + 1) / 2
    for i in range(2):  # per image: M = I + vec[:9] (row-major), b = vec[9:], in [0, 1] sRGB
        m, b = torch.eye(3) + vec[i, :9].reshape(3, 3), vec[i, 9:]
        manual = (m @ a[i].reshape(3, -1) + b[:, None]).reshape(3, 4, 5)
        assert torch.allclose(apply_colour_transform(image, vec)[i], (manual * 2 - 1).clamp(-1, 1), atol=1e-6)
    assert torch.allclose(apply_colour_transform(image, torch.zeros(2, 12)), image, atol=1e-6)
    with pytest.raises(ValueError, match="RGB images and \\(N, 12\\)"):
        apply_colour_transform(image, torch.zeros(2, 9))
    m = _module(0.0, {"output": "gain_residual", "input_skip": True, "global_colour": True})
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    raw, vec = m.G(x)
    assert vec.shape == (2, 12) and not vec.abs().any()  # zero-initialised: the identity transform
    assert torch.allclose(m.translate(m.G, x), apply_gain_residual(x, raw), atol=1e-6)
    loss = m.translate(m.G, x).mean()
    loss.backward()
    assert m.G.global_head.weight.grad.abs().sum() > 0  # the head learns through the output
    plain = _module(0.0, {"output": "gain_residual", "input_skip": True})
    assert plain.G.global_head is None and isinstance(plain.G(x), torch.Tensor)
    with pytest.raises(ConfigError, match="global_colour=true needs RGB photos"):
        _module(0.0, {"output": "gain", "global_colour": True}, channels=1)


def test_refine_blocks_match_their_formula_and_need_the_input_skip():
    from gan_lab.nets.unet import ResidualBlock, UNetGenerator

    block = ResidualBlock(4)
    x = torch.randn(2, 4, 8, 8)
    expected = x + block.body[2](torch.nn.functional.leaky_relu(block.body[0](x), 0.2))
    assert torch.allclose(block(x), expected, atol=1e-6)
    net = UNetGenerator(3, 3, width=8, depth=3, input_skip=True, refine=2)
    assert sum(isinstance(m, ResidualBlock) for m in net.mix) == 2
    assert net(torch.randn(2, 3, 16, 16)).shape == (2, 3, 16, 16)
    with pytest.raises(ConfigError, match="model.generator.refine=2"):
        UNetGenerator(3, 3, width=8, depth=3, input_skip=False, refine=2)
    m = _module(0.0, {"output": "gain_residual", "input_skip": True, "refine": 1})
    assert m.G.mix[-2].out_channels == 6 and isinstance(m.G.mix[2], ResidualBlock)


def test_hflip_flips_photo_albedo_and_mask_together():
    from gan_lab.data.sampling import FlipByIndex

    item = {"input": torch.arange(12.0).view(1, 3, 4), "albedo": torch.arange(12.0).view(1, 3, 4) + 1,
            "mask": torch.ones(1, 3, 4), "difficulty": torch.tensor([1.0, 0.0, 0.0]), "index": torch.tensor(5)}
    ds = FlipByIndex([item])
    assert ds[0] is item and len(ds) == 2
    f = ds[1]
    for k in ("input", "albedo", "mask"):
        assert torch.equal(f[k], item[k].flip(-1))
    assert torch.equal(f["difficulty"], item["difficulty"]) and int(f["index"]) == 5


def test_render_workers_give_the_same_items():
    pytest.importorskip("gan_lab.synth.render")
    from gan_lab.data.albedo import render_chunks

    one = render_chunks(4, 3, 16, None, start=2, chunk_size=2, workers=1)
    two = render_chunks(4, 3, 16, None, start=2, chunk_size=2, workers=2)
    assert [int(i["index"]) for i in two] == [2, 3, 4, 5]
    for a, b in zip(one, two):
        for k in ("input", "albedo", "mask", "difficulty"):
            assert torch.equal(a[k], b[k]), k


def test_bad_loss_values_fail_naming_the_key():
    with pytest.raises(ConfigError, match="model.objective.lambda_l1=-1"):
        _module(1.0, lambda_l1=-1)
    with pytest.raises(ConfigError, match="adversarial='wgan' is not a known adversarial loss"):
        _module(1.0, adversarial="wgan")


def test_train_writes_run_directory_with_albedo_metrics(trained):
    metrics, out = trained
    assert (out / "checkpoints" / "last.ckpt").is_file()
    grids = sorted((out / "samples").glob("step_*.png"))
    assert [g.name for g in grids] == ["step_000003.png", "step_000006.png"]
    # grid: 3 rows (input | prediction | target) x 3 columns of 32 px, pad 2, upscaled x2
    assert Image.open(grids[-1]).size == ((3 * 34 + 2) * 2, (3 * 34 + 2) * 2)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["kind"], r["split"]) for r in records] == [(3, "periodic", "val"), (6, "final_val", "val"), (6, "final", "test")]
    final = records[-1]
    for m in ("psnr", "ssim", "si_mse", "lmse", "delta_e2000"):
        assert isinstance(final[m], float) and final[m] == pytest.approx(metrics[m])
        assert f"specular/{m}" in final and f"plain/{m}" in final
    assert final["n_eval"] == 5
    assert 0 < final["ssim"] <= 1 and final["si_mse"] >= 0
    # the loss terms of every logged step, whatever the logger (logger=none here)
    steps = [json.loads(line) for line in (out / "train_metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in steps] == [1, 2, 3, 4, 5, 6]
    assert all(r["train/g_l1"] > 0 and {"train/g_si_mse", "train/g_grad", "train/g_loss"} <= set(r) for r in steps)


def test_bad_metric_name_fails_before_training(pairs, tmp_path):
    from gan_lab.train import train

    with pytest.raises(ConfigError, match="eval.metrics='fid_clf'.*si_mse"):
        train(compose([*TINY_ALBEDO, f"dataset.root={pairs}", "eval.metrics=[fid_clf]"], tmp_path / "r", tmp_path))


# ------------------------------------------------------------------------------------------------ extract-albedo


def test_extract_albedo_odd_sizes_and_modes(trained, tmp_path, capsys):
    from gan_lab.cli import main as cli_main

    ckpt = trained[1] / "checkpoints" / "last.ckpt"
    src = tmp_path / "photos"
    src.mkdir()
    Image.new("L", (37, 53), 90).save(src / "gray.png")
    Image.new("RGBA", (53, 37), (200, 40, 10, 120)).save(src / "rgba.png")
    Image.new("RGB", (5, 3), (20, 200, 30)).save(src / "tiny.jpg")
    Image.new("P", (70, 20)).save(src / "palette.png")
    cli_main(["extract-albedo", f"ckpt_path={ckpt}", f"input={src}", f"output={tmp_path / 'out'}"])
    for name, size in (("gray", (37, 53)), ("rgba", (53, 37)), ("tiny", (5, 3)), ("palette", (70, 20))):
        img = Image.open(tmp_path / "out" / f"{name}.png")
        assert img.size == size and img.mode == "RGB"
    cli_main(["extract-albedo", f"ckpt_path={ckpt}", f"input={src / 'gray.png'}", f"output={tmp_path / 'n'}",
              "scale=native"])
    assert Image.open(tmp_path / "n" / "gray.png").size == (37, 53)

    (src / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(SystemExit) as e:
        cli_main(["extract-albedo", f"ckpt_path={ckpt}", f"input={src}", f"output={tmp_path / 'out2'}"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "broken.png" in err and "Traceback" not in err
    with pytest.raises(SystemExit):
        cli_main(["extract-albedo", f"ckpt_path={ckpt}", f"input={tmp_path / 'missing'}", "output=x"])
    assert "no such file or folder" in capsys.readouterr().err


def test_pad_to_multiple_round_trip():
    from gan_lab.commands.extract_albedo import pad_to_multiple

    x = torch.randn(1, 3, 37, 53)
    y, (h, w) = pad_to_multiple(x, 16)
    assert y.shape[-2:] == (48, 64) and (h, w) == (37, 53) and torch.equal(y[..., :37, :53], x)
    assert pad_to_multiple(torch.randn(1, 3, 3, 5), 32)[0].shape[-2:] == (32, 32)  # replicate when tiny


# ------------------------------------------------------------------------------------------------ baselines


def _label_under_light(size: int = 64):
    """A flat two-colour label (sRGB) and its photo under smooth, coloured shading (multiplied in linear light)."""
    from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb

    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    alb = torch.empty(1, 3, size, size)
    alb[:, :, :, : size // 2] = torch.tensor([0.8, 0.3, 0.2]).view(1, 3, 1, 1)
    alb[:, :, :, size // 2:] = torch.tensor([0.2, 0.5, 0.8]).view(1, 3, 1, 1)
    shading = (0.3 + 0.7 * (0.5 * xx + 0.5 * yy))[None, None] * torch.tensor([1.0, 0.7, 0.4]).view(1, 3, 1, 1)
    return alb, linear_rgb_to_rgb(rgb_to_linear_rgb(alb) * shading)


def test_poisson_reintegration_is_exact():
    from gan_lab.albedo.baselines import poisson_neumann

    r = torch.randn(2, 3, 9, 13, dtype=torch.float64)
    r = r - r.mean((2, 3), keepdim=True)
    rec = poisson_neumann(r[..., :, 1:] - r[..., :, :-1], r[..., 1:, :] - r[..., :-1, :])
    assert torch.allclose(rec, r, atol=1e-10)


def test_gradient_retinex_removes_smooth_shading_but_keeps_the_lights_colour():
    """It removes the smooth shading (the per-channel-fit metrics, which forgive the light's global colour,
    drop 5×) but restores each channel's mean from the photo, so the light's colour stays: the headline
    metrics, which see colour, score it no better than the photo."""
    from gan_lab.albedo.baselines import retinex_gradient
    from gan_lab.metrics.albedo import delta_e2000, delta_e2000_pc, si_mse, si_mse_pc

    alb, photo = _label_under_light()
    pred = (retinex_gradient(photo * 2 - 1) + 1) / 2
    assert pred.shape == photo.shape and pred.min() >= 0 and pred.max() <= 1
    assert si_mse_pc(pred, alb).item() < 0.2 * si_mse_pc(photo, alb).item()
    assert delta_e2000_pc(pred, alb).item() < 0.5 * delta_e2000_pc(photo, alb).item()
    assert delta_e2000(pred, alb).item() > 0.8 * delta_e2000(photo, alb).item() > 5.0
    assert si_mse(pred, alb).item() > 0.8 * si_mse(photo, alb).item()


def _quadrants(colours, size: int = 64):
    """A flat four-patch albedo from linear RGB colours (top-left, top-right, bottom-left, bottom-right) -> sRGB."""
    from kornia.color import linear_rgb_to_rgb

    a, h = torch.empty(1, 3, size, size), size // 2
    for (i, j), c in zip([(0, 0), (0, 1), (1, 0), (1, 1)], colours):
        a[:, :, i * h:(i + 1) * h, j * h:(j + 1) * h] = torch.tensor(c).view(1, 3, 1, 1)
    return linear_rgb_to_rgb(a)


def _under_light(alb, colour, shading=None):
    """The photo of an sRGB albedo under a light of linear ``colour`` (× a shading map): a product in linear light."""
    from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb

    light = torch.tensor(colour).view(1, 3, 1, 1) * (1.0 if shading is None else shading)
    return linear_rgb_to_rgb(rgb_to_linear_rgb(alb) * light)


GREY_ON_AVERAGE = [(0.9, 0.9, 0.9), (0.6, 0.1, 0.1), (0.1, 0.6, 0.1), (0.1, 0.1, 0.6)]  # channel means equal
WHITE_BRIGHTEST = [(0.9, 0.9, 0.9), (0.6, 0.2, 0.1), (0.5, 0.3, 0.1), (0.7, 0.1, 0.2)]  # reddish on average


def test_grey_world_neutralises_a_uniformly_tinted_flat_albedo():
    from gan_lab.albedo.colour_constancy import grey_world
    from gan_lab.metrics.albedo import delta_e2000, si_mse

    grey = torch.full((1, 3, 16, 16), 0.5)
    out = (grey_world(_under_light(grey, [1.0, 0.7, 0.4]) * 2 - 1) + 1) / 2
    assert out.std(1).max() < 1e-5  # neutral: R = G = B
    alb = _quadrants(GREY_ON_AVERAGE)
    photo = _under_light(alb, [1.0, 0.7, 0.4], 0.8)
    pred = (grey_world(photo * 2 - 1) + 1) / 2
    assert delta_e2000(photo, alb).item() > 5.0  # the cast is visible to the metric ...
    assert delta_e2000(pred, alb).item() < 0.05 and si_mse(pred, alb).item() < 1e-8  # ... and removed


def test_white_patch_corrects_an_image_whose_brightest_patch_is_white():
    from gan_lab.albedo.colour_constancy import grey_world, white_patch
    from gan_lab.metrics.albedo import delta_e2000

    alb = _quadrants(WHITE_BRIGHTEST)
    photo = _under_light(alb, [0.6, 0.8, 1.0])
    de = lambda f: delta_e2000((f(photo * 2 - 1) + 1) / 2, alb).item()  # noqa: E731
    assert de(white_patch) < 0.05 and delta_e2000(photo, alb).item() > 5.0
    assert de(grey_world) > 5.0  # the scene is reddish on average: grey-world's assumption fails here
    # robust: 4 saturated blue pixels (0.1 % of the image) move the 99th percentile little, the maximum a lot
    photo[:, :, 40:42, 10:12] = torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1, 1)
    assert de(white_patch) < 0.2 and de(lambda x: white_patch(x, 100.0)) > 1.0


def test_colour_constancy_on_top_of_gradient_retinex_removes_shading_and_the_light_colour():
    """Smooth shading × a coloured light on an albedo that is grey on average with a white patch: gradient
    Retinex removes the shading, the white balance the light's colour; neither alone does both."""
    from gan_lab.albedo.baselines import BASELINES
    from gan_lab.metrics.albedo import delta_e2000

    size = 64
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    alb = _quadrants(GREY_ON_AVERAGE, size)
    photo = _under_light(alb, [1.0, 0.7, 0.4], (0.3 + 0.7 * (0.5 * xx + 0.5 * yy))[None, None])
    de = {name: delta_e2000((f(photo * 2 - 1) + 1) / 2, alb).item() for name, f in BASELINES.items()}
    assert de["input as albedo"] > 5.0 and de["Retinex (gradient)"] > 5.0
    for wb in ("grey-world", "white-patch"):
        assert de[f"Retinex (gradient) + {wb}"] < 0.1 * de["Retinex (gradient)"], de
    assert {f"Retinex ({k}) + {wb}" for k in ("multi-scale", "gradient") for wb in ("grey-world", "white-patch")} <= set(de)


def test_multiscale_retinex_discounts_the_light_colour():
    """MSR divides by the local surround per channel: a global light colour changes its output by one scale."""
    from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb

    from gan_lab.albedo.baselines import retinex
    from gan_lab.metrics.albedo import si_mse

    _, photo = _label_under_light()
    tinted = linear_rgb_to_rgb(rgb_to_linear_rgb(photo) * torch.tensor([0.5, 1.0, 0.8]).view(1, 3, 1, 1))
    a, b = (retinex(photo * 2 - 1) + 1) / 2, (retinex(tinted * 2 - 1) + 1) / 2
    ratio = lambda u, v: u.mean((0, 2, 3)) / v.mean((0, 2, 3))  # noqa: E731  per-channel brightness ratio
    assert ratio(tinted, photo).std() > 0.1  # the tint changes the channels differently ...
    assert ratio(b, a).std() < 0.01  # ... MSR's output changes by one common factor
    assert si_mse(b, a).item() < 1e-4


def test_evaluate_predictions_groups_and_table(pairs):
    from gan_lab.albedo.evaluation import evaluate_predictions, held_out
    from gan_lab.albedo.table import format_tables
    from gan_lab.data import build_datamodule

    dm = build_datamodule({"name": "albedo_folder", "root": str(pairs), "image_size": 32, "val_fraction": 0.2,
                           "test_fraction": 0.3})
    data = held_out(dm, "test")
    perfect = evaluate_predictions(data["albedo"], data)
    assert perfect["si_mse"] < 1e-9 and perfect["psnr"] > 60 and perfect["delta_e2000"] < 0.05
    r = evaluate_predictions(data["input"], data)
    tags = data["difficulty"]
    assert r["n_specular"] == int(tags[:, 0].sum()) and r["n_plain"] == int((tags.sum(1) == 0).sum())
    assert r["si_mse"] > 1e-4
    text = format_tables([("input", r), ("perfect", perfect)])
    assert "| input |" in text and "| perfect | specular |" in text and "ΔE2000" in text


def _assert_perfect(row: dict, groups=("",)):
    """The target as its own prediction: PSNR at the 100 dB cap, SSIM 1, no error, the target's sharpness (to
    float32 rounding: the target reaches the metrics as (x + 1)/2, the prediction quantised as u/255)."""
    for g in groups:
        assert row[f"{g}psnr"] == pytest.approx(100.0), g
        assert row[f"{g}ssim"] == pytest.approx(1.0, abs=1e-6), g
        assert row[f"{g}si_mse"] < 1e-12 and row[f"{g}lmse"] < 1e-12 and row[f"{g}delta_e2000"] < 1e-3, g
        assert row[f"{g}sharpness"] == pytest.approx(1.0, abs=1e-6), g


def test_albedo_eval_without_checkpoints_on_renders(tmp_path, capsys):
    """The smallest setup: no checkpoint, 4 renders at 32 px; the target row and the per-channel columns."""
    pytest.importorskip("gan_lab.synth.render")
    from gan_lab.cli import main as cli_main

    out = tmp_path / "t.md"
    cli_main(["albedo-eval", "n=4", "image_size=32", f"cache_dir={tmp_path / 'cache'}", f"output={out}",
              "metrics=psnr,ssim,si_mse,lmse,delta_e2000,sharpness,si_mse_pc,delta_e2000_pc"])
    text = out.read_text()
    assert "| target | 4 |" in text and "| input as albedo | 4 |" in text and "Against the best baseline" not in text
    assert "ΔE2000 (per-channel fit) ↓" in text and "si-MSE (per-channel fit) ↓" in text
    rows = json.loads(out.with_suffix(".json").read_text())["results"]
    _assert_perfect(rows["target"])
    assert rows["target"]["si_mse_pc"] < 1e-12 and rows["target"]["delta_e2000_pc"] < 1e-3
    for name, r in rows.items():
        if name != "target":  # every baseline is imperfect, on both fits
            assert r["si_mse"] > 1e-4 and r["delta_e2000"] > 1.0 and r["si_mse_pc"] > 1e-4, name
    with pytest.raises(SystemExit):
        cli_main(["albedo-eval", "n=4", "image_size=32", "metrics=psnr,fid"])
    assert "metrics='fid' is not a known albedo metric; allowed:" in capsys.readouterr().err


def test_albedo_eval_command_writes_table(trained, tmp_path, capsys):
    from gan_lab.cli import main as cli_main

    ckpt = trained[1] / "checkpoints" / "last.ckpt"
    out = tmp_path / "table.md"
    cli_main(["albedo-eval", f"ckpts={ckpt}", "labels=tiny-pix2pix", f"output={out}"])
    text = out.read_text()
    from gan_lab.albedo.baselines import BASELINES

    for name in ("target", *BASELINES, "tiny-pix2pix"):
        assert f"| {name} | 5 |" in text  # same 5 held-out pairs for every method
    assert "| Retinex (gradient) + white-patch | 5 |" in text and "| Retinex (multi-scale) + grey-world | 5 |" in text
    rows = json.loads(out.with_suffix(".json").read_text())["results"]
    assert rows["tiny-pix2pix"]["psnr"] == pytest.approx(trained[0]["psnr"], abs=1e-6)  # = the run's final eval
    assert "Against the best baseline" in text and "| tiny-pix2pix | all |" in text
    assert "| target | all |" not in text  # the sanity row is neither a baseline nor a learned row
    _assert_perfect(rows["target"], ("", *(f"{g}/" for g in ("specular", "coloured_light", "plain"))))
    assert rows["input as albedo"]["si_mse"] > 1e-4 and rows["input as albedo"]["psnr"] < 40
    with pytest.raises(SystemExit):
        cli_main(["albedo-eval", f"ckpts={ckpt}", "labels=a,b"])
    assert "labels= has 2 names for 1 ckpts" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_main(["albedo-eval", f"ckpts={ckpt}", "labels=target"])
    assert "labels='target' names a row the table already has" in capsys.readouterr().err
    # one label for several checkpoints (seeds): one row, mean ± std; grids per difficulty group
    out2, grids = tmp_path / "seeds.md", tmp_path / "grids"
    cli_main(["albedo-eval", f"ckpts={ckpt},{ckpt}", "labels=tiny,tiny", f"output={out2}", f"grids={grids}"])
    res = json.loads(out2.with_suffix(".json").read_text())
    assert res["results"]["tiny"]["psnr"]["mean"] == pytest.approx(trained[0]["psnr"], abs=1e-6)
    assert res["results"]["tiny"]["psnr"]["std"] == 0.0 and len(res["per_checkpoint"]["tiny"]) == 2
    assert "| tiny | 5 |" in out2.read_text() and " ± 0.0000 |" in out2.read_text()
    assert (grids / "grid_plain.png").is_file() or (grids / "grid_specular.png").is_file()


def test_table_cells_keep_the_digits_a_margin_needs():
    from gan_lab.albedo.table import _cell, versus_best_baseline

    assert _cell({"mean": 0.011068, "std": 0.0000491, "n": 3}) == "0.01107 ± 0.00005"
    assert _cell({"mean": 0.64112, "std": 0.00081, "n": 3}) == "0.6411 ± 0.0008"
    assert _cell({"mean": 18.254, "std": 0.0659, "n": 3}) == "18.25 ± 0.07"
    assert _cell(0.0455) == "0.04550" and _cell(float("nan")) == "–"
    assert _cell(4.2634e-17) == "4.263e-17" and _cell(0.0) == "0.0000"  # the target row's rounding-level errors
    assert _cell({"mean": 3e-9, "std": 1e-9, "n": 2}) == "3.000e-09 ± 1.0e-09"
    rows = [("input as albedo", {"si_mse": 0.02}), ("net", {"si_mse": {"mean": 0.01208, "std": 0.0, "n": 2}})]
    assert "0.604× of 0.02000" in versus_best_baseline(rows, metrics=("si_mse",), groups=("",))


def test_mean_std_over_seeds_matches_numpy():
    from gan_lab.albedo.table import mean_std

    rs = [{"psnr": 10.0, "n_eval": 4, "x/ssim": 0.5}, {"psnr": 12.0, "n_eval": 4, "x/ssim": float("nan")},
          {"psnr": 17.0, "n_eval": 4, "x/ssim": 0.7}]
    m = mean_std(rs)
    assert m["n_eval"] == 4
    assert m["psnr"]["mean"] == pytest.approx(13.0) and m["psnr"]["std"] == pytest.approx(np.std([10, 12, 17], ddof=1))
    assert m["x/ssim"] == {"mean": pytest.approx(0.6), "std": pytest.approx(np.std([0.5, 0.7], ddof=1)), "n": 2}


def test_render_overrides_from_the_command_line_reach_the_renderer(tmp_path):
    """``dataset.render.noise=[0,0]`` and a ``products`` dict arrive as OmegaConf containers; they must work."""
    pytest.importorskip("gan_lab.synth.render")
    from gan_lab.data import build_datamodule

    cfg = compose(["experiment=albedo_synth", "dataset.image_size=16", "dataset.n_train=2", "dataset.n_val=2",
                   "dataset.n_test=2", "dataset.chunk_size=2", "dataset.cache_dir=null",
                   "+dataset.render.noise=[0.0,0.0]", "+dataset.render.jpeg_prob=0.0",
                   "+dataset.render.blur_sigma=[0.0,0.0]", "+dataset.render.products={can: 1.0}"], tmp_path, tmp_path)
    dm = build_datamodule(cfg.dataset)
    assert dm.render == {"noise": [0.0, 0.0], "jpeg_prob": 0.0, "blur_sigma": [0.0, 0.0], "products": {"can": 1.0}}
    dm.setup()
    item = dm.dataset("test")[0]
    from gan_lab.data.albedo import AlbedoSynthDataModule

    default = AlbedoSynthDataModule(image_size=16, n_train=2, n_val=2, n_test=2, chunk_size=2).dataset("test")[0]
    assert item["input"].shape == (3, 16, 16) and not torch.equal(item["input"], default["input"])
