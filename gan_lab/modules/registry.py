"""Registry of LightningModules by the ``model.module`` config key."""

from gan_lab.registry import Registry

MODULES = Registry("model module", "model.module")
register_module = MODULES.register
