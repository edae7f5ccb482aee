"""Mean ± sample standard deviation over seeds: the one summary every table of the report shows."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

from gan_lab.report.runs import finite


@dataclass
class Stat:
    """Mean and sample std (ddof=1; NaN when n < 2) of the finite values; NaN/missing values are not counted."""

    values: list[float]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return math.fsum(self.values) / self.n if self.n else math.nan

    @property
    def std(self) -> float:
        if self.n < 2:
            return math.nan
        if max(self.values) == min(self.values):
            return 0.0  # exactly: the summed rounding of the mean would otherwise show as ±1e-16
        m = self.mean
        return math.sqrt(math.fsum((v - m) ** 2 for v in self.values) / (self.n - 1))


def stat(values: Iterable) -> Stat:
    return Stat([float(v) for v in values if finite(v)])
