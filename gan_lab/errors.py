"""The failures a user can fix themselves: printed as one clear line, not a stack trace."""

from __future__ import annotations


def user_error_types() -> tuple[type[BaseException], ...]:
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from gan_lab.checkpoints import CheckpointWriteError
    from gan_lab.data.errors import CorruptImageError, DatasetNotFoundError
    from gan_lab.modules.base import NonFiniteLossError
    from gan_lab.registry import ConfigError

    return (ConfigError, DatasetNotFoundError, CorruptImageError, NonFiniteLossError, CheckpointWriteError,
            HydraException, OmegaConfBaseException)
