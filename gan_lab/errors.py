"""The failures a user can fix themselves: printed as one clear line, not a stack trace.

The data errors live here, not in gan_lab.data, because the renderer (gan_lab.synth) raises them too and
must not import the data package (which imports synth). Each message names the path, the expected layout
or the reason, and the fix.
"""

from __future__ import annotations

from pathlib import Path


class DatasetNotFoundError(FileNotFoundError):
    """The data set is not where the config says (``detail`` says what exactly is missing)."""

    def __init__(self, name: str, path, layout: str, source: str, key: str = "dataset.root", detail: str = ""):
        self.path = path
        detail = f" ({detail})" if detail else ""
        shown = str(path) if Path(path).is_absolute() else f"{path} (= {Path(path).absolute()})"
        super().__init__(
            f"{name} data set not found at {shown}{detail}. Expected layout:\n{layout}\nGet it from: {source}\n"
            f"Put it there, or point {key}=/path/to/it (or paths.data_dir=...) at your copy."
        )


class CorruptImageError(ValueError):
    """A data file (an image, or e.g. a CIFAR pickle: ``what``) cannot be decoded."""

    def __init__(self, path, reason: str, what: str = "image", fix: str = "Delete or replace this file."):
        self.path = path
        super().__init__(f"cannot read {what} {path}: {reason}. {fix}")


class RunOutputError(OSError):
    """A run output (a record line, a sample grid, a diagnostics image) could not be written, e.g. a full disk.

    Training stops at once (every later write would fail too); the checkpoints already written are intact."""

    def __init__(self, path, error: BaseException):
        self.path = path
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        super().__init__(f"could not write {path} ({reason}). Nothing written before it is lost: free space in "
                         f"{Path(path).parent} (or choose another hydra.run.dir) and resume with ckpt_path=last.")


def user_error_types() -> tuple[type[BaseException], ...]:
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from gan_lab.checkpoints import CheckpointWriteError
    from gan_lab.modules.base import NonFiniteLossError
    from gan_lab.registry import ConfigError

    return (ConfigError, DatasetNotFoundError, CorruptImageError, NonFiniteLossError, CheckpointWriteError,
            RunOutputError, HydraException, OmegaConfBaseException)
