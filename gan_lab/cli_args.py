"""``key=value`` argument parsing for the non-Hydra sub-commands (translate, extract-albedo, ...)."""

from __future__ import annotations

from typing import Mapping, Sequence

from gan_lab.registry import ConfigError


def parse_kv(argv: Sequence[str], required: Sequence[str], optional: Mapping[str, object], usage: str) -> dict:
    """Parse ``k=v`` words; unknown or missing keys raise ConfigError naming them and the usage."""
    args = dict(optional)
    allowed = list(required) + list(optional)
    for word in argv:
        if "=" not in word:
            raise ConfigError(f"argument {word!r} is not key=value; usage: {usage}")
        k, v = word.split("=", 1)
        if k not in allowed:
            raise ConfigError(f"unknown argument {k!r}; allowed: {', '.join(allowed)}; usage: {usage}")
        args[k] = v
    missing = [k for k in required if k not in args]
    if missing:
        raise ConfigError(f"missing argument(s) {', '.join(missing)}; usage: {usage}")
    return args
