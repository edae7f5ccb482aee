"""Sample grids from fixed inputs: the same inputs every time, one row per target class.

Saved as ``samples/step_XXXXXX.png`` in the run directory and logged to W&B (rank 0 only).
"""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl

from gan_lab.imaging import make_grid, save_image


class SampleGrids(pl.Callback):
    """Every ``every_n_steps`` (and at the end) write a grid of the EMA generator's outputs."""

    def __init__(self, out_dir: str | Path, every_n_steps: int, n_inputs: int, max_classes: int, seed: int):
        self.out_dir = Path(out_dir)
        self.every = every_n_steps
        self.n_inputs, self.max_classes, self.seed = n_inputs, max_classes, seed
        self.inputs = None
        self.last_path: Path | None = None

    def _write(self, trainer: pl.Trainer, module) -> None:
        if not trainer.is_global_zero:
            return
        if self.inputs is None:
            self.inputs = module.grid_inputs(trainer.datamodule, self.n_inputs, self.seed)
        was_training = module.training
        module.eval()
        grid = make_grid(module.sample_grid(self.inputs, self.max_classes))
        module.train(was_training)
        step = trainer.global_step
        upscale = max(1, 64 // module.image_size)
        self.last_path = save_image(grid, self.out_dir / f"step_{step:06d}.png", upscale=upscale)
        for logger in trainer.loggers:
            if isinstance(logger, pl.loggers.WandbLogger):
                logger.log_image(key="samples", images=[str(self.last_path)], step=step)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if self.every > 0 and trainer.global_step % self.every == 0:
            self._write(trainer, module)

    def on_train_end(self, trainer, module):
        if self.last_path is None or not self.last_path.name.endswith(f"{trainer.global_step:06d}.png"):
            self._write(trainer, module)
