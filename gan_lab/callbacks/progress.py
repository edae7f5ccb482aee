"""A progress bar over training *iterations* (``trainer.max_steps``), not over epochs.

Lightning's own bar restarts every epoch; a GAN run is specified in steps, so one bar from 0 to
``max_steps`` (resuming from the checkpoint's step) with the latest losses and evaluation is what
a user wants to watch.
"""

from __future__ import annotations

from pytorch_lightning.callbacks.progress import ProgressBar
from tqdm import tqdm

from gan_lab.progress import progress


class StepProgressBar(ProgressBar):
    def __init__(self, refresh_every: int = 5):
        super().__init__()
        self.refresh_every = max(1, int(refresh_every))
        self._bar: tqdm | None = None
        self._enabled = True

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_start(self, trainer, pl_module) -> None:
        if not (self._enabled and trainer.is_global_zero):
            return
        total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None
        # Into a log file (no terminal) a redraw per refresh would flood it: there one line per 10 % of the run.
        self._bar = progress(total=total, initial=trainer.global_step, desc="train", unit="it", dynamic_ncols=True,
                             smoothing=0.1, mininterval=0.1)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._bar is None:
            return
        self._bar.update(trainer.global_step - self._bar.n)
        if trainer.global_step % self.refresh_every == 0:
            metrics = {**trainer.callback_metrics, **trainer.progress_bar_metrics}
            post = {}
            for key in pl_module.progress_keys:  # declared by the module (its task's headline numbers)
                if key in metrics:
                    value = metrics[key]
                    post[key.split("/")[-1]] = f"{float(value):.3f}"
            self._bar.set_postfix(post, refresh=False)

    def on_train_end(self, trainer, pl_module) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
