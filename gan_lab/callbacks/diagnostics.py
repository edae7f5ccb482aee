"""Label-geometry and loss-balance diagnostics every ``diagnostics.every_n_steps``, on a fixed real batch.

Calls the module's declared ``diagnostics(x, y)`` hook (see ``ConditionalGANModule.diagnostics``) and
records its scalars (``geometry/*``, ``grad/*``, ``critic/*``) in three places: ``train_metrics.jsonl``
in the run directory (a line with ``"kind": "diagnostics"``), the loggers (W&B charts), and a heat map of
the cosines between class weight vectors (``diagnostics/weight_cos_step_XXXXXX.png``, also to W&B, with
histograms of cos θ to the target class for real and fake embeddings).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from PIL import Image

from gan_lab.imaging import save_pil
from gan_lab.records import append_jsonl


def fixed_batch(datamodule, n: int, split: str = "val") -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` images of ``split`` (the same every call and every run with the same data split)."""
    ds = datamodule.dataset(split)
    items = [ds[i] for i in range(min(n, len(ds)))]
    return torch.stack([im for im, _ in items]), torch.as_tensor([int(lb) for _, lb in items])


def heatmap(values: torch.Tensor, cell: int = 16) -> Image.Image:
    """(C, C) values in [-1, 1] -> RGB image, blue (−1) – white (0) – red (+1), ``cell`` pixels per entry."""
    v = values.clamp(-1, 1).numpy()[..., None]
    white, red, blue = np.array([1.0, 1.0, 1.0]), np.array([0.8, 0.1, 0.1]), np.array([0.1, 0.2, 0.8])
    rgb = np.where(v >= 0, white + v * (red - white), white - v * (blue - white))
    img = (rgb * 255).round().astype(np.uint8).repeat(cell, 0).repeat(cell, 1)
    return Image.fromarray(img, mode="RGB")


class Diagnostics(pl.Callback):
    def __init__(self, run_dir: str | Path, every_n_steps: int, n_images: int = 128, split: str = "val"):
        self.run_dir = Path(run_dir)
        self.every = int(every_n_steps)
        self.n_images, self.split = int(n_images), split
        self.batch: tuple[torch.Tensor, torch.Tensor] | None = None

    def run(self, trainer: pl.Trainer, module) -> dict[str, float]:
        if self.batch is None:
            self.batch = fixed_batch(trainer.datamodule, self.n_images, self.split)
        step = trainer.global_step
        scalars, tensors = module.diagnostics(*self.batch)
        append_jsonl(self.run_dir / "train_metrics.jsonl", {"step": step, "kind": "diagnostics", **scalars})
        path = save_pil(heatmap(tensors["weight_cos"]), self.run_dir / "diagnostics" / f"weight_cos_step_{step:06d}.png")
        for logger in trainer.loggers:
            logger.log_metrics(scalars, step=step)
            if isinstance(logger, pl.loggers.WandbLogger):
                import wandb

                logger.experiment.log({
                    "geometry/weight_cos": wandb.Image(str(path)),
                    "geometry/cos_target_real_hist": wandb.Histogram(tensors["cos_target_real"].numpy()),
                    "geometry/cos_target_fake_hist": wandb.Histogram(tensors["cos_target_fake"].numpy()),
                    "trainer/global_step": step,
                })
        return scalars

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if self.every > 0 and trainer.is_global_zero and trainer.global_step % self.every == 0:
            self.run(trainer, module)
