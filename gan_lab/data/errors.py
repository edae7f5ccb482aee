"""Data errors a user can fix: each message names the path, the expected layout and the fix."""

from __future__ import annotations


class DatasetNotFoundError(FileNotFoundError):
    """The data set is not where the config says."""

    def __init__(self, name: str, path, layout: str, source: str, key: str = "dataset.root"):
        self.path = path
        super().__init__(
            f"{name} data set not found at {path}. Expected layout:\n{layout}\nGet it from: {source}\n"
            f"Put it there, or point {key}=/path/to/it (or paths.data_dir=...) at your copy."
        )


class CorruptImageError(ValueError):
    """An image file cannot be decoded."""

    def __init__(self, path, reason: str):
        self.path = path
        super().__init__(f"cannot read image {path}: {reason}. Delete or replace this file.")
