"""W&B that cannot stop a run: if the W&B service dies or its directory vanishes, training, checkpoints
and ``metrics.jsonl`` go on, with one warning, and W&B logging is switched off for the rest of the run.

:class:`ResilientWandbLogger` hands out its W&B run behind a guard: every call on the run (``log``,
``define_metric``, ``summary.update``, ``config.update``, ``finish``, ...) that raises is reported once
and turns the logger into a no-op. Lightning's own WandbLogger methods all go through ``experiment``.
"""

from __future__ import annotations

import logging
from typing import Any

from pytorch_lightning.loggers import WandbLogger

log = logging.getLogger("gan_lab")


class _Dead:
    """What a broken W&B run hands out: falsy, callable (returns None), every attribute itself."""

    def __bool__(self) -> bool:
        return False

    def __call__(self, *args, **kwargs) -> None:
        return None

    def __getattr__(self, name: str) -> "_Dead":
        return self


_DEAD = _Dead()


class _Guarded:
    """A proxy for a W&B object: attribute reads pass through, calls are guarded."""

    def __init__(self, target: Any, owner: "ResilientWandbLogger"):
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_owner", owner)

    def __getattr__(self, name: str):
        owner = self._owner
        if owner.broken:
            return _DEAD
        try:
            value = getattr(self._target, name)
        except Exception as e:  # noqa: BLE001 - whatever W&B raises, the run goes on
            owner.fail(e)
            return _DEAD
        if name in ("summary", "config"):
            return _Guarded(value, owner)
        if callable(value):
            def call(*args, **kwargs):
                if owner.broken:
                    return None
                try:
                    return value(*args, **kwargs)
                except Exception as e:  # noqa: BLE001
                    owner.fail(e)
                    return None
            return call
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        if not self._owner.broken:
            try:
                setattr(self._target, name, value)
            except Exception as e:  # noqa: BLE001
                self._owner.fail(e)


def _quietly(fn, *args, **kwargs) -> None:
    try:
        fn(*args, **kwargs)
    except Exception:  # noqa: BLE001 - best effort
        pass


class ResilientWandbLogger(WandbLogger):
    broken = False

    def fail(self, error: BaseException) -> None:
        if not self.broken:
            self.broken = True
            self._release()
            log.warning("W&B failed (%s: %s); training goes on and metrics.jsonl keeps every number, but W&B "
                        "logging is off for the rest of this run", type(error).__name__, error)

    def _release(self) -> None:
        """Finish the W&B run in the background (best effort: a dead service must not block training), so
        the process's global ``wandb.run`` is free for the next run of a sweep."""
        import threading

        run = self._experiment
        if run is not None and hasattr(run, "finish"):
            threading.Thread(target=lambda: _quietly(run.finish, exit_code=1), daemon=True).start()

    @property
    def experiment(self):
        try:
            run = WandbLogger.experiment.fget(self)
        except Exception as e:  # noqa: BLE001 - the service would not start
            self.fail(e)
            return _DEAD
        return _DEAD if self.broken else _Guarded(run, self)

    def finalize(self, status: str) -> None:
        if not self.broken:
            try:
                super().finalize(status)
            except Exception as e:  # noqa: BLE001
                self.fail(e)
