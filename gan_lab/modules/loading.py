"""Rebuild a trained module from a checkpoint without knowing its class in advance."""

from __future__ import annotations

from pathlib import Path

from gan_lab.checkpoints import load_checkpoint
from gan_lab.modules.registry import MODULES
from gan_lab.registry import ConfigError


def load_module(ckpt_path: str | Path, map_location: str = "cpu"):
    """The module saved in ``ckpt_path`` (class chosen by its ``model.module`` hyper-parameter), in eval mode."""
    ckpt = load_checkpoint(Path(ckpt_path), map_location=map_location)  # one clear error when unreadable
    hp = ckpt.get("hyper_parameters")
    if not hp or "model" not in hp:
        raise ConfigError(f"ckpt_path={ckpt_path} has no gan_lab hyper-parameters; was it written by gan-lab train?")
    module = MODULES.get(hp["model"]["module"])(**hp)
    module.load_state_dict(ckpt["state_dict"])
    module.eval()
    module.checkpoint_step = int(ckpt.get("global_step", 0))
    return module
