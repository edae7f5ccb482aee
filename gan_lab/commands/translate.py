"""``gan-lab translate ckpt_path=CKPT input=IMG_OR_DIR target=CLASS output=DIR [device=cpu]``.

Applies a trained translator (its EMA generator) to image files. Each image is cropped and resized
exactly as the training data was (gan_lab.data.images.load_resized with the run's ``dataset.crop``:
by default the largest central square, so a non-square photo is cropped, never squashed), translated
to ``target`` (class index or class name) and written at the model's resolution as PNG under
``output`` with the same stem.
"""

from __future__ import annotations

from pathlib import Path

import torch

from gan_lab.cli_args import check_device, check_output_dir, output_names, parse_kv, print_help, usage_of
from gan_lab.imaging import IMAGE_SUFFIXES, is_image_path, save_image
from gan_lab.progress import progress
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


def load_translator(ckpt_path: str, device: str = "cpu"):
    """(module, crop): the checkpoint's translator and its training run's ``dataset.crop`` (parsed)."""
    from gan_lab.checkpoints import load_checkpoint
    from gan_lab.data.images import parse_crop
    from gan_lab.modules.loading import load_module

    module = load_module(ckpt_path).to(device)
    if not module.translates_images:
        raise ConfigError(f"ckpt_path={ckpt_path} is a {module.hparams['model']['module']} model, not a translator")
    train_cfg = load_checkpoint(ckpt_path).get("gan_lab_config") or {}
    return module, parse_crop(train_cfg.get("dataset", {}).get("crop"))


def run(ckpt_path: str, input: str, target: str, output: str, device: str = "cpu") -> list[Path]:
    from gan_lab.data.images import load_resized

    check_device(device)
    module, crop = load_translator(ckpt_path, device)
    t = resolve_target(str(target), module.class_names)
    out_dir = check_output_dir(output)
    paths = list_images(Path(input))
    # every input decoded first: a bad file in the middle of a folder stops before anything is written
    inputs = [load_resized(p, module.channels, module.image_size, crop).float() / 127.5 - 1.0 for p in paths]  # as training
    names = output_names(paths)
    written = []
    for path, x in progress(list(zip(paths, inputs)), desc="translate", unit="img"):
        y = module.translate(x[None], torch.tensor([t]))[0]
        written.append(save_image(y.cpu(), out_dir / f"{names[path]}.png"))
    print(f"wrote {len(written)} image(s) translated to class {module.class_names[t]!r} into {out_dir}")
    return written


def main(argv: list[str]) -> None:
    if print_help(argv, __doc__):
        return
    args = parse_kv(argv, required=("ckpt_path", "input", "target", "output"), optional={"device": "cpu"},
                    usage=usage_of(__doc__))
    run(**args)
