"""``<run>/train_metrics.jsonl``: the training scalars (``train/*``) of every logged step, kept in the run
directory whatever the logger (W&B, or ``logger=none``), one strict-JSON object per line.

The module declares ``last_logs`` (its latest iteration's losses as floats); this callback appends them
every ``trainer.log_every_n_steps`` iterations. Diagnostics (``geometry/*``, ``grad/*``, ``critic/*``)
are appended to the same file by :class:`gan_lab.callbacks.diagnostics.Diagnostics`.
"""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl

from gan_lab.records import append_jsonl, keep_before_start


class TrainRecord(pl.Callback):
    def __init__(self, path: str | Path, every_n_steps: int):
        self.path = Path(path)
        self.every = max(1, int(every_n_steps))

    def on_train_start(self, trainer, module):
        if trainer.is_global_zero:  # resumed: later lines will be recomputed; fresh: an earlier attempt's go aside
            keep_before_start(self.path, trainer.global_step)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        step = trainer.global_step
        if trainer.is_global_zero and step % self.every == 0 and module.last_logs:
            append_jsonl(self.path, {"step": step, **{f"train/{k}": v for k, v in module.last_logs.items()}})
