"""The training steps of the conditional modules: which parameters each loss term reaches, that every
term enters its total with its configured weight, and that one optimiser step moves only its own nets.

These fail when the objective is broken (a term dropped or unweighted, G updating the head, the
critic's penalty gone), which an end-to-end run that only checks 0 <= GAN-test <= 1 would not notice.
"""

from __future__ import annotations

import math

import pytest
import torch

from gan_lab.modules import MODULES

from gan_lab.config import group_option
from gan_lab.losses import HEADS

SMALL = {  # the real model options (conf/model/*.yaml) with tiny nets
    "translation": ("stargan", {"generator": {"conv_dim": 8, "n_down": 2, "n_res": 1},
                                "discriminator": {"conv_dim": 8, "n_layers": 3, "embed_dim": 16}}),
    "generation": ("acgan", {"z_dim": 16, "generator": {"width": 8}, "discriminator": {"width": 8, "embed_dim": 16}}),
}
WEIGHTS = {"lambda_cls": 0.3, "lambda_gp": 7.0, "lambda_rec": 3.0}


def build(task: str, head: str = "aam", reference_scale: float | None = None, **head_kw):
    """A small module; ``head.reference_scale`` is null (λ_cls as configured) unless given."""
    torch.manual_seed(0)
    name, nets = SMALL[task]
    model = group_option("model", name, **nets, optim={"g_lr": 1e-3, "d_lr": 1e-3, "n_critic": 1}, ema={"decay": 0.9})
    if task == "translation":
        model["objective"]["lambda_rec"] = WEIGHTS["lambda_rec"]
    head_cfg = group_option("head", head, **head_kw)
    if "lambda_cls" in head_cfg:
        head_cfg["lambda_cls"] = WEIGHTS["lambda_cls"]
    if "reference_scale" in head_cfg:
        head_cfg["reference_scale"] = reference_scale
    adversarial = group_option("adversarial", "wgan-gp", lambda_gp=WEIGHTS["lambda_gp"])
    return MODULES.get(task)(num_classes=4, channels=1, image_size=16, model=model, head=head_cfg,
                             adversarial=adversarial, seed=0)


def batch(n: int = 6):
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 1, 16, 16, generator=g) * 2 - 1, torch.arange(n) % 4


def reached(loss: torch.Tensor, params: dict[str, torch.nn.Parameter]) -> set[str]:
    """Names of the parameters with a non-zero gradient from ``loss``."""
    grads = torch.autograd.grad(loss, list(params.values()), retain_graph=True, allow_unused=True)
    return {n for n, g in zip(params, grads) if g is not None and g.abs().sum() > 0}


def groups(m) -> dict[str, dict[str, torch.nn.Parameter]]:
    return {"G": dict(m.G.named_parameters()), "D": dict(m.D.named_parameters()),
            "head": dict(m.head.named_parameters())}


def reaches(loss, m) -> dict[str, set[str]]:
    return {k: reached(loss, p) for k, p in groups(m).items()}


@pytest.mark.parametrize("task", ["translation", "generation"])
@pytest.mark.parametrize("head", HEADS.names())
def test_discriminator_terms_reach_what_they_should(task, head):
    m = build(task, head)
    x, y = batch()
    g_input, y_trg = m.sample_targets(x, y)
    with torch.no_grad():
        fake = m.generate(g_input, y_trg)
    terms, _ = m.discriminator_terms(x, y, fake, y_trg)
    assert set(terms) == {"d_adv", "gp"} | ({"d_cls"} if m.head.classifies else set())
    adv, gp = reaches(terms["d_adv"], m), reaches(terms["gp"], m)
    emb_layer = "out_emb.weight" if task == "translation" else "emb.weight"
    src_layer = "out_src.weight" if task == "translation" else "adv.weight"
    shared = next(n for n, p in groups(m)["D"].items() if p is m.D.shared_layer())
    for r in (adv, gp):
        assert not r["G"] and src_layer in r["D"] and shared in r["D"]
        if m.head.projects:  # the class embedding's term is part of the critic: it trains the head and φ
            assert r["head"] == set(groups(m)["head"]) and emb_layer in r["D"]
        else:  # the critic's terms never train the head or the embedding layer
            assert not r["head"] and emb_layer not in r["D"]
    if m.head.classifies:  # the head's term trains the head, the embedding layer and the trunk, not the critic output
        cls = reaches(terms["d_cls"], m)
        assert not cls["G"] and cls["head"] == set(groups(m)["head"]) and emb_layer in cls["D"]
        assert src_layer not in cls["D"] and shared in cls["D"]  # the layer the grad/* diagnostics measure on


@pytest.mark.parametrize("task", ["translation", "generation"])
def test_generator_terms_reach_only_the_generator_input_path(task):
    m = build(task)
    x, y = batch()
    g_input, y_trg = m.sample_targets(x, y)
    fake = m.generate(g_input, y_trg)
    terms, _ = m.generator_terms(x, y, y_trg, fake)
    expected = {"g_adv", "g_cls"} | ({"g_rec"} if task == "translation" else set())
    assert set(terms) == expected
    for name, t in terms.items():
        r = reaches(t, m)
        assert r["G"], f"{name} does not train the generator"
    # The head's loss on fakes is a function of the head's weights, but only opt_g steps here: checked below.


@pytest.mark.parametrize("head,scale,expected", [("softmax", 10.0, 0.3), ("aam", 10.0, 0.3 * 3 / 10),
                                                 ("cosface", 30.0, 0.3 * 3 / 30), ("sphereface", 6.0, 0.3 * 3 / 6)])
def test_normalised_heads_weight_is_balanced_by_their_scale(head, scale, expected):
    from gan_lab.losses import build_head
    from gan_lab.modules.conditional import balanced_lambda_cls

    h = build_head(head, 8, 4) if head == "softmax" else build_head(head, 8, 4, scale=scale, margin=0.3 if head != "sphereface" else 2)
    assert balanced_lambda_cls(0.3, h, 3.0) == pytest.approx(expected)
    assert balanced_lambda_cls(0.3, h, None) == 0.3  # null: the configured weight as it is
    m = build(task="translation", head=head, reference_scale=3.0, **({} if head == "softmax" else {"scale": scale}))
    assert m.loss_weights()["d_cls"] == m.loss_weights()["g_cls"] == pytest.approx(expected)


@pytest.mark.parametrize("task", ["translation", "generation"])
def test_totals_are_the_weighted_sums_of_their_terms(task):
    m = build(task)
    w = m.loss_weights()
    assert w["d_cls"] == w["g_cls"] == WEIGHTS["lambda_cls"] and w["gp"] == WEIGHTS["lambda_gp"]
    assert w["d_adv"] == w["g_adv"] == 1.0
    if task == "translation":
        assert w["g_rec"] == WEIGHTS["lambda_rec"]
    logs = _one_step(m)
    d = logs["d_adv"] + WEIGHTS["lambda_cls"] * logs["d_cls"] + WEIGHTS["lambda_gp"] * logs["gp"]
    assert logs["d_loss"] == pytest.approx(d, rel=1e-5)
    g = logs["g_adv"] + WEIGHTS["lambda_cls"] * logs["g_cls"] + WEIGHTS["lambda_rec"] * logs.get("g_rec", 0.0)
    assert logs["g_loss"] == pytest.approx(g, rel=1e-5)
    assert all(v != 0 for k, v in logs.items() if k in ("d_cls", "gp", "g_cls", "g_rec"))


def _one_step(m) -> dict[str, float]:
    """One training iteration through a real Trainer (manual optimisation, both optimisers)."""
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader, TensorDataset

    x, y = batch(8)
    trainer = pl.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, log_every_n_steps=1, accelerator="cpu")
    trainer.fit(m, DataLoader(TensorDataset(x, y), batch_size=8))
    return dict(m.last_logs)


@pytest.mark.parametrize("task", ["translation", "generation"])
def test_each_optimiser_moves_only_its_nets(task):
    m = build(task)
    before = {k: {n: p.detach().clone() for n, p in g.items()} for k, g in groups(m).items()}
    _one_step(m)
    after = groups(m)
    moved = {k: any(not torch.equal(before[k][n], p) for n, p in after[k].items()) for k in after}
    assert moved == {"G": True, "D": True, "head": True}
    # The optimisers' parameter sets: the head is trained by the discriminator update only.
    opt_d, opt_g = (o.optimizer if hasattr(o, "optimizer") else o for o in m.trainer.optimizers)
    d_ids = {id(p) for g in opt_d.param_groups for p in g["params"]}
    g_ids = {id(p) for g in opt_g.param_groups for p in g["params"]}
    assert g_ids == {id(p) for p in m.G.parameters()}
    assert d_ids == {id(p) for p in list(m.D.parameters()) + list(m.head.parameters())}


class _Recorder:
    """A logger keeping every ``log_metrics`` call as (step, {key: float})."""

    def __new__(cls):
        from pytorch_lightning.loggers import Logger

        class Recorder(Logger):
            name, version = "recorder", 0
            records: list

            def log_metrics(self, metrics, step=None):
                self.records.append((step, {k: float(v) for k, v in metrics.items()}))

            def log_hyperparams(self, *args, **kwargs):
                pass

        rec = Recorder()
        rec.records = []
        return rec


def _logged(every_step: bool, n_critic: int = 2, log_every: int = 3, steps: int = 8, task: str = "translation",
            head: str = "softmax", fused: bool = True, augment: tuple[str, ...] = ()):
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader, TensorDataset

    from gan_lab.augment import DiffAugment

    m = build(task, head=head)
    m.n_critic, m.fused_step, m.augment = n_critic, fused, DiffAugment(list(augment))
    if every_step:  # the former behaviour: train/* handed to Lightning at every iteration
        m._is_log_step = lambda: True
    rec = _Recorder()
    x, y = batch(8)
    trainer = pl.Trainer(max_steps=steps, logger=rec, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, log_every_n_steps=log_every, accelerator="cpu")
    torch.manual_seed(0)
    trainer.fit(m, DataLoader(TensorDataset(x.repeat(8, 1, 1, 1), y.repeat(8)), batch_size=8))
    return [(step, {k: v for k, v in d.items() if k.startswith("train/")}) for step, d in rec.records]


def test_logging_only_on_written_steps_writes_the_same_values():
    """train/* reach Lightning only on the iterations its loggers write; what they write is unchanged (the
    latest value of every key, the generator's terms from its latest step included)."""
    every, fewer = _logged(every_step=True), _logged(every_step=False)
    assert [s for s, _ in fewer] == [s for s, _ in every] and len(fewer) >= 2
    for (_, a), (_, b) in zip(every, fewer):
        assert a.keys() == b.keys() and "train/g_loss" in b and "train/d_acc_real" in b
        assert b == pytest.approx(a, rel=1e-6)


@pytest.mark.parametrize("task,head", [("translation", "projection"), ("generation", "tacgan")])
def test_fused_step_is_starGANs_loop_in_fewer_passes(task, head):
    """model.fused_step (one D forward on cat(real, fake); G's output computed once on generator iterations)
    trains as the unfused loop does: the same logged terms at every iteration (float rounding aside: the batch
    of the D forward differs), generator steps at the same iterations, with DiffAugment drawing the same."""
    kw = dict(every_step=True, n_critic=3, log_every=1, steps=7, task=task, head=head, augment=("translation", "cutout"))
    fused, loop = _logged(fused=True, **kw), _logged(fused=False, **kw)
    assert [s for s, _ in fused] == [s for s, _ in loop] == list(range(7))  # logger step = global_step - 1

    def g_steps(records):  # the iterations whose generator terms are new (global_step 3 and 6)
        values = [d.get("train/g_loss") for _, d in records]
        return [s for (s, _), v, before in zip(records, values, [None, *values]) if v is not None and v != before]
    assert g_steps(loop) == g_steps(fused) == [2, 5]
    for (_, a), (_, b) in zip(loop, fused):
        assert a.keys() == b.keys()
        assert b == pytest.approx(a, rel=1e-4, abs=1e-5)


def test_fused_step_scores_real_and_fake_apart_when_d_has_batch_statistics():
    m = build("translation")
    assert m.fused_step and m.joint_critic()
    m.D.main[1] = torch.nn.BatchNorm2d(m.D.main[0].out_channels)  # statistics over the batch: real and fake must not mix
    assert not m.joint_critic()


@pytest.mark.parametrize("task", ["translation", "generation"])
def test_g_cls_weight_scales_only_the_generators_class_term(task):
    """model.g_cls_weight (AC-WGAN-GP's 0.1): G's class term at λ_cls · g_cls_weight, D's untouched; in the total."""
    m = build(task)
    m.g_cls_weight = 0.1
    w = m.loss_weights()
    assert w["d_cls"] == WEIGHTS["lambda_cls"] and w["g_cls"] == pytest.approx(0.1 * WEIGHTS["lambda_cls"])
    assert m.evaluation_facts()["g_cls_weight"] == 0.1
    logs = _one_step(m)
    g = logs["g_adv"] + 0.1 * WEIGHTS["lambda_cls"] * logs["g_cls"] + WEIGHTS["lambda_rec"] * logs.get("g_rec", 0.0)
    assert logs["g_loss"] == pytest.approx(g, rel=1e-5)


def test_spectral_norm_discriminator_is_one_lipschitz_per_layer_and_trains():
    from gan_lab.nets import ConditionalDiscriminator

    torch.manual_seed(0)
    d = ConditionalDiscriminator(16, 1, width=4, embed_dim=8, spectral_norm=True)
    for _ in range(5):  # power iterations run in training-mode forwards
        d(torch.randn(4, 1, 16, 16))
    for mod in d.modules():
        if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
            sigma = torch.linalg.matrix_norm(mod.weight.detach().flatten(1), ord=2)
            assert sigma == pytest.approx(1.0, abs=0.05)
    assert d.shared_layer() is d.main[-2].parametrizations.weight.original  # a leaf the diagnostics can differentiate
    m = build("generation")  # SMALL's generation D (width 8, embed 16) with spectral norm, one real training step
    m.D = ConditionalDiscriminator(16, 1, width=8, embed_dim=16, spectral_norm=True)
    before = {k: v.clone() for k, v in m.D.state_dict().items()}
    logs = _one_step(m)
    assert all(math.isfinite(v) for v in logs.values())
    assert any(not torch.equal(before[k], v) for k, v in m.D.state_dict().items() if k.endswith("original"))


def test_minibatch_std_sees_each_group_of_consecutive_samples_alone():
    """Groups of consecutive samples: cat(real, fake) never mixes the halves; a collapsed half reads ~0."""
    from gan_lab.nets.conditional import ConditionalDiscriminator, MinibatchStd

    g = torch.Generator().manual_seed(0)
    same = torch.randn(1, 3, 4, 4, generator=g).expand(8, 3, 4, 4)  # one image 8 times: a collapsed batch
    varied = torch.randn(8, 3, 4, 4, generator=g)
    out = MinibatchStd(4)(torch.cat([same, varied]))
    assert out.shape == (16, 4, 4, 4) and torch.equal(out[:, :3], torch.cat([same, varied]))
    assert out[:8, 3].abs().max() < 1e-3 and out[8:, 3].min() > 0.3
    expected = varied[:4].var(0, unbiased=False).add(1e-8).sqrt().mean()
    assert out[8, 3, 0, 0] == pytest.approx(float(expected), rel=1e-5)
    assert MinibatchStd(4)(torch.randn(6, 2, 4, 4, generator=g)).shape == (6, 3, 4, 4)  # 6: groups of 3
    d = ConditionalDiscriminator(16, 1, width=4, embed_dim=8, mbstd_group=4)
    adv, emb = d(torch.randn(8, 1, 16, 16, generator=g))
    assert adv.shape == (8, 1) and emb.shape == (8, 8)
    m = build("generation")
    assert m.joint_critic()
    m.D = ConditionalDiscriminator(16, 1, width=8, embed_dim=16, mbstd_group=4)
    assert not m.joint_critic()  # real and fake never share a minibatch-std group
