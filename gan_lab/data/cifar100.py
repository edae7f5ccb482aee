"""CIFAR-100, from the official "CIFAR-100 python version" files (no download at run time).

``root`` holds ``train`` (50,000 rows), ``test`` (10,000) and ``meta``: pickles (``encoding='bytes'``)
with ``b'data'`` (N, 3072) uint8 — 1024 red, 1024 green, 1024 blue values, each row-major 32×32 —
``b'fine_labels'`` (100 classes) and ``b'coarse_labels'`` (20 super-classes); ``meta`` holds
``b'fine_label_names'`` and ``b'coarse_label_names'``. ``label`` picks which labels are the classes.

Splits: the official train set -> train + val (val carved stratified by the FINE label with
``split_seed``, so the split is the same whichever ``label`` is chosen); the official test set -> test.
Images stay uint8 in memory (150 MB) and become float32 in [-1, 1] per item (resized if image_size != 32).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from gan_lab.data import safe_pickle
from gan_lab.data.base import ImageDataModule, UInt8Images, check_fractions, stratified_split
from gan_lab.data.registry import register_dataset
from gan_lab.errors import CorruptImageError, DatasetNotFoundError
from gan_lab.registry import ConfigError

URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
LAYOUT = """  <root>/train   pickle: b'data' (50000, 3072) uint8, b'fine_labels', b'coarse_labels'
  <root>/test    pickle: the same keys, 10000 rows
  <root>/meta    pickle: b'fine_label_names', b'coarse_label_names'
(`tar xzf cifar-100-python.tar.gz -C datasets/` creates datasets/cifar-100-python/ with exactly these files)"""
FILES = ("train", "test", "meta")
LABELS = ("fine", "coarse")


def read_pickle(path: Path, keys: tuple[bytes, ...]) -> dict:
    """One CIFAR pickle as a dict with bytes keys; CorruptImageError naming the file if unreadable or if it
    refers to anything but numpy arrays (``safe_pickle``: a data file must not run code)."""
    try:
        with open(path, "rb") as f:
            d = safe_pickle.load(f, encoding="bytes")
    except Exception as e:  # noqa: BLE001  (any unpickling failure means the same thing to the user)
        raise CorruptImageError(path, f"{type(e).__name__}: {e}", what="CIFAR-100 file",
                                fix=f"Download and extract {URL} again.") from e
    missing = [k.decode() for k in keys if not isinstance(d, dict) or k not in d]
    if missing:
        raise CorruptImageError(path, f"no key(s) {', '.join(repr(m.encode()) for m in missing)}",
                                what="CIFAR-100 file", fix=f"Download and extract {URL} again.")
    return d


@register_dataset("cifar100")
class CIFAR100DataModule(ImageDataModule):
    name = "cifar100"

    def __init__(self, root: str, image_size: int = 32, label: str = "fine", val_fraction: float = 0.1, **kw):
        super().__init__(root=root, image_size=image_size, **kw)
        if label not in LABELS:
            raise ConfigError(f"dataset.label={label!r} is invalid; allowed: {', '.join(LABELS)}")
        self.label = label
        self.val_fraction, _ = check_fractions(val_fraction)
        self.num_classes, self.channels = (100 if label == "fine" else 20), 3

    def _dir(self) -> Path:
        """``root``, or ``root/cifar-100-python`` when root is the directory the archive was extracted into."""
        root = Path(self.root)
        if not (root / "train").is_file() and (root / "cifar-100-python" / "train").is_file():
            return root / "cifar-100-python"
        return root

    def _load(self) -> dict[str, Dataset]:
        root = self._dir()
        missing = [f for f in FILES if not (root / f).is_file()]
        if missing:
            detail = "no such directory" if not root.is_dir() else f"missing file(s): {', '.join(missing)}"
            raise DatasetNotFoundError("CIFAR-100", root, LAYOUT, f"{URL} (the 'CIFAR-100 python version')",
                                       detail=detail)
        key = f"{self.label}_labels".encode()
        meta = read_pickle(root / "meta", (b"fine_label_names", b"coarse_label_names"))
        names = meta[f"{self.label}_label_names".encode()]
        self.class_names = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
        parts = {}
        for split in ("train", "test"):
            d = read_pickle(root / split, (b"data", b"fine_labels", b"coarse_labels"))
            data = np.asarray(d[b"data"], dtype=np.uint8)
            if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(d[key]):
                raise CorruptImageError(root / split, f"b'data' has shape {data.shape} for {len(d[key])} labels; "
                                        "expected (N, 3072)", what="CIFAR-100 file", fix=f"Download {URL} again.")
            images = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())
            parts[split] = (images, np.asarray(d[key], dtype=np.int64), np.asarray(d[b"fine_labels"], dtype=np.int64))
        bad = [int(v) for s in parts.values() for v in (s[1].min(), s[1].max()) if not 0 <= v < len(self.class_names)]
        if bad:
            raise CorruptImageError(root / "train", f"label {bad[0]} outside 0..{len(self.class_names) - 1}",
                                    what="CIFAR-100 file", fix=f"Download {URL} again.")
        self.num_classes = len(self.class_names)
        images, labels, fine = parts["train"]
        idx = stratified_split(fine, (1 - self.val_fraction, self.val_fraction, 0.0), self.split_seed)
        out = {s: UInt8Images(images[torch.from_numpy(idx[s])], torch.from_numpy(labels[idx[s]]), self.image_size)
               for s in ("train", "val")}
        if len(idx["val"]) == 0:
            raise ConfigError(f"dataset.val_fraction={self.val_fraction} leaves the val split empty "
                              f"({len(fine)} training rows); allowed: a larger val_fraction")
        images, labels, _ = parts["test"]
        out["test"] = UInt8Images(images, torch.from_numpy(labels), self.image_size)
        return out

    def describe(self) -> str:
        return super().describe() + f"; {self.label} labels"
