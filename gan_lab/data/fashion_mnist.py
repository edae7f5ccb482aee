"""Fashion-MNIST (Xiao et al. 2017) from the official IDX files: 60,000 + 10,000 grey 28×28 images, 10 classes.

No download at run time: Debian's package ``dataset-fashion-mnist`` installs the four official files into
``/usr/share/datasets/fashion-mnist`` (the default ``dataset.root``); any directory holding them works,
gzipped (as distributed) or not. The IDX format (LeCun's MNIST page): a big-endian header — two zero bytes,
a type code (0x08 = unsigned byte), the number of dimensions — then one big-endian uint32 per dimension,
then the values, row-major.

Splits: the official train set -> train + val (val carved stratified with ``split_seed``); the official
test set -> test. ``train_fraction`` keeps a fixed stratified share of train (the data-efficient regime;
the evaluation's judge still learns from the whole train split). Images stay uint8 in memory (47 MB) and
become float32 in [-1, 1] per item, resized (bilinear, antialiased) when ``image_size`` != 28.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from gan_lab.data.base import ImageDataModule, UInt8Images, check_fractions, stratified_split
from gan_lab.data.registry import register_dataset
from gan_lab.errors import CorruptImageError, DatasetNotFoundError
from gan_lab.registry import ConfigError

DEBIAN_ROOT = "/usr/share/datasets/fashion-mnist"
APT = "apt-get install dataset-fashion-mnist"
SOURCE = "https://github.com/zalandoresearch/fashion-mnist"
FILES = {  # split -> (images, labels), each found as NAME or NAME.gz
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]
FIX = f"Install the official files again ({APT}, or from {SOURCE})."


class FashionMNISTNotFoundError(DatasetNotFoundError):
    """The four IDX files are not in ``dataset.root``: one line naming the package and the file names."""

    def __init__(self, root: Path, missing: list[str]):
        self.path = root
        FileNotFoundError.__init__(
            self, f"Fashion-MNIST not found at {root}: missing {', '.join(missing)} (each may be gzipped, .gz). "
                  f"Install it with `{APT}` (files in {DEBIAN_ROOT}) or point dataset.root= at a folder holding "
                  f"the four official files ({SOURCE}).")


def find_file(root: Path, name: str) -> Path | None:
    """``root/name`` or ``root/name.gz``, whichever exists (the plain file first)."""
    for candidate in (root / name, root / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """The uint8 array of one IDX file with ``ndim`` dimensions; CorruptImageError naming the file if the
    header, the type or the length is not what the format says."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise CorruptImageError(path, f"{type(e).__name__}: {e}", what="IDX file", fix=FIX) from e
    if len(raw) < 4 + 4 * ndim or raw[0] != 0 or raw[1] != 0 or raw[3] != ndim:
        raise CorruptImageError(path, f"not an IDX file with {ndim} dimension(s) (header {raw[:4].hex() or 'empty'})",
                                what="IDX file", fix=FIX)
    if raw[2] != 0x08:
        raise CorruptImageError(path, f"value type 0x{raw[2]:02x}; Fashion-MNIST stores unsigned bytes (0x08)",
                                what="IDX file", fix=FIX)
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    body = raw[4 + 4 * ndim:]
    expected = int(np.prod(shape))
    if len(body) != expected:
        raise CorruptImageError(path, f"{len(body)} data bytes for shape {shape} (expected {expected}): truncated?",
                                what="IDX file", fix=FIX)
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


@register_dataset("fashion_mnist")
class FashionMNISTDataModule(ImageDataModule):
    name = "fashion_mnist"

    def __init__(self, root: str = DEBIAN_ROOT, image_size: int = 32, val_fraction: float = 0.1, **kw):
        super().__init__(root=root, image_size=image_size, **kw)
        self.val_fraction, _ = check_fractions(val_fraction)
        self.num_classes, self.channels = 10, 1
        self.class_names = list(CLASS_NAMES)

    def _read_split(self, root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
        img_path, lab_path = (find_file(root, n) for n in FILES[split])
        images, labels = read_idx(img_path, 3), read_idx(lab_path, 1)
        if len(images) != len(labels):
            raise CorruptImageError(img_path, f"{len(images)} images for {len(labels)} labels in {lab_path.name}",
                                    what="IDX file", fix=FIX)
        if labels.size and labels.max() >= len(CLASS_NAMES):
            raise CorruptImageError(lab_path, f"label {int(labels.max())} outside 0..{len(CLASS_NAMES) - 1}",
                                    what="IDX file", fix=FIX)
        return images, labels.astype(np.int64)

    def _load(self):
        root = Path(self.root)
        missing = [n for names in FILES.values() for n in names if find_file(root, n) is None]
        if missing:
            raise FashionMNISTNotFoundError(root, missing)
        images, labels = self._read_split(root, "train")
        idx = stratified_split(labels, (1 - self.val_fraction, self.val_fraction, 0.0), self.split_seed)
        if len(idx["val"]) == 0:
            raise ConfigError(f"dataset.val_fraction={self.val_fraction} leaves the val split empty "
                              f"({len(labels)} training images); allowed: a larger val_fraction")
        x = torch.from_numpy(images.copy())[:, None]  # (N, 1, 28, 28) uint8
        out = {s: UInt8Images(x[torch.from_numpy(idx[s])], torch.from_numpy(labels[idx[s]]), self.image_size)
               for s in ("train", "val")}
        images, labels = self._read_split(root, "test")
        out["test"] = UInt8Images(torch.from_numpy(images.copy())[:, None], torch.from_numpy(labels), self.image_size)
        return out
