"""Reading image files into gan_lab's tensor convention: float32 (C, H, W) in [-1, 1].

``load_image`` decodes one file; ``ImageFileDataset`` is the lazily loaded (image, label) dataset
that the rafd and folder data sets share (crop, square resize, optional in-memory cache).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torch.utils.data import Dataset

from gan_lab.data.errors import CorruptImageError


def load_image(path: str | Path, channels: int) -> Tensor:
    """Decode ``path`` to ``channels`` (1 = luminance, 3 = RGB; alpha is composited on white)."""
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("RGBA", "LA", "P", "PA") and "transparency" in img.info or img.mode in ("RGBA", "LA", "PA"):
                img = img.convert("RGBA")
                bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
                img = Image.alpha_composite(bg, img)
            img = img.convert("L" if channels == 1 else "RGB")
            arr = np.asarray(img, dtype=np.float32)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise CorruptImageError(path, str(e) or type(e).__name__) from e
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr.copy()).permute(2, 0, 1) / 127.5 - 1.0


# ----------------------------------------------------------------------------------------------------------
# Image files as a lazily loaded dataset (rafd, folder): decode -> optional crop -> square resize -> 8 bits.

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def is_image_file(path: Path) -> bool:
    """An image by extension (case-insensitive), not a hidden file (``.DS_Store``, ``._x.jpg``)."""
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def parse_crop(value, key: str = "dataset.crop"):
    """Config ``crop`` -> None | ("box", (l, t, r, b) fractions) | ("center", side in pixels).

    ``null``: the largest central square; ``[l, t, r, b]``: a box in fractions of width/height;
    an integer N: the central N×N pixels of the decoded file (StarGAN's CenterCrop).
    """
    from gan_lab.registry import ConfigError

    allowed = "null (central square), an integer side in pixels, or [left, top, right, bottom] fractions in [0, 1]"
    if value is None:
        return None
    if isinstance(value, bool):
        raise ConfigError(f"{key}={value!r} is invalid; allowed: {allowed}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if int(value) != value or value <= 0:
            raise ConfigError(f"{key}={value!r} is invalid; allowed: {allowed}")
        return ("center", int(value))
    try:
        box = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}={value!r} is invalid; allowed: {allowed}") from None
    if len(box) != 4 or not (0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1):
        raise ConfigError(f"{key}={list(value)!r} is invalid; allowed: {allowed} with left < right, top < bottom")
    return ("box", box)


def crop_image(x: Tensor, crop, path="", key: str = "dataset.crop") -> Tensor:
    """Apply a ``parse_crop`` spec to one (C, H, W) image."""
    if crop is None:
        return x
    h, w = x.shape[-2:]
    kind, arg = crop
    if kind == "box":
        l, t, r, b = arg
        x0, y0 = int(round(l * w)), int(round(t * h))
        x1, y1 = max(int(round(r * w)), x0 + 1), max(int(round(b * h)), y0 + 1)
        return x[:, y0:y1, x0:x1]
    if arg > min(h, w):
        from gan_lab.registry import ConfigError

        raise ConfigError(f"{key}={arg} is larger than the image {path} ({w}×{h}); allowed: at most {min(h, w)}")
    top, left = (h - arg) // 2, (w - arg) // 2
    return x[:, top : top + arg, left : left + arg]


def to_uint8(x: Tensor) -> Tensor:
    """[-1, 1] float -> uint8 (round to nearest)."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def from_uint8(x: Tensor) -> Tensor:
    return x.float() / 127.5 - 1.0


class ImageFileDataset(Dataset):
    """(image, label) read from ``paths[i]`` on access: decode, crop, square-resize to ``image_size``.

    Images are rounded to 8 bits after resizing (what a saved PNG would hold), so with ``cache=True``
    (keep each decoded item in memory as uint8: N·C·S² bytes) the first and later reads are identical.
    A file that cannot be decoded raises CorruptImageError naming it.
    """

    def __init__(self, paths, labels, channels: int, image_size: int, crop=None, cache: bool = False):
        self.paths = [Path(p) for p in paths]
        self.labels = torch.as_tensor(np.asarray(labels, dtype=np.int64))
        if len(self.paths) != len(self.labels):
            raise ValueError("ImageFileDataset: paths and labels differ in length")
        self.channels, self.image_size, self.crop, self.cache = int(channels), int(image_size), crop, bool(cache)
        self._cache: dict[int, Tensor] = {}

    def __len__(self) -> int:
        return len(self.paths)

    def read(self, i: int) -> Tensor:
        """The uint8 (C, S, S) image of item ``i``."""
        from gan_lab.data.base import resize_square

        if i in self._cache:
            return self._cache[i]
        x = crop_image(load_image(self.paths[i], self.channels), self.crop, self.paths[i])
        x = to_uint8(resize_square(x[None], self.image_size)[0])
        if self.cache:
            self._cache[i] = x
        return x

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        i = int(i)
        if i < 0:
            i += len(self)
        return from_uint8(self.read(i)), self.labels[i]
