"""Argument handling shared by the sub-commands: ``key=value`` words (``parse_kv``) and ``-h/--help``.

The rule (see gan_lab/cli.py): every command takes Hydra-style ``key=value`` arguments. train, tune and
eval compose conf/ with Hydra; the others parse their words here, so an unknown, missing or malformed
key is a ConfigError naming it (``gan-lab`` prints it in one line and exits with status 2).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence

from gan_lab.registry import ConfigError

HELP_FLAGS = ("-h", "--help")


def usage_of(doc: str) -> str:
    """A command module's usage: the ````quoted```` start of its docstring's first line (else the whole line)."""
    first = doc.strip().splitlines()[0]
    if first.startswith("``") and "``" in first[2:]:
        return first[2:first.index("``", 2)]
    return first.strip("`. ")


def print_help(argv: Sequence[str], doc: str) -> bool:
    """If ``argv`` asks for help, print ``usage: <first docstring line>`` and the rest of ``doc``; True then."""
    if not any(a in HELP_FLAGS for a in argv):
        return False
    usage = usage_of(doc)
    text = inspect.cleandoc(doc)
    first, _, rest = text.partition("\n")
    tail = first.split(f"``{usage}``", 1)[-1].lstrip(":. ") if f"``{usage}``" in first else ""
    print(f"usage: {usage}\n\n" + "\n".join(t for t in (tail, rest.strip("\n")) if t))
    return True


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


def check_device(device: str, key: str = "device") -> str:
    """A torch device this machine has (``cpu``, ``cuda``, ``cuda:1``, ``mps``), else ConfigError naming the fix."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ConfigError(f"{key}={device!r} is not a device; allowed: cpu, cuda, cuda:<index>") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{key}={device} but this machine has no CUDA device (or torch was built without CUDA); "
                          f"use {key}=cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"{key}={device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


def check_output_dir(output: str, key: str = "output"):
    """``output`` as a directory path: ConfigError if it is an existing file (the images would have nowhere to go)."""
    from pathlib import Path

    path = Path(output)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{key}={output} is an existing file; give a directory for the output images")
    return path


def output_names(paths) -> dict:
    """{input path: output stem}: the stem, or the whole name where two inputs share a stem (a.jpg and a.png
    would otherwise both write a.png, the second overwriting the first)."""
    stems = [p.stem for p in paths]
    return {p: p.stem if stems.count(p.stem) == 1 else p.name for p in paths}
