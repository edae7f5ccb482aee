"""The discriminator's class-conditioning head: one interface for every way a discriminator uses labels.

A head sits on the discriminator's embedding φ(x) (``(N, D)``) and declares how it conditions:

- ``classifies`` (auxiliary classifiers and contrastive heads): it adds a loss term weighted by
  ``head.lambda_cls``: ``d_loss(φ_real, y, φ_fake, y_fake)`` to the discriminator's objective and
  ``g_loss(φ_fake, y_fake)`` to the generator's. Most heads use the real images only on D's side
  (``forward(φ_real, y)``) and the fakes on G's; TAC-GAN's twin classifier also learns from the fakes.
- ``projects`` (projection discriminator): ``adversarial_term(φ, y)`` (shape ``(N,)``) is added to the
  critic's output before the adversarial loss; it adds no term of its own.

Every head also gives ``logits(φ)`` (``(N, C)`` class scores without margins: accuracy, diagnostics) and
``class_directions()`` (``(C, D)``: the label-geometry diagnostics). Heads are registered by name
(``@register_head``) and chosen with ``head=<name>``; their constructor's keyword arguments are their
config options (``head.<option>``), validated here.
"""

from __future__ import annotations

import inspect
import math
from contextlib import contextmanager
from typing import Callable, ClassVar, Iterator

import torch
from torch import Tensor, nn

from gan_lab.registry import ConfigError, Registry

HEADS: Registry[type["ConditioningHead"]] = Registry("classifier head", "head")


def register_head(name: str) -> Callable[[type["ConditioningHead"]], type["ConditioningHead"]]:
    """Class decorator: make a head selectable as ``head=<name>`` (with a ``conf/head/<name>.yaml``)."""
    return HEADS.register(name)


@contextmanager
def float32(device: torch.device) -> Iterator[None]:
    """Run the enclosed ops in the dtype we cast to, not the one autocast would pick."""
    with torch.autocast(device_type=device.type, enabled=False):
        yield


def positive(key: str, value: float, allow_zero: bool = False) -> float:
    """``value`` as a float, or ConfigError naming ``head.<key>`` when not finite and > 0 (>= 0)."""
    v = float(value)
    if not (math.isfinite(v) and (v >= 0 if allow_zero else v > 0)):
        raise ConfigError(f"head.{key}={value} is invalid; allowed: a finite number {'>= 0' if allow_zero else '> 0'}")
    return v


class ConditioningHead(nn.Module):
    """Base: validates the sizes and options; subclasses implement the interface in the module docstring."""

    name = "head"
    classifies: ClassVar[bool] = True  # adds d_loss / g_loss terms (weight head.lambda_cls)
    projects: ClassVar[bool] = False  # adds adversarial_term(φ, y) to the critic's output
    # True for heads that L2-normalise φ and score with s·cos θ: their loss gradient on φ grows like s/‖φ‖
    # (the modules balance λ_cls by head.reference_scale / s; see docs/label_geometry.md).
    normalised: ClassVar[bool] = False
    scale: float = 1.0

    def __init__(self, in_features: int, num_classes: int, **kw):
        super().__init__()
        self._refuse_unknown(kw)
        if int(in_features) < 1:
            raise ConfigError(
                f"in_features={in_features} is invalid (the discriminator's embed_dim); allowed: an integer >= 1")
        if int(num_classes) < 1:
            raise ConfigError(f"num_classes={num_classes} is invalid; allowed: an integer >= 1")
        self.in_features = int(in_features)
        self.num_classes = int(num_classes)

    @classmethod
    def _refuse_unknown(cls, kw: dict) -> None:
        if kw:
            raise ConfigError(f"head.{sorted(kw)[0]} is not an option of the {cls.name!r} head; allowed: "
                              + (", ".join(f"head.{o}" for o in cls.options()) or "none"))

    @classmethod
    def options(cls) -> list[str]:
        """The head's config options (``head.<option>``): its constructor's keyword arguments."""
        params = inspect.signature(cls.__init__).parameters
        return [n for n, p in params.items()
                if n not in ("self", "in_features", "num_classes") and p.kind is p.POSITIONAL_OR_KEYWORD]

    def logits(self, emb: Tensor) -> Tensor:
        raise NotImplementedError

    def class_directions(self) -> Tensor:
        """(C, D) class vectors, un-normalised (label-geometry diagnostics normalise them)."""
        raise NotImplementedError

    def forward(self, emb: Tensor, labels: Tensor) -> Tensor:
        """The head's loss on embeddings with their labels (a scalar)."""
        raise NotImplementedError

    def d_loss(self, emb_real: Tensor, y_real: Tensor, emb_fake: Tensor, y_fake: Tensor) -> Tensor:
        """The discriminator-side term: by default the loss on the real images with their labels."""
        return self(emb_real, y_real)

    def g_loss(self, emb_fake: Tensor, y_fake: Tensor) -> Tensor:
        """The generator-side term: the loss on the fakes with their target labels."""
        return self(emb_fake, y_fake)

    def adversarial_term(self, emb: Tensor, labels: Tensor) -> Tensor:
        """(N,) added to the critic's output (``projects`` heads only)."""
        raise NotImplementedError(f"the {self.name!r} head does not project")


def build_head(name: str, in_features: int, num_classes: int, **kwargs) -> ConditioningHead:
    """The head registered as ``name`` (config ``head``); ConfigError lists the names when unknown."""
    return HEADS.get(name)(in_features, num_classes, **kwargs)
