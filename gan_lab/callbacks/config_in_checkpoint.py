"""Store the run's resolved configuration in every checkpoint, so a checkpoint alone can be
evaluated (``gan-lab eval``) or inspected after its run directory is gone."""

from __future__ import annotations

import pytorch_lightning as pl


class ConfigInCheckpoint(pl.Callback):
    def __init__(self, config: dict):
        self.config = config

    def on_save_checkpoint(self, trainer, module, checkpoint: dict) -> None:
        checkpoint["gan_lab_config"] = self.config
