"""Image files <-> tensors: decoding any image file, 8-bit quantisation, grids and PNGs without torchvision.

Images inside gan_lab are float tensors in [-1, 1]; files are 8-bit PNGs. This module imports no other
gan_lab package but gan_lab.errors, so the data sets, the renderer (gan_lab.synth) and the commands share it.
"""

from __future__ import annotations

import os

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from gan_lab.errors import CorruptImageError, RunOutputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")  # readable image files (lower case)


def is_image_path(path: Path) -> bool:
    """A file with an image suffix (case-insensitive), not hidden (``.DS_Store``, ``._x.jpg``)."""
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def device_of(module: torch.nn.Module) -> torch.device:
    """Where a module's parameters live (CPU for a module without any)."""
    p = next(module.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def to_uint8(images: Tensor) -> Tensor:
    """[-1, 1] floats -> uint8 [0, 255] with rounding (the quantisation a saved PNG has)."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def quantize_signed(images: Tensor) -> Tensor:
    """[-1, 1] -> [-1, 1] floats on the 8-bit grid: what a saved PNG holds, in gan_lab's image range."""
    return to_uint8(images).float() / 127.5 - 1.0


def quantize_unit(images: Tensor) -> Tensor:
    """[-1, 1] -> [0, 1] floats on the 8-bit grid: what a saved PNG holds, in the range metrics such as
    PSNR/SSIM/ΔE take (the albedo metrics)."""
    return to_uint8(images).float() / 255.0


def make_grid(images: Tensor, pad: int = 2, pad_value: float = 1.0) -> Tensor:
    """(rows, cols, C, H, W) -> one (C, rows*(H+pad)+pad, cols*(W+pad)+pad) image."""
    rows, cols, c, h, w = images.shape
    grid = torch.full((c, rows * (h + pad) + pad, cols * (w + pad) + pad), pad_value, dtype=images.dtype)
    for r in range(rows):
        for k in range(cols):
            y, x = pad + r * (h + pad), pad + k * (w + pad)
            grid[:, y : y + h, x : x + w] = images[r, k]
    return grid


def to_pil(image: Tensor) -> Image.Image:
    """(C, H, W) in [-1, 1] -> PIL image (L for 1 channel, RGB for 3)."""
    arr = to_uint8(image).permute(1, 2, 0).numpy()
    if arr.shape[2] == 1:
        return Image.fromarray(arr[:, :, 0], mode="L")
    return Image.fromarray(np.ascontiguousarray(arr[:, :, :3]), mode="RGB")


def save_pil(img: Image.Image, path: str | Path) -> Path:
    """Write ``img`` (format from the suffix) beside ``path`` and rename it over: never half a file. A failed
    write (a full disk) is one :class:`gan_lab.errors.RunOutputError` naming the file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(tmp, format=Image.registered_extensions().get(path.suffix.lower(), "PNG"))
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise RunOutputError(path, e) from e
    return path


def save_image(image: Tensor, path: str | Path, upscale: int = 1) -> Path:
    """Save (C, H, W) in [-1, 1] as PNG; ``upscale`` > 1 enlarges with nearest neighbour (tiny digits)."""
    img = to_pil(image)
    if upscale > 1:
        img = img.resize((img.width * upscale, img.height * upscale), Image.NEAREST)
    return save_pil(img, path)


DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def to_mode(img: Image.Image, channels: int) -> Image.Image:
    """1 channel = luminance ("L"), 3 = RGB; transparent pixels are composited on white."""
    if img.mode in ("RGBA", "LA", "P", "PA") and "transparency" in img.info or img.mode in ("RGBA", "LA", "PA"):
        img = img.convert("RGBA")
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, img)
    return img.convert("L" if channels == 1 else "RGB")


def chw(arr: np.ndarray) -> Tensor:
    """(H, W) or (H, W, C) array -> (C, H, W) tensor (same dtype)."""
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)


def load_image(path: str | Path, channels: int) -> Tensor:
    """Decode ``path`` to ``channels`` (1 = luminance, 3 = RGB; alpha is composited on white)."""
    try:
        with Image.open(path) as img:
            img.load()
            arr = np.asarray(to_mode(img, channels), dtype=np.float32)
    except DECODE_ERRORS as e:
        raise CorruptImageError(path, str(e) or type(e).__name__) from e
    return chw(arr) / 127.5 - 1.0
