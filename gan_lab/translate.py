"""``gan-lab translate ckpt_path=... input=IMG_OR_DIR target=CLASS output=DIR``.

Applies a trained translator (its EMA generator) to image files: each image is resized to the
model's resolution, translated to ``target`` (class index or class name), resized back to its
original size and written as PNG under ``output`` with the same stem.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from gan_lab.cli_args import parse_kv
from gan_lab.data.images import load_image
from gan_lab.imaging import IMAGE_SUFFIXES, is_image_path, save_image
from gan_lab.registry import ConfigError



def list_images(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if is_image_path(p))
        if files:
            return files
        raise ConfigError(f"input={path}: the folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
    raise ConfigError(f"input={path}: no such file or folder")


def resolve_target(target: str, class_names: list[str]) -> int:
    if target in class_names:
        return class_names.index(target)
    if target.lstrip("-").isdigit() and 0 <= int(target) < len(class_names):
        return int(target)
    raise ConfigError(f"target={target!r} is not a class of this model; allowed: 0..{len(class_names) - 1} or {class_names}")


def run(ckpt_path: str, input: str, target: str, output: str, device: str = "cpu") -> list[Path]:
    from gan_lab.modules.loading import load_module

    module = load_module(ckpt_path).to(device)
    if not module.translates_images:
        raise ConfigError(f"ckpt_path={ckpt_path} is a {module.hparams['model']['module']} model, not a translator")
    t = resolve_target(str(target), module.class_names)
    out_dir = Path(output)
    written = []
    for path in tqdm(list_images(Path(input)), desc="translate", unit="img"):
        img = load_image(path, module.channels)  # (C, H, W) in [-1, 1]
        h, w = img.shape[-2:]
        x = F.interpolate(img[None], size=(module.image_size,) * 2, mode="bilinear", antialias=True, align_corners=False)
        y = module.translate(x, torch.tensor([t]))
        y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)[0].clamp(-1, 1)
        written.append(save_image(y.cpu(), out_dir / f"{path.stem}.png"))
    print(f"wrote {len(written)} image(s) translated to class {module.class_names[t]!r} into {out_dir}")
    return written


def main(argv: list[str]) -> None:
    args = parse_kv(argv, required=("ckpt_path", "input", "target", "output"), optional={"device": "cpu"},
                    usage=__doc__.strip().splitlines()[0])
    run(**args)
