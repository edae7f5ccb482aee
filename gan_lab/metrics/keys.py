"""Facts about every number a metric records, declared once where the metric is registered.

A registered metric (``@register_metric`` in ``suite``, ``@register_albedo_metric`` in ``albedo``)
names the keys it writes, each with its direction ("min": lower is better, "max": higher is better,
None: a reference number, shown but never ranked) and a display label. The W&B summaries (best = min
or max), the report's best marks and column order, and the end-of-run summary all read this table,
so a new metric is one decorated function.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KeyInfo:
    name: str
    direction: str | None  # "min" | "max" | None (a reference: not ranked)
    label: str
    metric: str  # the registered metric that writes it


KEYS: dict[str, KeyInfo] = {}  # in registration order: the report's column order
METRIC_KEYS: dict[str, list[str]] = {}  # registered metric -> the keys it records


def declare_keys(metric: str, keys: dict[str, tuple[str | None, str]]) -> None:
    """Record ``{key: (direction, label)}`` for ``metric``; a key declared twice must agree."""
    for name, (direction, label) in keys.items():
        if direction not in ("min", "max", None):
            raise ValueError(f"metric {metric!r}: key {name!r} has direction {direction!r}; allowed: min, max, None")
        info = KeyInfo(name, direction, label, metric)
        old = KEYS.get(name)
        if old is not None and (old.direction, old.label) != (direction, label):
            raise ValueError(f"key {name!r} declared twice with different facts ({old.metric!r}, {metric!r})")
        KEYS.setdefault(name, info)
        METRIC_KEYS.setdefault(metric, []).append(name)


def load_all() -> dict[str, KeyInfo]:
    """The table with every registry imported (the report and W&B summaries call this)."""
    import gan_lab.metrics.albedo  # noqa: F401 - registers the albedo metrics
    import gan_lab.metrics.suite  # noqa: F401 - registers the conditional-GAN metrics

    return KEYS


def direction(metric: str) -> str | None:
    """"min", "max" or None (undeclared, or a reference number: not ranked); a "group/" prefix is ignored
    (albedo runs record "<tag>/psnr" beside "psnr")."""
    info = load_all().get(metric.rpartition("/")[2])
    return info.direction if info is not None else None
