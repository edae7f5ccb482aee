"""Data errors a user can fix: each message names the path, the expected layout and the fix."""

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
