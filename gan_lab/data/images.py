"""Reading image files into gan_lab's tensor convention: float32 (C, H, W) in [-1, 1]."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

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
