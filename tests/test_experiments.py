"""Every experiment file composes (as `gan-lab train experiment=X --cfg job` would), passes the pre-training
checks, and builds its nets; the lgad sweeps expand into the jobs they promise; the GPU protocols hold the
paper's settings (a typo in a delta would otherwise only show on a GPU hours later)."""

from __future__ import annotations

import pytest
import torch

from conftest import compose
from gan_lab.config import CONF_DIR, validate_config


EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
HEADS = [h for h in __import__("gan_lab.losses", fromlist=["HEADS"]).HEADS.names()]  # every registered head


def _compose(overrides, tmp_path):
    return compose(overrides, tmp_path / "out", tmp_path / "cache")


def test_the_lgad_experiments_exist():
    assert {"lgad_digits", "lgad_rafd", "lgad_cifar100"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_composes_and_validates(name, tmp_path):
    cfg = _compose([f"experiment={name}"], tmp_path)
    validate_config(cfg)
    assert cfg.logger.group == name  # runs of one experiment share a W&B group
    from gan_lab.data import build_datamodule

    dataset = {k: v for k, v in cfg.dataset.items()}
    dataset["root"] = str(tmp_path / "no_data")  # constructing checks the options; no data is read
    build_datamodule(dataset)


@pytest.mark.parametrize("name", [e for e in EXPERIMENTS if e.startswith("lgad_")])
@pytest.mark.parametrize("head", HEADS)
def test_lgad_experiment_with_each_head(name, head, tmp_path):
    cfg = _compose([f"experiment={name}", f"head={head}"], tmp_path)
    validate_config(cfg)
    assert cfg.head.name == head and cfg.optimized_metric == "gan_test"
    assert "gan_test" in cfg.eval.metrics
    assert {"fid_clf", "gan_train", "gan_test", "scores"} <= set(cfg.eval.final_metrics)


@pytest.mark.parametrize("name", ["lgad_digits", "lgad_cifar100", "lgad_rafd", "lgad_fashion"])
def test_lgad_sweeps_list_every_head_and_three_seeds(name):
    """`gan-lab train -m experiment=<name>` sweeps every registered head (a new head must be added here)."""
    from omegaconf import OmegaConf

    params = OmegaConf.load(CONF_DIR / "experiment" / f"{name}.yaml").hydra.sweeper.params
    assert sorted(params.head.split(",")) == sorted(HEADS) and params.seed == "0,1,2"


def test_lgad_digits_sweep_expands_into_six_valid_jobs(tmp_path):
    """`gan-lab train -m experiment=lgad_digits head=softmax,aam seed=0,1,2`: Hydra's own sweep expansion."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(["experiment=lgad_digits", "head=softmax,aam", "seed=0,1,2"])
    jobs = [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]
    assert len(jobs) == 6
    names = set()
    for job in jobs:
        cfg = _compose(job, tmp_path)
        validate_config(cfg)
        assert cfg.trainer.accelerator == "cpu" and cfg.dataset.name == "digits"
        names.add(cfg.run_name)
    assert len(names) == 6  # one run directory name per job: nothing overwrites anything


def test_lgad_rafd_is_stargan_paper_settings(tmp_path):
    cfg = _compose(["experiment=lgad_rafd", "head=aam"], tmp_path)
    g, d, o = cfg.model.generator, cfg.model.discriminator, cfg.model.optim
    assert (cfg.model.name, cfg.dataset.name) == ("stargan", "rafd")
    assert (cfg.dataset.image_size, cfg.dataset.batch_size) == (128, 16)
    assert (g.conv_dim, g.n_res, d.conv_dim, d.n_layers) == (64, 6, 64, 6)
    assert (o.g_lr, o.d_lr, list(o.betas), o.n_critic) == (1e-4, 1e-4, [0.5, 0.999], 5)
    assert cfg.trainer.max_steps == 200_000 and int(o.decay_start * cfg.trainer.max_steps) == 100_000
    assert (cfg.adversarial.name, cfg.adversarial.lambda_gp) == ("wgan-gp", 10)
    assert (cfg.model.objective.lambda_rec, cfg.head.lambda_cls) == (10, 1)
    assert cfg.trainer.accelerator == "gpu" and cfg.eval.every_n_steps == 10_000
    assert cfg.eval.n_samples > 500 and cfg.eval.final_n_samples >= cfg.eval.n_samples
    assert (cfg.head.scale, cfg.head.margin) == (16.0, 0.3)  # conf/head/aam.yaml's values are not overridden


def test_lgad_cifar100_settings(tmp_path):
    cfg = _compose(["experiment=lgad_cifar100", "head=softmax"], tmp_path)
    o = cfg.model.optim
    assert (cfg.model.name, cfg.model.module) == ("acgan", "generation")
    assert (cfg.dataset.name, cfg.dataset.label, cfg.dataset.image_size, cfg.dataset.batch_size) == ("cifar100", "fine", 32, 64)
    assert (o.g_lr, o.d_lr, list(o.betas), o.n_critic) == (2e-4, 2e-4, [0.0, 0.9], 5)
    assert cfg.adversarial.name == "wgan-gp" and cfg.adversarial.lambda_gp == 10
    assert cfg.trainer.accelerator == "gpu" and cfg.eval.every_n_steps == 10_000
    assert cfg.eval.final_n_samples == 10_000  # 100 per class


@pytest.mark.parametrize("name, num_classes", [("lgad_rafd", 8), ("lgad_cifar100", 100)])
def test_gpu_protocol_nets_build_and_run_at_full_size(name, num_classes, tmp_path):
    """The full-size nets are built from the composed config and run one image (CPU, fp32)."""
    from gan_lab.modules import MODULES
    from gan_lab.modules.loading import module_args

    cfg = _compose([f"experiment={name}"], tmp_path)
    size = cfg.dataset.image_size
    module = MODULES.get(cfg.model.module)(num_classes=num_classes, channels=3, image_size=size, seed=0,
                                           **module_args(cfg))
    x = torch.rand(2, 3, size, size) * 2 - 1
    with torch.no_grad():
        adv, emb = module.D(x)
        assert emb.shape == (2, cfg.model.discriminator.embed_dim) and torch.isfinite(adv).all()
        out = module.make_eval_set(x, torch.tensor([0, 1]), 2, seed=0)["fake_images"]
    assert out.shape == (2, 3, size, size) and out.abs().max() <= 1.0


def test_albedo_synth_long_is_the_default_recipe_on_twice_the_pool_and_iterations(tmp_path):
    """The measured 'budget that reaches the margins' differs from the default in pool, iterations and
    checkpoint spacing only: any other drift would make its documented numbers describe another recipe."""
    from gan_lab.report.runs import flatten_config

    base = flatten_config(_compose(["experiment=albedo_synth"], tmp_path))
    long = flatten_config(_compose(["experiment=albedo_synth_long"], tmp_path))
    changed = {k for k in base.keys() | long.keys() if base.get(k) != long.get(k)}
    changed -= {k for k in changed if k.startswith(("hydra.", "paths.")) or k == "run_name"}
    assert changed == {"dataset.n_train", "trainer.max_steps", "checkpoint.every_n_steps", "logger.group"}
    assert (long["dataset.n_train"], long["trainer.max_steps"]) == (2 * base["dataset.n_train"],
                                                                    2 * base["trainer.max_steps"])
