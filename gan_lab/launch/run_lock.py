"""One run per run directory: an exclusive lock on ``<run dir>/.gan_lab.lock`` for the life of the process.

Two ``gan-lab train`` processes writing one directory would interleave ``metrics.jsonl``, overwrite each other's
``.hydra/`` and share ``last.ckpt.tmp``. The first takes the lock (``fcntl.flock``: released by the kernel when
the process ends, however it ends, so a killed run never leaves a stale lock); the second stops at once with
one line naming the holder. Only rank 0 locks: the other ranks of a DDP run share rank 0's directory.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path

from gan_lab.registry import ConfigError

LOCK_NAME = ".gan_lab.lock"
_held: dict[str, int] = {}  # resolved run dir -> open file descriptor holding its lock


class RunDirectoryBusyError(ConfigError):
    """Another live process holds the run directory's lock."""


def lock_run_dir(run_dir: str | Path, key: str = "hydra.run.dir") -> None:
    """Take ``run_dir``'s lock for this process (again: a no-op), or raise RunDirectoryBusyError naming the holder."""
    run_dir = Path(run_dir)
    name = str(run_dir.resolve())
    if name in _held:
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise RunDirectoryBusyError(
            f"{key}={run_dir} is in use by {holder}: one run per directory. Wait for it to end, or choose another "
            f"{key}=<dir>") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"gan-lab pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}"
              .encode(), 0)
    _held[name] = fd


def release_all() -> None:
    """Drop every lock this process holds (tests; a process's locks also go when it ends)."""
    for fd in _held.values():
        os.close(fd)
    _held.clear()
