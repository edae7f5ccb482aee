"""Small training parts checked on their own: EMA warm-up and the step progress bar."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from gan_lab.callbacks.progress import StepProgressBar
from gan_lab.modules.ema import ema_decay, make_ema, update_ema


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
