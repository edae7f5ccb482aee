"""``gan-lab extract-albedo ckpt_path=CKPT input=IMG_OR_DIR output=DIR [scale=train|native] [device=cpu]``.

Applies a trained albedo translator (its EMA generator) to any photo: any size, any mode (grayscale,
palette, RGBA — alpha composited on white — all become RGB). Each photo is
  1. resized so its longer side is the model's training resolution (``scale=train``, the default: the
     net sees labels at the scale it learned), or kept as is (``scale=native``);
  2. padded (reflect, or replicate when too small to reflect) to a multiple of the U-Net's ``2**depth``;
  3. translated, the padding cropped off, and resized back to the photo's own size;
and written as ``output/<stem>.png`` (same width × height as the input). An unreadable file stops with
an error naming it.
"""

from __future__ import annotations

from pathlib import Path

import torch.nn.functional as F
from torch import Tensor

from gan_lab.cli_args import check_device, check_output_dir, output_names, parse_kv, print_help, usage_of
from gan_lab.data.albedo import list_photos
from gan_lab.imaging import load_image, save_image
from gan_lab.progress import progress
from gan_lab.registry import ConfigError

SCALES = ("train", "native")


def pad_to_multiple(x: Tensor, m: int) -> tuple[Tensor, tuple[int, int]]:
    """Pad (N, C, H, W) on the bottom/right to multiples of ``m``; returns the padded tensor and (H, W)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % m, (-w) % m
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


def extract(module, photo: Tensor, scale: str = "train") -> Tensor:
    """One photo (3, H, W) in [-1, 1] -> its albedo (3, H, W) in [-1, 1]."""
    h, w = photo.shape[-2:]
    x = photo[None].float()
    if scale == "train":
        s = module.image_size / max(h, w)
        size = (max(1, round(h * s)), max(1, round(w * s)))
        if size != (h, w):
            x = F.interpolate(x, size=size, mode="bilinear", antialias=s < 1, align_corners=False)
    x, (hh, ww) = pad_to_multiple(x, module.required_multiple)
    y = module.predict_albedo(x)[..., :hh, :ww].cpu()
    if (hh, ww) != (h, w):
        y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)
    return y[0].clamp(-1, 1)


def run(ckpt_path: str, input: str, output: str, scale: str = "train", device: str = "cpu") -> list[Path]:
    from gan_lab.modules.loading import load_module

    if scale not in SCALES:
        raise ConfigError(f"scale={scale!r} is invalid; allowed: {', '.join(SCALES)}")
    check_device(device)
    photos = list_photos(input)  # checks the input before the (slower) checkpoint load
    module = load_module(ckpt_path).to(device)
    if module.task != "paired":
        raise ConfigError(f"ckpt_path={ckpt_path} is a {module.hparams['model']['module']} model, not an albedo "
                          "translator (train one with gan-lab train experiment=albedo_synth)")
    out_dir = check_output_dir(output)
    decoded = [load_image(path, 3) for path in photos]  # every photo first: CorruptImageError names it, nothing written
    names = output_names(photos)
    written = []
    for path, photo in progress(list(zip(photos, decoded)), desc="extract-albedo", unit="img", disable=len(photos) < 2):
        written.append(save_image(extract(module, photo, scale), out_dir / f"{names[path]}.png"))
    print(f"wrote {len(written)} albedo image(s) into {out_dir}")
    return written


def main(argv: list[str]) -> None:
    if print_help(argv, __doc__):
        return
    args = parse_kv(argv, required=("ckpt_path", "input", "output"), optional={"scale": "train", "device": "cpu"},
                    usage=usage_of(__doc__))
    run(**args)
