"""Typed views of the config nodes a module is built from.

The YAML files in ``conf/`` are the one source of defaults: a spec field has no default value, so a
key missing from a hand-built config is a clear ConfigError naming it, never a silent second default
in code. Unknown keys are refused the same way (Hydra's struct mode already does for composed configs).
Modules keep the plain dicts as hyper-parameters (self-describing checkpoints) and read these specs.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Any, Mapping, TypeVar

from gan_lab.registry import ConfigError

S = TypeVar("S")


def read_spec(cls: type[S], node: Mapping[str, Any] | None, where: str) -> S:
    """``cls(**node)`` with a ConfigError naming ``where.<key>`` for a missing or unknown key.

    A field with a default in ``cls`` may be absent (a knob added later: older checkpoints' configs lack it)."""
    node = dict(node or {})
    names = [f.name for f in fields(cls)]
    unknown = sorted(set(node) - set(names))
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]} is not an option here; allowed: "
                          + ", ".join(f"{where}.{n}" for n in names))
    missing = [f.name for f in fields(cls) if f.name not in node and f.default is MISSING]
    if missing:
        raise ConfigError(f"{where}.{missing[0]} is missing; set it (the defaults are in conf/)")
    for f in fields(cls):  # a number where a number belongs: `model.optim.g_lr=abc` is one line, not a traceback
        if f.name in node:
            check_number(f"{where}.{f.name}", node[f.name], str(f.type))
    return cls(**{n: node[n] for n in names if n in node})


def check_number(key: str, value: Any, kind: str) -> None:
    """ConfigError unless ``value`` fits the annotation ``kind`` ("float", "int", "float | None", ...)."""
    optional = "None" in kind
    if value is None and optional:
        return
    if kind.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}={value!r} is invalid; allowed: an integer" + (" or null" if optional else ""))
    elif kind.startswith("float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}={value!r} is invalid; allowed: a number" + (" or null" if optional else ""))


def _at_least(where: str, value: float, low: float = 0.0) -> None:
    if not value >= low:
        raise ConfigError(f"{where}={value} is invalid; allowed: a number >= {low:g}")


@dataclass(frozen=True)
class OptimSpec:
    """``model.optim``: Adam for both nets, n_critic D steps per G step, linear decay after ``decay_start``."""

    g_lr: float
    d_lr: float
    betas: tuple[float, float]
    n_critic: int
    decay_start: float

    def __post_init__(self) -> None:
        for key in ("g_lr", "d_lr"):
            if not float(getattr(self, key)) > 0:
                raise ConfigError(f"model.optim.{key}={getattr(self, key)} is invalid; allowed: a number > 0")
        if int(self.n_critic) < 1:
            raise ConfigError(f"model.optim.n_critic={self.n_critic} is invalid; allowed: an integer >= 1")
        if len(tuple(self.betas)) != 2:
            raise ConfigError(f"model.optim.betas={list(self.betas)} is invalid; allowed: two numbers [b1, b2]")


@dataclass(frozen=True)
class EMASpec:
    """``model.ema``: EMA of the generator's weights (decay 0 = no averaging) from ``start_step``."""

    decay: float
    start_step: int

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.decay) < 1.0:
            raise ConfigError(f"model.ema.decay={self.decay} is invalid; allowed: 0 <= decay < 1")


@dataclass(frozen=True)
class AdversarialSpec:
    """``adversarial``: the registered adversarial loss and the gradient-penalty weight."""

    name: str
    lambda_gp: float

    def __post_init__(self) -> None:
        _at_least("adversarial.lambda_gp", float(self.lambda_gp))


@dataclass(frozen=True)
class HeadSpec:
    """``head``: the head's name, its loss weight (heads that add a loss term; a projection head has none),
    the λ balance for normalised heads, and the head's own constructor options (``scale``, ``margin``,
    ``temperature``, ... as the head class declares them)."""

    name: str
    lambda_cls: float | None
    reference_scale: float | None
    options: dict

    @classmethod
    def read(cls, node: Mapping[str, Any]) -> HeadSpec:
        node = dict(node)
        if "name" not in node:
            raise ConfigError("head.name is required; choose head=<name> (conf/head/)")
        ref = node.pop("reference_scale", None)  # only normalised heads have one; null = λ_cls as configured
        if ref is not None and not (isinstance(ref, (int, float)) and ref > 0):
            raise ConfigError(f"head.reference_scale={ref} is invalid; allowed: a number > 0, or null")
        name, lam = node.pop("name"), node.pop("lambda_cls", None)
        check_number("head.lambda_cls", lam, "float | None")
        for key, value in node.items():  # the head's own options are numbers (scale, margin, ...) or flags
            if not isinstance(value, (int, float)):
                raise ConfigError(f"head.{key}={value!r} is invalid; allowed: a number (or true/false for a flag)")
        if lam is not None:
            _at_least("head.lambda_cls", float(lam))
        return cls(name, None if lam is None else float(lam), None if ref is None else float(ref), node)


@dataclass(frozen=True)
class TranslationObjective:
    """``model.objective`` of StarGAN: the cycle-reconstruction weight."""

    lambda_rec: float

    def __post_init__(self) -> None:
        _at_least("model.objective.lambda_rec", float(self.lambda_rec))


@dataclass(frozen=True)
class AlbedoObjective:
    """``model.objective`` of pix2pix albedo extraction (terms in ``gan_lab.modules.albedo``)."""

    lambda_adv: float
    lambda_l1: float
    lambda_si_mse: float
    lambda_grad: float
    grad_scales: int
    lambda_ssim: float
    lambda_fm: float
    l1_outside_mask: float
    lambda_lab: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name.startswith("lambda_"):
                _at_least(f"model.objective.{f.name}", float(getattr(self, f.name)))
        if int(self.grad_scales) < 1:
            raise ConfigError(f"model.objective.grad_scales={self.grad_scales} is invalid; allowed: an integer >= 1")
        if not 0.0 <= float(self.l1_outside_mask) <= 1.0:
            raise ConfigError(f"model.objective.l1_outside_mask={self.l1_outside_mask} is invalid; "
                              "allowed: 0 <= value <= 1")
