"""LightningModules: a GAN's training procedure around plain nets and losses.

``MODULES`` maps ``model.module`` names to classes; importing this package registers them.
"""

from gan_lab.modules.registry import MODULES, register_module
from gan_lab.modules import translation, generation  # noqa: F401  (register)
from gan_lab.modules import albedo  # noqa: F401  (register)

__all__ = ["MODULES", "register_module"]
