"""A short learning run on digits that fails when training is broken: the critic must come alive (the
gradient penalty falls) and the generator must translate into the target classes (GAN-test far above
chance, 0.1 for ten classes), with the default head (soft-max).

Broken objectives this catches (tried when it was written): a generator without its classification term
(``head.lambda_cls=0``: GAN-test 0.21) and, with the AAM head, the old dead-critic discriminator
(``model.discriminator.init=dcgan model.discriminator.emb_norm=none head.reference_scale=null``:
``train/gp`` stays at 0.98, GAN-test 0.19). The normalised heads are not checked here: their short runs
fail on some seeds (docs/results/lgad_digits.md), and a test must not depend on a lucky seed or CPU.
"""

from __future__ import annotations

import json


from conftest import compose

LEARN = [
    "dataset.image_size=16", "dataset.batch_size=16",
    "model.generator.conv_dim=16", "model.generator.n_res=2",
    "model.discriminator.conv_dim=16", "model.discriminator.n_layers=3", "model.discriminator.embed_dim=64",
    "trainer.max_steps=240", "trainer.log_every_n_steps=10", "trainer.enable_progress_bar=false",
    "eval.every_n_steps=0", "eval.final_n_samples=400", "eval.metrics=[gan_test]", "eval.final_metrics=[gan_test]",
    "eval.classifier.steps=150", "eval.classifier.width=8", "eval.classifier.feature_dim=32",
    "samples.every_n_steps=0", "checkpoint.every_n_steps=1000", "diagnostics.every_n_steps=0", "logger=none",
]


def learn(overrides, tmp_path, cache_dir) -> tuple[float, list[float]]:
    from gan_lab.train import train

    run = tmp_path / "run"
    metrics, _ = train(compose([*LEARN, *overrides], run, cache_dir))
    lines = [json.loads(s) for s in (run / "train_metrics.jsonl").read_text().splitlines()]
    return metrics["gan_test"], [r["train/gp"] for r in lines if "train/gp" in r]


def critic_alive(gp: list[float]) -> bool:
    """The penalty starts near 1 (D's input gradient ≈ 0) and a live critic drives it well below."""
    last = gp[len(gp) * 3 // 4:]
    return sum(last) / len(last) < 0.3 and max(last) < 0.5


def test_short_run_learns_to_translate_with_a_live_critic(tmp_path, cache_dir):
    gan_test, gp = learn(["head=softmax"], tmp_path, cache_dir)
    assert gp[0] > 0.5, "the penalty should start high: D's input gradient is ~0 at initialisation"
    assert critic_alive(gp), f"critic dead: train/gp over the last quarter {gp[len(gp) * 3 // 4:]}"
    assert gan_test > 0.6, f"GAN-test {gan_test:.3f}: the generator did not learn the target classes"
