"""``gan-lab albedo-synth out=DIR n=N [size=128] [seed=0] [batch=16] [artwork=DIR] [overwrite=false] [device=cpu] [threads=1]``.

``threads`` sets torch's intra-op threads (default 1: the renderer runs many small tensor ops, which
multi-threading speeds up little and, on a busy machine, slows down up to 10x; run several commands
with different ``seed`` or use more threads on an idle one).

Renders samples 0..N-1 of stream ``seed`` and writes the paired-folder layout the albedo datamodule
reads::

    DIR/input/000000.png    the lit photo (sRGB)
    DIR/albedo/000000.png   the flat albedo (sRGB; label artwork inside the mask)
    DIR/mask/000000.png     the label mask (8-bit, 255 = label)
    DIR/manifest.jsonl      one JSON object per sample: index, file names, seed, difficulty, params
    DIR/render_config.json  the RenderConfig used

A non-empty DIR is refused unless ``overwrite=true`` (which replaces the PNGs of the three folders and the
manifest; other files are left alone).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from gan_lab.cli_args import check_device, parse_kv, print_help, usage_of
from gan_lab.imaging import save_image
from gan_lab.progress import progress
from gan_lab.registry import ConfigError
from gan_lab.synth.config import RenderConfig
from gan_lab.synth.render import render_batch

USAGE = usage_of(__doc__)


def _int(args: dict, key: str, low: int) -> int:
    try:
        v = int(str(args[key]))
    except ValueError:
        raise ConfigError(f"{key}={args[key]!r} is not an integer; usage: {USAGE}") from None
    if v < low:
        raise ConfigError(f"{key}={v} is invalid; allowed: an integer >= {low}")
    return v


def _bool(args: dict, key: str) -> bool:
    v = str(args[key]).lower()
    if v not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigError(f"{key}={args[key]!r} is invalid; allowed: true or false")
    return v in ("true", "1", "yes")


def _png(t: torch.Tensor, path: Path) -> None:
    """Save a (C, H, W) image in [0, 1] as PNG (gan_lab.imaging works in [-1, 1])."""
    save_image(t.detach().cpu() * 2 - 1, path)


def run(out: str, n: int, size: int = 128, seed: int = 0, batch: int = 16, artwork: str | None = None,
        overwrite: bool = False, device: str = "cpu", config: RenderConfig | None = None) -> Path:
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"out={out_dir} is a file; point out= at a new or empty folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise ConfigError(f"out={out_dir} is not empty; choose a new folder or pass overwrite=true to replace its renders")
    cfg = config if config is not None else RenderConfig()
    if artwork is not None:
        cfg.artwork_dir = artwork
    cfg.validate()
    for sub in ("input", "albedo", "mask"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
        for old in (out_dir / sub).glob("*.png"):  # overwrite=true: no stale renders of an earlier, larger run
            old.unlink()
    (out_dir / "render_config.json").write_text(json.dumps(cfg.to_dict(), indent=1) + "\n")
    with open(out_dir / "manifest.jsonl", "w") as manifest, progress(total=n, desc="albedo-synth", unit="img") as bar:
        for start in range(0, n, batch):
            idx = list(range(start, min(n, start + batch)))
            b = render_batch(len(idx), seed, size, cfg, device, indices=idx)
            for j, i in enumerate(idx):
                name = f"{i:06d}.png"
                files = {k: f"{k}/{name}" for k in ("input", "albedo", "mask")}
                _png(b.image[j], out_dir / files["input"])
                _png(b.albedo[j], out_dir / files["albedo"])
                _png(b.mask[j], out_dir / files["mask"])
                p = b.params[j]
                manifest.write(json.dumps({"index": i, **files, "seed": seed, "product": p["product"],
                                           "difficulty": p["difficulty"], "params": p}) + "\n")
            bar.update(len(idx))
    print(f"wrote {n} render(s) of {size}x{size} px (seed {seed}) to {out_dir}")
    return out_dir


def main(argv: list[str]) -> None:
    if print_help(argv, __doc__):
        return
    args = parse_kv(argv, required=("out", "n"), usage=USAGE,
                    optional={"size": 128, "seed": 0, "batch": 16, "artwork": None, "overwrite": "false", "device": "cpu",
                              "threads": 1})
    torch.set_num_threads(_int(args, "threads", 1))
    run(out=args["out"], n=_int(args, "n", 1), size=_int(args, "size", 8), seed=_int(args, "seed", 0),
        batch=_int(args, "batch", 1), artwork=args["artwork"], overwrite=_bool(args, "overwrite"), device=check_device(args["device"]))
