"""Registry of datamodules by the ``dataset.name`` config key."""

from gan_lab.registry import Registry

DATASETS = Registry("dataset", "dataset")
register_dataset = DATASETS.register
