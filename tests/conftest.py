"""Shared test helpers: compose the real config with tiny overrides so runs take seconds."""

from __future__ import annotations

import os

import pytest

import torch

# One intra-op thread for the test process and the processes it starts: the suite's nets are tiny, and
# two OpenMP threads per process on 2 shared cores ran them 15-40x slower under load (measured).
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)


def pytest_xdist_auto_num_workers(config):
    """``-n auto`` (pyproject's addopts): one worker per core, at most 4 — each worker imports torch and
    Lightning (~1 GiB), and the DDP tests start two more processes; on 2 cores the suite takes about half
    the time of one process."""
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")

# Small enough to run a whole train() in seconds on 2 CPU cores, large enough to exercise every path.
TINY = [
    "dataset.image_size=16",
    "dataset.batch_size=8",
    "model.generator.conv_dim=8",
    "model.generator.n_res=1",
    "model.discriminator.conv_dim=8",
    "model.discriminator.n_layers=3",
    "model.discriminator.embed_dim=16",
    "model.optim.n_critic=2",
    "trainer.max_steps=6",
    "trainer.log_every_n_steps=1",
    "trainer.enable_progress_bar=false",
    "eval.every_n_steps=3",
    "eval.n_samples=40",
    "eval.final_n_samples=60",
    "eval.classifier.steps=30",
    "eval.classifier.width=8",
    "eval.classifier.feature_dim=16",
    "samples.every_n_steps=3",
    "samples.n_inputs=4",
    "checkpoint.every_n_steps=3",
]
TINY_ACGAN = [o for o in TINY if not o.startswith(("model.generator.conv_dim", "model.generator.n_res",
                                                  "model.discriminator.conv_dim", "model.discriminator.n_layers"))] + [
    "model=acgan", "model.z_dim=16", "model.generator.width=8", "model.discriminator.width=8",
]


def compose(overrides: list[str], output_dir, cache_dir):
    """The composed train config (as `gan-lab train` would build it) with outputs under tmp dirs."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from gan_lab.config import CONF_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose(
            "train", overrides=[*overrides, f"paths.output_dir={output_dir}", f"paths.cache_dir={cache_dir}"]
        )
    return cfg


@pytest.fixture
def cache_dir(tmp_path_factory):
    """One evaluation-classifier cache per test session keeps the suite fast (the cache is keyed)."""
    return tmp_path_factory.getbasetemp() / "eval_cache"
