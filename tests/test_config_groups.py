"""The config groups that build a module: ``head`` (classifier head), ``adversarial`` (the adversarial loss) and
``model.objective`` (the model's own weights). No option carries keys its model ignores, every value has one
default (the YAML), a task refuses a head it cannot use, and checkpoints written before the split still load."""

from __future__ import annotations

import pytest
from hydra.errors import ConfigCompositionException

from conftest import TINY, compose
from gan_lab.registry import ConfigError


def test_softmax_has_no_margin_to_override(tmp_path):
    with pytest.raises(ConfigCompositionException):
        compose([*TINY, "head=softmax", "head.margin=0.3"], tmp_path, tmp_path)
    cfg = compose([*TINY, "head=aam", "head.margin=0.2"], tmp_path, tmp_path)
    assert (cfg.head.name, cfg.head.margin, cfg.adversarial.name) == ("aam", 0.2, "wgan-gp")


def test_a_task_refuses_a_head_it_cannot_use(tmp_path):
    from gan_lab.config import validate_config

    with pytest.raises(ConfigError, match="needs a classifier head; choose head=aam|cosface|softmax|sphereface"):
        validate_config(compose([*TINY, "head=none"], tmp_path, tmp_path))
    albedo = compose(["experiment=albedo_synth", "head=aam"], tmp_path, tmp_path)
    with pytest.raises(ConfigError, match="head=aam: model=pix2pix has no classifier head; use head=none"):
        validate_config(albedo)
    with pytest.raises(ConfigError, match=r"model.objective.lambda_l1=-1.0 is invalid"):
        validate_config(compose(["experiment=albedo_synth", "model.objective.lambda_l1=-1"], tmp_path, tmp_path))


def test_a_missing_or_unknown_key_is_named():
    from gan_lab.modules.specs import OptimSpec, read_spec

    good = {"g_lr": 1e-4, "d_lr": 1e-4, "betas": [0.5, 0.999], "n_critic": 5, "decay_start": 0.5}
    assert read_spec(OptimSpec, good, "model.optim").n_critic == 5
    with pytest.raises(ConfigError, match=r"model.optim.decay_start is missing"):
        read_spec(OptimSpec, {k: v for k, v in good.items() if k != "decay_start"}, "model.optim")
    with pytest.raises(ConfigError, match=r"model.optim.lr is not an option here; allowed: model.optim.g_lr"):
        read_spec(OptimSpec, {**good, "lr": 1}, "model.optim")


def test_a_knob_added_later_takes_its_default_when_an_older_config_lacks_it():
    from gan_lab.modules.specs import AlbedoObjective, read_spec

    old = {"lambda_adv": 0.0, "lambda_l1": 100.0, "lambda_si_mse": 1000.0, "lambda_grad": 100.0, "grad_scales": 4,
           "lambda_ssim": 0.0, "lambda_fm": 0.0, "l1_outside_mask": 0.1}  # a checkpoint's config before lambda_lab
    assert read_spec(AlbedoObjective, old, "model.objective").lambda_lab == 0.0
    with pytest.raises(ConfigError, match=r"model.objective.lambda_l1 is missing"):
        read_spec(AlbedoObjective, {k: v for k, v in old.items() if k != "lambda_l1"}, "model.objective")


@pytest.mark.parametrize("overrides, old_loss", [
    (["head=aam"], {"name": "aam", "adversarial": "wgan-gp", "lambda_cls": 1.0, "cls_reference_scale": 3.0,
                    "lambda_gp": 10.0, "lambda_rec": 10.0, "easy_margin": False, "scale": 16.0, "margin": 0.3}),
    (["head=softmax"], {"name": "softmax", "adversarial": "wgan-gp", "lambda_cls": 1.0, "cls_reference_scale": 3.0,
                        "lambda_gp": 10.0, "lambda_rec": 10.0, "easy_margin": False, "scale": 1.0, "margin": 0.0}),
])
def test_checkpoints_from_before_the_split_load_as_today(tmp_path, overrides, old_loss):
    """A checkpoint's hyper-parameters with the old single ``loss`` node become today's head / adversarial /
    objective, equal to what composing the same choice today gives."""
    from gan_lab.modules.loading import module_args, upgrade_hparams

    today = module_args(compose([*TINY, *overrides], tmp_path, tmp_path))
    later = ("objective", "diffaugment", "fused_step")  # model keys that came after the split
    old_model = {k: v for k, v in today["model"].items() if k not in later}
    hp = upgrade_hparams({"num_classes": 10, "model": old_model, "loss": old_loss})
    assert hp["head"] == today["head"] and hp["adversarial"] == today["adversarial"]
    today_model = {k: v for k, v in today["model"].items() if k not in later[1:]}
    assert {k: v for k, v in hp["model"].items() if k not in later[1:]} == today_model
    assert hp["model"]["diffaugment"] == []  # trained before DiffAugment existed: off, as it trained
    assert hp["model"]["fused_step"] is False  # and with StarGAN's own loop
