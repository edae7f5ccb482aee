"""Lightning callbacks: sample grids, periodic evaluation with metrics.jsonl."""

from gan_lab.callbacks.evaluation import PeriodicEvaluation
from gan_lab.callbacks.samples import SampleGrids

__all__ = ["PeriodicEvaluation", "SampleGrids"]
