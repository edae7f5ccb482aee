"""Reading image files for training: decode, crop and square-resize, as every image data set does.

``load_resized`` decodes, crops and resizes one file in PIL (uint8, with
JPEG draft decoding at 1/2-1/8 scale when the output is >= 4x smaller: RaFD's 681×1024 JPEGs);
``ImageFileDataset`` is the lazily loaded (image, label) dataset that the rafd and folder data sets
share (crop, square resize, optional in-memory cache). ``gan_lab.imaging.load_image`` decodes one
file at its own size.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from gan_lab.errors import CorruptImageError
from gan_lab.imaging import DECODE_ERRORS, chw, to_mode

# ----------------------------------------------------------------------------------------------------------
# Image files as a lazily loaded dataset (rafd, folder): decode -> crop -> square resize, in 8 bits.

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


def square_box(width: int, height: int, crop, path="", key: str = "dataset.crop") -> tuple[int, int, int, int]:
    """The pixel box (left, top, right, bottom) a ``parse_crop`` spec selects, reduced to its central square."""
    if crop is None:
        x0, y0, x1, y1 = 0, 0, width, height
    elif crop[0] == "box":
        l, t, r, b = crop[1]
        x0, y0 = int(round(l * width)), int(round(t * height))
        x1, y1 = max(int(round(r * width)), x0 + 1), max(int(round(b * height)), y0 + 1)
    else:
        n = crop[1]
        if n > min(width, height):
            from gan_lab.registry import ConfigError

            raise ConfigError(f"{key}={n} is larger than the image {path} ({width}×{height}); "
                              f"allowed: at most {min(width, height)}")
        x0, y0 = (width - n) // 2, (height - n) // 2
        x1, y1 = x0 + n, y0 + n
    side = min(x1 - x0, y1 - y0)
    x0, y0 = x0 + (x1 - x0 - side) // 2, y0 + (y1 - y0 - side) // 2
    return x0, y0, x0 + side, y0 + side


def load_resized(path: str | Path, channels: int, image_size: int, crop=None) -> Tensor:
    """uint8 (channels, image_size, image_size): decode, crop (``square_box``), resize (bilinear, antialiased)."""
    try:
        img = Image.open(path)
    except DECODE_ERRORS as e:
        raise CorruptImageError(path, str(e) or type(e).__name__) from e
    with img:
        width, height = img.size
        box = square_box(width, height, crop, path)
        factor = (box[2] - box[0]) / image_size
        try:
            scale = 1.0
            if factor >= 4 and img.format == "JPEG":
                # Decode at 1/2, 1/4 or 1/8 scale, keeping the crop >= 2 * image_size so the final antialiased
                # resize (not libjpeg's block averaging alone) does the last 2x or more.
                drafted = img.draft(None, (math.ceil(2 * width / factor), math.ceil(2 * height / factor)))
                scale = width / drafted[1][2] if drafted else 1.0
            img.load()
            # The box in decoded pixels (fractional after a draft): crop to the whole pixels around it, then
            # resize exactly the box; the resize filter never reaches pixels outside that crop.
            fb = [v / scale for v in box]
            ib = (math.floor(fb[0]), math.floor(fb[1]), min(math.ceil(fb[2]), img.size[0]),
                  min(math.ceil(fb[3]), img.size[1]))
            inner = (fb[0] - ib[0], fb[1] - ib[1], fb[2] - ib[0], fb[3] - ib[1])
            img = to_mode(img, channels).crop(ib).resize((image_size, image_size), Image.BILINEAR, box=inner)
            arr = np.asarray(img, dtype=np.uint8)
        except DECODE_ERRORS as e:
            raise CorruptImageError(path, str(e) or type(e).__name__) from e
    return chw(arr)


class ImageFileDataset(Dataset):
    """(image, label) read from ``paths[i]`` on access: decode, crop, square-resize to ``image_size``.

    Crop and resize run in PIL on 8-bit images (``load_resized``), so with ``cache=True`` (keep each
    decoded item in memory as uint8: N·C·S² bytes) the first and later reads are identical.
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
        if i in self._cache:
            return self._cache[i]
        x = load_resized(self.paths[i], self.channels, self.image_size, self.crop)
        if self.cache:
            self._cache[i] = x
        return x

    def check_all(self) -> None:
        """Decode every image now (kept when ``cache``): a file that cannot be read fails before step 0, naming
        it, not at the final evaluation hours later."""
        for i in range(len(self)):
            self.read(i)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        i = int(i)
        if i < 0:
            i += len(self)
        return self.read(i).float() / 127.5 - 1.0, self.labels[i]
