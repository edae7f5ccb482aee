"""scikit-learn's bundled handwritten digits: 1,797 real 8×8 images, 10 classes, no download.

The embedded default data set: real data for CPU runs and tests. Resized to ``image_size``
(bilinear), scaled from 0..16 to [-1, 1], split 60/10/30 stratified by ``split_seed``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from gan_lab.data.base import ImageDataModule, stratified_split
from gan_lab.data.registry import register_dataset


@register_dataset("digits")
class DigitsDataModule(ImageDataModule):
    name = "digits"

    def __init__(self, root: str = "", image_size: int = 32, val_fraction: float = 0.1, test_fraction: float = 0.3,
                 **kw):
        super().__init__(root=root, image_size=image_size, **kw)
        self.fractions = (1 - val_fraction - test_fraction, float(val_fraction), float(test_fraction))
        self.num_classes, self.channels = 10, 1
        self.class_names = [str(i) for i in range(10)]

    def _load(self):
        from sklearn.datasets import load_digits

        d = load_digits()
        x = torch.from_numpy(d.images.astype(np.float32) / 8.0 - 1.0)[:, None]  # 0..16 -> [-1, 1]
        if self.image_size != 8:
            x = F.interpolate(x, size=(self.image_size,) * 2, mode="bilinear", align_corners=False).clamp(-1, 1)
        y = torch.from_numpy(d.target.astype(np.int64))
        idx = stratified_split(d.target, self.fractions, self.split_seed)
        return {s: TensorDataset(x[i], y[i]) for s, i in idx.items()}
