"""Every registry entry is complete, parametrised over the registries themselves (timm's habit): a new
head, metric, data set or module that forgets a declaration fails here, not on a user's dashboard."""

from __future__ import annotations

import pytest

from gan_lab.data import DATASETS
from gan_lab.losses import ADVERSARIAL, HEADS
from gan_lab.metrics.albedo import ALBEDO_METRICS
from gan_lab.metrics.keys import KEYS, METRIC_KEYS, load_all
from gan_lab.metrics.suite import METRICS
from gan_lab.modules import MODULES

load_all()
ALL_METRICS = [("conditional", n) for n in METRICS.names()] + [("albedo", n) for n in ALBEDO_METRICS.names()]


@pytest.mark.parametrize("registry,name", ALL_METRICS)
def test_every_metric_declares_its_keys_with_direction_summary_and_report_place(registry, name):
    from gan_lab.callbacks.evaluation import summary_direction
    from gan_lab.report.aggregate import direction, metric_order, reference_metrics
    from gan_lab.summary import summary_keys

    keys = [KEYS[k] for k in METRIC_KEYS.get(name, [])]
    assert keys, f"metric {name!r} declares no keys"
    labels = dict(summary_keys())
    for k in keys:
        assert k.label and labels[k.name] == k.label  # printed at the end of a run
        assert direction(k.name) == k.direction and direction(f"glare/{k.name}") == k.direction
        if k.direction is None:
            assert k.name in reference_metrics() and summary_direction(k.name) is None
        else:
            assert k.name in metric_order() and summary_direction(k.name) == k.direction  # W&B min/max


def test_recorded_keys_are_all_declared(tmp_path, cache_dir):
    """A real final evaluation records only declared keys, provenance strings and bookkeeping."""
    from conftest import TINY, compose
    from gan_lab.records import is_bookkeeping
    from gan_lab.train import train

    metrics, _ = train(compose([*TINY, "logger=none", "eval.final_metrics=[fid_clf,kid_clf,intra_fid_clf,gan_test,"
                                "gan_train,scores]"], tmp_path / "run", cache_dir))
    numbers = [k for k, v in metrics.items() if isinstance(v, (int, float)) and not is_bookkeeping(k)]
    assert numbers and all(k in KEYS for k in numbers), [k for k in numbers if k not in KEYS]


@pytest.mark.parametrize("name", HEADS.names())
def test_every_head_has_the_interface_shared_code_calls(name):
    import torch

    from gan_lab.config import group_option
    from gan_lab.modules.specs import HeadSpec

    spec = HeadSpec.read(group_option("head", name))  # conf/head/<name>.yaml exists and builds the head
    assert spec.name == name and sorted(spec.options) == sorted(HEADS.get(name).options())
    head = HEADS.get(name)(8, 3, **spec.options)
    emb, y = torch.randn(5, 8, requires_grad=True), torch.tensor([0, 1, 2, 0, 1])
    assert head.logits(emb).shape == (5, 3) and head.class_directions().shape == (3, 8)
    assert isinstance(head.normalised, bool) and isinstance(head.classifies, bool) and isinstance(head.projects, bool)
    assert head.classifies or head.projects, "a head must condition somehow"
    assert (spec.lambda_cls is not None) == head.classifies  # the weight exactly where there is a term to weigh
    if head.classifies:
        d, g = head.d_loss(emb, y, emb.flip(0), y), head.g_loss(emb, y)
        assert d.ndim == 0 and g.ndim == 0 and torch.isfinite(d) and torch.isfinite(g)
        (g_emb,) = torch.autograd.grad(g, emb)
        assert g_emb.abs().sum() > 0  # the generator-side term reaches the embedding
    if head.projects:
        assert head.adversarial_term(emb, y).shape == (5,)


@pytest.mark.parametrize("name", MODULES.names())
def test_every_module_declares_what_shared_code_asks(name):
    cls = MODULES.get(name)
    from gan_lab.modules.base import GANModule

    assert issubclass(cls, GANModule) and cls.task in ("conditional", "paired")
    for attr in ("has_diagnostics", "translates_images"):
        assert isinstance(getattr(cls, attr), bool), attr
    assert cls.bar_key in cls.progress_keys
    for hook in ("validate_config", "build_evaluator", "grid_inputs", "make_eval_set" if cls.task == "conditional"
                 else "sample_grid", "sample_grid"):  # overridden, not the base's NotImplementedError
        assert getattr(cls, hook) is not getattr(GANModule, hook) or hook == "validate_config", hook
    assert cls.metric_registry in (METRICS, ALBEDO_METRICS)


@pytest.mark.parametrize("name", ADVERSARIAL.names())
def test_every_adversarial_loss_has_both_sides(name):
    import torch

    from gan_lab.config import group_option
    from gan_lab.modules.specs import AdversarialSpec, read_spec

    assert read_spec(AdversarialSpec, group_option("adversarial", name), "adversarial").name == name
    adv = ADVERSARIAL.get(name)()
    real, fake = torch.randn(4, 1), torch.randn(4, 1)
    assert adv.d_loss(real, fake).ndim == 0 and adv.g_loss(fake).ndim == 0


@pytest.mark.parametrize("name", DATASETS.names())
def test_every_dataset_is_configured(name):
    from gan_lab.config import CONF_DIR

    assert any(f"\nname: {name}\n" in "\n" + f.read_text() for f in (CONF_DIR / "dataset").glob("*.yaml"))
