"""Image tensors to files: grids and PNGs without torchvision.

Images inside gan_lab are float tensors in [-1, 1]; files are 8-bit PNGs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor


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


def save_image(image: Tensor, path: str | Path, upscale: int = 1) -> Path:
    """Save (C, H, W) in [-1, 1] as PNG; ``upscale`` > 1 enlarges with nearest neighbour (tiny digits)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img = to_pil(image)
    if upscale > 1:
        img = img.resize((img.width * upscale, img.height * upscale), Image.NEAREST)
    img.save(path)
    return path
