"""The datamodule contract every data set follows.

Items are ``(image, label)``: float32 (channels, image_size, image_size) in [-1, 1], int64 label.
``dataset(split)`` gives the train / val / test split; the split is fixed by ``split_seed``
(independent of the run's seed, so every run and the cached evaluation classifier see the same split).
"""

from __future__ import annotations

import math

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset

from gan_lab.data.sampling import EpochSampler, FlipByIndex
from gan_lab.registry import ConfigError

SPLITS = ("train", "val", "test")


def resize_square(images: Tensor, size: int) -> Tensor:
    """(N, C, H, W) -> centre-cropped square, resized to size×size (bilinear, antialiased)."""
    h, w = images.shape[-2:]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    images = images[..., top : top + s, left : left + s]
    if s == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=s > size, align_corners=False)


def stratified_split(labels: np.ndarray, fractions: tuple[float, float, float], seed: int) -> dict[str, np.ndarray]:
    """Indices per split, stratified by class, deterministic in ``seed``; every class in every split if possible."""
    rng = np.random.default_rng(seed)
    out = {s: [] for s in SPLITS}
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_val = int(round(fractions[1] * len(idx)))
        n_test = int(round(fractions[2] * len(idx)))
        out["val"].append(idx[:n_val])
        out["test"].append(idx[n_val : n_val + n_test])
        out["train"].append(idx[n_val + n_test :])
    return {s: np.sort(np.concatenate(v)) for s, v in out.items()}


class UInt8Images(Dataset):
    """(N, C, H, W) uint8 images + int64 labels -> float32 [-1, 1] items, resized to ``image_size``."""

    def __init__(self, images: Tensor, labels: Tensor, image_size: int):
        self.images, self.labels, self.image_size = images, labels, int(image_size)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        x = self.images[i].float() / 127.5 - 1.0
        if x.shape[-1] != self.image_size:
            x = resize_square(x[None], self.image_size)[0].clamp(-1, 1)
        return x, self.labels[i]


class ImageDataModule(pl.LightningDataModule):
    """Base class: subclasses implement ``_load()`` returning {split: Dataset} and set class metadata."""

    name = "base"

    def __init__(self, root: str, image_size: int, batch_size: int = 16, num_workers: int = 0, split_seed: int = 0,
                 eval_batch_size: int = 64, hflip: bool = False, train_fraction: float = 1.0):
        super().__init__()
        self.hflip = bool(hflip)
        self.train_fraction = float(train_fraction)
        if not 0.0 < self.train_fraction <= 1.0:
            raise ConfigError(f"dataset.train_fraction={train_fraction} is invalid; allowed: 0 < train_fraction <= 1")
        self.shuffle_seed = 0  # the run's seed (train.py sets it): the training data order
        self.root = str(root)
        self.image_size = int(image_size)
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.split_seed = int(split_seed)
        self.eval_batch_size = int(eval_batch_size)
        self.num_classes: int = 0
        self.class_names: list[str] = []
        self.channels: int = 3
        self._splits: dict[str, Dataset] | None = None

    def _load(self) -> dict[str, Dataset]:
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self._splits is None:
            splits = self._load()
            if self.num_classes:  # class-conditional data (the albedo sets have no classes)
                check_classes(splits, self.class_names, self.name)
            self._full_train = splits["train"]
            if self.train_fraction < 1.0:
                splits["train"] = stratified_subset(splits["train"], self.train_fraction)
            self._splits = splits

    def reference_train(self) -> Dataset:
        """The whole training split, whatever ``train_fraction``: what the evaluation's judge (the reference
        classifier, aug_gain's real-only baseline) learns from, so data-efficient runs are judged alike."""
        self.setup()
        return self._full_train

    def dataset(self, split: str) -> Dataset:
        if split not in SPLITS:
            raise ValueError(f"split={split!r}; allowed: {', '.join(SPLITS)}")
        self.setup()
        return self._splits[split]

    def _loader(self, split: str, shuffle: bool, batch_size: int, drop_last: bool) -> DataLoader:
        return DataLoader(self.dataset(split), batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        """Shuffled by :class:`EpochSampler` (order fixed by the run's seed and the epoch, sharded by rank,
        flips drawn with the order when ``hflip``); a resumed run starts where its checkpoint stopped."""
        ds = self.dataset("train")
        trainer = self.trainer  # set by Lightning during fit (None when called outside it)
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        sampler = EpochSampler(len(ds), self.shuffle_seed, rank, world, flip=self.hflip)
        if trainer is not None:  # one training batch per step: global_step batches are done
            # (Lightning draws the first batch before its first set_epoch call, so the epoch is set here too.)
            sampler.resume(trainer.global_step, self.batch_size)
        return DataLoader(FlipByIndex(ds) if self.hflip else ds, batch_size=self.batch_size, sampler=sampler,
                          drop_last=True, num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
                          generator=torch.Generator().manual_seed(self.shuffle_seed))  # not the global RNG

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False, self.eval_batch_size, False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False, self.eval_batch_size, False)

    def describe(self) -> str:
        sizes = ", ".join(f"{s} {len(self.dataset(s))}" for s in SPLITS)
        return (f"{self.name} at {self.root}: {sizes}; {self.num_classes} classes; "
                f"{self.channels}×{self.image_size}×{self.image_size}")


def split_labels(ds: Dataset) -> np.ndarray:
    """Every label of a split (from its label tensor when it has one, else item by item)."""
    labels = getattr(ds, "labels", None)
    if isinstance(labels, Tensor):
        return labels.numpy()
    return np.array([int(ds[i][1]) for i in range(len(ds))], dtype=np.int64)


def check_classes(splits: dict[str, Dataset], class_names: list[str], name: str) -> None:
    """A conditional GAN needs two classes or more, and every class in every split: a class too small to be
    carved into val and test would silently vanish from them (and from every evaluation)."""
    if len(class_names) < 2:
        raise ConfigError(f"data set {name}: {len(class_names)} class ({', '.join(class_names) or 'none'}); a "
                          "class-conditional GAN needs at least 2 (one folder per class)")
    counts = {s: np.bincount(split_labels(ds), minlength=len(class_names)) for s, ds in splits.items()}
    for s in ("val", "test"):
        for c in np.flatnonzero((counts["train"] > 0) & (counts[s] == 0)):
            total = int(sum(counts[x][c] for x in counts))
            raise ConfigError(f"data set {name}: class {class_names[c]!r} has no image in the {s} split ({total} "
                              f"image(s) in all): give it more images (at least 3, one per split), or remove it")


def stratified_subset(ds: Dataset, fraction: float) -> Subset:
    """The first ceil(fraction * n_c) training images of every class c, in the split's order (already
    shuffled by ``split_seed``): the data-efficient setting, the same images for every run and seed."""
    labels = split_labels(ds).tolist()  # from the split's label tensor where it has one (no image decoded)
    keep, seen, quota = [], {}, {}
    for c in set(labels):
        quota[c] = math.ceil(fraction * labels.count(c))
    for i, c in enumerate(labels):
        if seen.get(c, 0) < quota[c]:
            keep.append(i)
            seen[c] = seen.get(c, 0) + 1
    return Subset(ds, keep)


def check_fractions(val_fraction: float, test_fraction: float | None = None) -> tuple[float, float]:
    """Validated (val, test) fractions of a split: both in (0, 1) with val + test < 1 (test optional)."""
    val = float(val_fraction)
    if not 0.0 < val < 1.0:
        raise ConfigError(f"dataset.val_fraction={val_fraction} is invalid; allowed: 0 < val_fraction < 1")
    if test_fraction is None:
        return val, 0.0
    test = float(test_fraction)
    if not 0.0 < test < 1.0 or val + test >= 1.0:
        raise ConfigError(f"dataset.test_fraction={test_fraction} is invalid; allowed: 0 < test_fraction < 1 "
                          f"and val_fraction + test_fraction < 1 (val_fraction={val})")
    return val, test
