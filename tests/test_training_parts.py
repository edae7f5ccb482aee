"""Small training parts checked on their own: EMA warm-up, the EMA generator's batch-norm statistics, and the
step progress bar."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from gan_lab.callbacks.progress import StepProgressBar
from gan_lab.modules.ema import ema_decay, make_ema, recalibrate_norm_stats, update_ema


@pytest.mark.parametrize("step,start,expected", [
    (0, 5, 0.0),                 # before the start: copy the generator
    (5, 5, 1 / 10),              # k = 0
    (15, 5, 11 / 20),            # k = 10
    (10_000, 0, 0.999),          # long after: the configured decay
])
def test_ema_decay_warm_up(step, start, expected):
    assert ema_decay(0.999, step, start) == pytest.approx(expected)


def test_update_ema_is_the_weighted_average():
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    ema = make_ema(net)
    before = {k: v.clone() for k, v in ema.state_dict().items()}
    with torch.no_grad():
        net.weight.add_(1.0)
    update_ema(ema, net, decay=0.999, step=15, start_step=5)  # d = 11/20
    d = 11 / 20
    expected = d * before["weight"] + (1 - d) * net.weight.detach()
    torch.testing.assert_close(ema.weight, expected)
    assert not ema.weight.requires_grad


def test_recalibrated_norm_statistics_are_the_average_of_the_batch_statistics():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5, momentum=0.3), nn.ReLU()).eval()
    batches = [(torch.randn(7, 3) * 2 + 1,) for _ in range(4)]
    assert recalibrate_norm_stats(net, batches) == 4
    with torch.no_grad():  # independently: the pre-norm activations of each batch, averaged over batches
        h = [net[0](x) for (x,) in batches]
    torch.testing.assert_close(net[1].running_mean, torch.stack([a.mean(0) for a in h]).mean(0))
    torch.testing.assert_close(net[1].running_var, torch.stack([a.var(0, unbiased=True) for a in h]).mean(0))
    assert not net[1].training and net[1].momentum == 0.3  # mode and momentum restored
    assert recalibrate_norm_stats(nn.Sequential(nn.Linear(3, 5), nn.InstanceNorm1d(5)), batches) == 0


def test_ema_generator_statistics_belong_to_the_averaged_weights():
    """The EMA generator of the generation module (batch norm) is sampled with statistics of its own
    activations, not the raw generator's copied ones; recomputed only after the weights moved, and the same
    however often it is asked (a pure function of the weights and the seed: resume-exact)."""
    from test_training_steps import build

    m = build("generation")
    with torch.no_grad():  # the raw generator drifts away from the average
        for p in m.G.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    m.G.train()
    m.G(*next(iter(m.ema_calibration_batches(1, 64))))  # raw running stats that EMA would copy
    m._update_ema()
    bn = next(x for x in m.G_ema.modules() if isinstance(x, nn.BatchNorm2d))
    raw = next(x for x in m.G.modules() if isinstance(x, nn.BatchNorm2d))
    assert torch.equal(bn.running_mean, raw.running_mean)  # update_ema copied the buffers
    g = m.ema_generator()
    first = bn.running_mean.clone()
    assert g is m.G_ema and not torch.allclose(first, raw.running_mean)
    feats = []  # independently: G_ema's activations entering that norm on fresh samples, in train mode
    hook = bn.register_forward_hook(lambda mod, inp, out: feats.append(inp[0].detach()))
    with torch.no_grad():
        z = torch.randn(512, m.z_dim, generator=torch.Generator().manual_seed(5))
        y = torch.arange(512) % m.num_classes
        m.G_ema(z, y)
    hook.remove()
    torch.testing.assert_close(first, feats[0].mean((0, 2, 3)), atol=0.05, rtol=0.05)
    with torch.no_grad():
        bn.running_mean.add_(1.0)  # a marker: a second call without a weight update must not recompute
    m.ema_generator()
    assert torch.equal(bn.running_mean, first + 1.0)
    m._ema_stats_stale = True  # as after a resume (a fresh module) or the next EMA update
    m.ema_generator()
    assert torch.equal(bn.running_mean, first)  # recomputed from the same weights and seed: identical
    assert not m.G_ema.training and all(not x.training for x in m.G_ema.modules())


def test_step_progress_bar_counts_iterations_and_resumes():
    bar = StepProgressBar(refresh_every=1)
    trainer = SimpleNamespace(is_global_zero=True, max_steps=10, global_step=3, callback_metrics={},
                              progress_bar_metrics={"d_loss": torch.tensor(1.5)})
    module = SimpleNamespace(progress_keys=("d_loss", "val/gan_test"))  # what the module declares
    bar.on_train_start(trainer, module)
    assert bar._bar.total == 10 and bar._bar.n == 3  # a resumed run starts at its checkpoint's step
    trainer.global_step = 7
    bar.on_train_batch_end(trainer, module, None, None, 0)
    assert bar._bar.n == 7 and bar._bar.postfix == "d_loss=1.500"
    bar.on_train_end(trainer, module)
    assert bar._bar is None


def test_progress_bar_into_a_log_file_writes_about_ten_lines(monkeypatch):
    import io

    log = io.StringIO()  # not a terminal
    monkeypatch.setattr(sys, "stderr", log)
    bar = StepProgressBar(refresh_every=1)
    module = SimpleNamespace(progress_keys=("d_loss",))
    trainer = SimpleNamespace(is_global_zero=True, max_steps=500, global_step=0, callback_metrics={},
                              progress_bar_metrics={"d_loss": torch.tensor(1.5)})
    bar.on_train_start(trainer, module)
    assert bar._bar.miniters == 50 and bar._bar.mininterval == 0  # every 10 % of the run, whatever the speed
    for step in range(1, 501):
        trainer.global_step = step
        bar.on_train_batch_end(trainer, module, None, None, 0)
    bar.on_train_end(trainer, module)
    redraws = log.getvalue().count("\r") + log.getvalue().count("\n")
    assert 5 <= redraws <= 15, redraws  # not one per step
