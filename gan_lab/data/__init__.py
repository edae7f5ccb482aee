"""LightningDataModules. ``build_datamodule(cfg.dataset)`` picks one by ``dataset.name``."""

from __future__ import annotations

import inspect
from typing import Mapping

from gan_lab.data import cifar100, digits, fashion_mnist, folder, rafd  # noqa: F401  (importing registers them)
from gan_lab.data import albedo  # noqa: F401  (registers albedo_synth, albedo_folder)
from gan_lab.data.base import ImageDataModule
from gan_lab.data.registry import DATASETS, register_dataset
from gan_lab.registry import ConfigError


def build_datamodule(cfg: Mapping) -> ImageDataModule:
    """The datamodule named by ``cfg['name']``, built with the remaining keys (unknown ones are errors).

    A composed config arrives as an OmegaConf node; datamodules get plain dicts and lists (interpolations
    resolved), so a list or dict given on the command line (``dataset.render.noise=[0,0]``) is a list or
    dict to them, as their checks and cache keys expect."""
    from omegaconf import OmegaConf

    kw = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
    cls = DATASETS.get(kw.pop("name"))
    allowed = set()
    for klass in cls.__mro__:
        if klass is object or "__init__" not in vars(klass):
            continue
        allowed |= {p for p in inspect.signature(klass.__init__).parameters if p not in ("self", "kw", "args", "kwargs")}
    for key in kw:
        if key not in allowed:
            raise ConfigError(f"dataset.{key} is not an option of dataset={cls.name}; allowed: {', '.join(sorted(allowed))}")
    return cls(**kw)


__all__ = ["DATASETS", "register_dataset", "build_datamodule", "ImageDataModule"]
