"""``checkpoints/last.ckpt`` every N steps, written atomically.

Lightning's ModelCheckpoint (2.6, manual optimisation) defers *every* save, ``last`` included, until
its monitored metric exists, so a run that crashes before its first evaluation would leave no
checkpoint. This callback saves the full state unconditionally; ModelCheckpoint keeps only the best.
The file is written beside and renamed over the old one, so a crash mid-write never corrupts it.

It is a ``Checkpoint`` callback so Lightning runs it with the checkpoint callbacks, after every other one, and
gan_lab lists it after the best-checkpoint callback: ``last.ckpt`` of a step then holds that step's records
and the best checkpoint chosen at that step (written before it, the best of that step was forgotten on
resume and an old best file was kept beside the new one).
"""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl


def save_atomically(trainer: pl.Trainer, path: Path) -> None:
    """trainer.save_checkpoint to ``path`` (every rank must call it); the Trainer's
    :class:`gan_lab.checkpoints.AtomicCheckpointIO` writes beside the file and renames over it."""
    trainer.save_checkpoint(Path(path), weights_only=False)  # full state for exact resume (explicit: no log line)
    trainer.strategy.barrier("last_checkpoint")


class LastCheckpoint(pl.callbacks.Checkpoint):
    def __init__(self, path: str | Path, every_n_steps: int):
        self.path = Path(path)
        self.every = int(every_n_steps)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if self.every > 0 and trainer.global_step % self.every == 0:
            save_atomically(trainer, self.path)
