"""Progress bars that do not flood logs: a live tqdm bar on a terminal, a few plain lines elsewhere.

Into a log file or a pipe (stderr is not a TTY), tqdm's redraws (``\\r`` + the whole bar, up to ten a
second) pile up. There ``progress`` prints one plain, newline-terminated line per ~10 % of the total
(``LOG_FRACTION``; every ``LOG_SECONDS`` when the total is unknown) plus the final state.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import IO

from tqdm import tqdm

LOG_FRACTION = 0.1
LOG_SECONDS = 60.0


class LineWriter:
    """A file for tqdm that turns each redraw into one line; blank redraws (clearing a bar) are dropped."""

    def __init__(self, file: IO[str]):
        self.file = file
        self._last = ""

    def write(self, text: str) -> None:
        for part in text.replace("\r", "\n").split("\n"):
            line = part.strip()
            if line and line != self._last:
                self.file.write(line + "\n")
                self._last = line

    def flush(self) -> None:
        self.file.flush()


def is_terminal(file: IO[str]) -> bool:
    try:
        return file.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress(iterable: Iterable | None = None, total: int | None = None, file: IO[str] | None = None,
             **kwargs) -> tqdm:
    """``tqdm(iterable, total=..., **kwargs)`` that logs a bounded number of plain lines when not on a terminal."""
    file = sys.stderr if file is None else file
    if is_terminal(file):
        return tqdm(iterable, total=total, file=file, **kwargs)
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)
    if kwargs.get("disable"):
        return tqdm(iterable, total=total, file=file, **kwargs)
    every = max(1, round(total * LOG_FRACTION)) if total else 1
    kwargs.update(miniters=every, mininterval=0.0 if total else LOG_SECONDS, maxinterval=float("inf"),
                  ascii=True, dynamic_ncols=False)
    return tqdm(iterable, total=total, file=LineWriter(file), **kwargs)
