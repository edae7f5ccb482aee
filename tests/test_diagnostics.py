"""Label-geometry diagnostics: the geometry numbers against independent computations, the per-term gradient
norms against autograd on the same terms, and the hook leaving no trace in training (weights, buffers, RNG)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from gan_lab.metrics.geometry import label_geometry
from test_training_steps import batch, build


def _angle(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return math.degrees(math.acos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1)))


def test_label_geometry_matches_a_plain_numpy_computation():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(3, 5, generator=g)
    emb = torch.randn(12, 5, generator=g) * 3
    y = torch.arange(12) % 3
    fake, y_fake = torch.randn(6, 5, generator=g), torch.tensor([2, 1, 0, 0, 1, 2])
    got = label_geometry(w, emb, y, fake, y_fake)
    E, W, F = emb.numpy().astype(float), w.numpy().astype(float), fake.numpy().astype(float)
    assert got["emb_norm_real"] == pytest.approx(np.linalg.norm(E, axis=1).mean())
    cos_real = [math.cos(math.radians(_angle(E[i], W[y[i]]))) for i in range(12)]
    assert got["cos_target_real"] == pytest.approx(np.mean(cos_real))
    assert got["cos_target_real_q50"] == pytest.approx(np.quantile(cos_real, 0.5))
    cos_fake = [math.cos(math.radians(_angle(F[i], W[y_fake[i]]))) for i in range(6)]
    assert got["cos_target_fake"] == pytest.approx(np.mean(cos_fake))
    pair_angles = [_angle(W[i], W[j]) for i in range(3) for j in range(3) if i != j]
    assert got["weight_angle_min"] == pytest.approx(min(pair_angles))
    assert got["weight_angle_mean"] == pytest.approx(np.mean(pair_angles))
    unit = E / np.linalg.norm(E, axis=1, keepdims=True)
    means = [unit[y.numpy() == c].mean(0) for c in range(3)]
    assert got["intra_angle_real"] == pytest.approx(np.mean([_angle(E[i], means[y[i]]) for i in range(12)]))
    inter = [_angle(means[i], means[j]) for i in range(3) for j in range(3) if i != j]
    assert got["inter_angle_real"] == pytest.approx(np.mean(inter))


def test_separated_classes_have_small_intra_and_large_inter_angles():
    w = torch.eye(4, 8)
    y = torch.arange(40) % 4
    emb = w[y] * 5 + 0.01 * torch.randn(40, 8, generator=torch.Generator().manual_seed(1))
    got = label_geometry(w, emb, y)
    assert got["intra_angle_real"] < 1.0 and got["inter_angle_real"] == pytest.approx(90.0, abs=1.0)
    assert got["cos_target_real"] > 0.999 and got["weight_angle_min"] == pytest.approx(90.0)


@pytest.mark.parametrize("task", ["translation", "generation"])
def test_diagnostics_gradients_match_autograd_and_leave_no_trace(task):
    m = build(task, "aam")
    x, y = batch(8)
    state = {k: v.clone() for k, v in m.state_dict().items()}
    rng = torch.get_rng_state()
    scalars, tensors = m.diagnostics(x, y)
    assert torch.equal(torch.get_rng_state(), rng)  # the training RNG stream is untouched
    assert all(torch.equal(state[k], v) for k, v in m.state_dict().items())
    assert all(p.grad is None for p in m.parameters())  # no .grad left behind for the next optimiser step
    expected = {"grad/d_adv", "grad/d_cls", "grad/gp", "grad/g_adv", "grad/g_cls", "critic/wasserstein",
                "geometry/emb_norm_real", "geometry/cos_target_fake", "geometry/weight_angle_min"}
    assert expected <= set(scalars) and all(math.isfinite(v) for v in scalars.values())
    assert ("grad/g_rec" in scalars) == (task == "translation")
    assert tensors["weight_cos"].shape == (4, 4) and torch.allclose(tensors["weight_cos"].diagonal(), torch.ones(4))

    # Recompute one D term and one G term by hand with the same seed the hook uses.
    torch.manual_seed(m.seed + m.global_step)
    g_input, y_trg = m.sample_targets(x, y)
    with torch.no_grad():
        fake = m.generate(g_input, y_trg)
    terms, _ = m.discriminator_terms(x, y, fake, y_trg)
    w = m.loss_weights()
    (gd,) = torch.autograd.grad(w["d_cls"] * terms["d_cls"], m.D.shared_layer())
    assert scalars["grad/d_cls"] == pytest.approx(float(gd.norm()), rel=1e-4)
    fake = fake.detach().requires_grad_(True)
    g_terms, _ = m.generator_terms(x, y, y_trg, fake)
    (gg,) = torch.autograd.grad(w["g_adv"] * g_terms["g_adv"], fake)
    assert scalars["grad/g_adv"] == pytest.approx(float(gg.norm()), rel=1e-4)


def test_training_writes_train_metrics_and_diagnostics_even_without_a_logger(tmp_path, cache_dir):
    from conftest import TINY, compose
    from gan_lab.train import train

    run = tmp_path / "run"
    train(compose([*TINY, "logger=none", "head=cosface"], run, cache_dir))
    lines = [json.loads(s) for s in (run / "train_metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in lines if "kind" not in r]
    assert steps == [1, 2, 3, 4, 5, 6]  # trainer.log_every_n_steps=1 in TINY
    assert all({"train/d_adv", "train/d_cls", "train/gp", "train/d_loss"} <= set(r) for r in lines if "kind" not in r)
    diags = [r for r in lines if r.get("kind") == "diagnostics"]
    assert [r["step"] for r in diags] == [3, 6]  # with the periodic evaluation (eval.every_n_steps=3)
    assert {"grad/d_cls", "geometry/intra_angle_real", "critic/wasserstein"} <= set(diags[0])
    assert (run / "diagnostics" / "weight_cos_step_000003.png").is_file()


def test_diagnostics_reach_a_real_offline_wandb_run(tmp_path, monkeypatch):
    """Scalars, the class-weight heat map and the cos θ histograms are in the W&B run file."""
    import time
    from types import SimpleNamespace

    from gan_lab.callbacks.diagnostics import Diagnostics

    logger = _offline_wandb(tmp_path, monkeypatch)
    m = build("translation", "softmax")
    x, y = batch(16)
    dm = SimpleNamespace(dataset=lambda split: list(zip(x, y)))  # the datamodule contract: dataset(split)
    trainer = SimpleNamespace(global_step=7, loggers=[logger], datamodule=dm, is_global_zero=True)
    try:
        got = Diagnostics(tmp_path / "run", every_n_steps=7, n_images=16).run(trainer, m)
    finally:
        logger.experiment.finish()
    line = json.loads((tmp_path / "run" / "train_metrics.jsonl").read_text())
    assert line["step"] == 7 and line["kind"] == "diagnostics" and line["grad/d_cls"] == got["grad/d_cls"]
    deadline = time.time() + 60  # the W&B service may still be writing the file after finish()
    (wandb_file,) = _wait_for(str(tmp_path / "wandb" / "offline-run-*" / "run-*.wandb"))
    while b"geometry/cos_target_fake_hist" not in open(wandb_file, "rb").read() and time.time() < deadline:
        time.sleep(0.5)
    raw = open(wandb_file, "rb").read()
    for key in (b"geometry/weight_cos", b"geometry/cos_target_real_hist", b"grad/d_cls", b"critic/wasserstein"):
        assert key in raw, key


def test_sample_grids_reach_a_real_offline_wandb_run(tmp_path, monkeypatch):
    """The sample grid is written as samples/step_XXXXXX.png and logged as the W&B image ``samples``."""
    from types import SimpleNamespace

    from PIL import Image

    from gan_lab.callbacks.samples import SampleGrids

    logger = _offline_wandb(tmp_path, monkeypatch)
    m = build("translation", "softmax")
    x, y = batch(8)
    dm = SimpleNamespace(dataset=lambda split: list(zip(x, y)))
    trainer = SimpleNamespace(global_step=5, loggers=[logger], datamodule=dm, is_global_zero=True)
    cb = SampleGrids(tmp_path / "samples", every_n_steps=5, n_inputs=4, max_classes=4, seed=0)
    try:
        cb._write(trainer, m)
    finally:
        logger.experiment.finish()
    png = tmp_path / "samples" / "step_000005.png"
    assert cb.last_path == png and Image.open(png).size[0] > 0
    media = _wait_for(str(tmp_path / "wandb" / "offline-run-*" / "files" / "media" / "images" / "samples_*.png"))
    assert media, "no samples image in the W&B run"
    # the logged image is the grid on disk (5 rows: the inputs and 4 target classes; 4 columns)
    assert Image.open(media[0]).size == Image.open(png).size


def _offline_wandb(tmp_path, monkeypatch):
    """A real offline W&B logger writing under ``tmp_path`` (no network, no login)."""
    pytest.importorskip("wandb")
    from pytorch_lightning.loggers import WandbLogger

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    return WandbLogger(project="gan_lab_test", save_dir=str(tmp_path), mode="offline")


def _wait_for(pattern: str, timeout: float = 60.0) -> list[str]:
    """Files matching ``pattern``, waiting for the W&B service, which may still write after finish()."""
    import glob
    import time

    deadline, files = time.time() + timeout, []
    while not files and time.time() < deadline:
        files = glob.glob(pattern)
        time.sleep(0.2)
    return files
