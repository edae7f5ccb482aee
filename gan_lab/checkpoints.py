"""Checkpoint files that survive faults: every save is atomic, and an unreadable file is named, not unpickled.

- :class:`AtomicCheckpointIO` (a Lightning CheckpointIO plugin, used for ``last.ckpt`` and ``best-*.ckpt``)
  writes beside the target and renames over it: a kill or a full disk mid-write leaves the previous file
  intact; a failed write stops training with :class:`CheckpointWriteError`.
- :func:`check_readable` verifies a checkpoint's zip container and every member's CRC without unpickling
  it (truncated and bit-flipped files fail), and :func:`load_checkpoint` is ``torch.load`` behind that check.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from gan_lab.registry import ConfigError


class CorruptCheckpointError(ConfigError):
    """A checkpoint file that cannot be read (truncated, corrupt, or not a checkpoint)."""


class CheckpointWriteError(OSError):
    """A checkpoint could not be written; the previous file at that path is intact."""


def _problem(path: Path) -> str | None:
    """Why ``path`` is not a whole checkpoint (zip container + every member's CRC), or None if it is."""
    if not zipfile.is_zipfile(path):
        return "not a complete checkpoint (truncated, or not written by torch.save)"
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        return f"unreadable ({e})"
    return None if bad is None else f"corrupt data in {bad}"


def check_readable(path: str | Path, key: str = "ckpt_path") -> None:
    path = Path(path)
    reason = _problem(path)
    if reason is None:
        return
    intact = [p for p in sorted(path.parent.glob("*.ckpt")) if p != path and _problem(p) is None]
    hint = (f"; intact checkpoint(s) beside it: {', '.join(str(p) for p in intact)} (pass {key}=<one of them>)"
            if intact else "")
    raise CorruptCheckpointError(f"{key}={path}: {reason}{hint}")


def load_checkpoint(path: str | Path, key: str = "ckpt_path", map_location: str = "cpu") -> dict:
    """``torch.load(weights_only=True)`` of a checked file: tensors, numbers, strings, lists and dicts only (what
    gan_lab writes), never code; any failure is one :class:`CorruptCheckpointError` naming it."""
    if not Path(path).is_file():
        raise ConfigError(f"{key}={path}: no such checkpoint file")
    check_readable(path, key)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:  # an object that would run code on loading: refused, not run
        raise CorruptCheckpointError(
            f"{key}={path} holds objects other than tensors and plain values, which gan_lab never writes; refused "
            "(loading it could run code). Only open checkpoints you trust.") from e
    except Exception as e:  # a valid zip that is not a checkpoint
        raise CorruptCheckpointError(f"{key}={path} is not a readable gan_lab checkpoint ({e})") from e


def check_compatible(module: torch.nn.Module, path: str | Path, key: str = "ckpt_path") -> None:
    """ConfigError unless the checkpoint holds exactly ``module``'s parameters and buffers with their shapes: resuming
    another model, head or width fails here in one line naming the first difference, not inside Lightning."""
    state = load_checkpoint(path, key).get("state_dict") or {}
    mine = module.state_dict()
    missing = [k for k in mine if k not in state]
    extra = [k for k in state if k not in mine]
    shapes = [k for k in mine if k in state and tuple(state[k].shape) != tuple(mine[k].shape)]
    if missing or extra or shapes:
        what = (f"{shapes[0]} is {tuple(state[shapes[0]].shape)} there, {tuple(mine[shapes[0]].shape)} here" if shapes
                else f"{(missing or extra)[0]} is {'missing from it' if missing else 'not in this model'}")
        raise ConfigError(f"{key}={path} holds another model than this configuration builds ({what}); resume with "
                          "the run's own settings (its .hydra/overrides.yaml), or start a new run")


class AtomicCheckpointIO(TorchCheckpointIO):
    def load_checkpoint(self, path, map_location=None, weights_only: bool | None = None) -> dict[str, Any]:
        """Resume loads like every gan_lab load: weights only (a checkpoint never runs code)."""
        return super().load_checkpoint(path, map_location=map_location, weights_only=True)

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(tmp, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except (OSError, RuntimeError) as e:  # a full disk: OSError from the file, RuntimeError from torch's zip writer
            tmp.unlink(missing_ok=True)
            kept = f"the previous {path.name} is intact" if path.exists() else "no earlier file was there"
            reason = getattr(e, "strerror", None) or ("the write failed: is the disk full?" if isinstance(e, RuntimeError)
                                                     else str(e))
            raise CheckpointWriteError(
                f"could not write checkpoint {path} ({reason}); {kept}. Free space in "
                f"{path.parent} (or choose another hydra.run.dir) and resume with ckpt_path=last.") from e
