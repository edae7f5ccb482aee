"""A tiny name -> class/function registry used by heads, adversarial losses and metrics.

Registries keep "add a new X" to one file: decorate it, and the config can name it.
"""

from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration key holds a value gan_lab cannot use; the message names key and allowed values."""


class Registry(Generic[T]):
    """Maps names to objects; ``get`` fails naming the config key and the allowed names."""

    def __init__(self, kind: str, config_key: str):
        self.kind = kind
        self.config_key = config_key
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise KeyError(f"{self.kind} {name!r} registered twice")
            self._items[name] = obj
            return obj

        return deco

    def get(self, name: str) -> T:
        if name not in self._items:
            raise ConfigError(
                f"{self.config_key}={name!r} is not a known {self.kind}; allowed: {', '.join(self.names())}"
            )
        return self._items[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
