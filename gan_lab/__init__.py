"""gan_lab: conditional-GAN experiments with trustworthy numbers.

Sub-packages: ``nets`` (plain nn.Modules), ``losses`` (adversarial losses, classifier heads),
``data`` (LightningDataModules), ``modules`` (LightningModules), ``metrics`` (evaluation),
``callbacks``, ``synth`` (label renderer), ``report`` (run comparison).
"""

__version__ = "0.1.0"
