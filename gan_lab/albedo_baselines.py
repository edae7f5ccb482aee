"""Albedo baselines and the comparison table: ``gan-lab albedo-eval [ckpts=A.ckpt,B.ckpt] [labels=a,b] ...``.

Baselines (no training), all mapping photos (N, 3, H, W) in [-1, 1] to albedos in [-1, 1]:

* ``input``: the photo itself taken as the albedo (what doing nothing scores).
* ``retinex``: multi-scale Retinex (Jobson, Rahman & Woodell 1997) in linear light. Per channel,
  log R = mean over surround scales σ of [log(I + ε) − log(G_σ ∗ I + ε)], with I the linearised photo,
  G_σ a Gaussian (replicate border), σ = (1/32, 3/32, 5/16) of the image side (2, 6, 20 px at 64 px;
  the classic 15/80/250 px at ~800 px), ε = 1/255. Dividing by the local surround removes smooth
  shading and, channel by channel, the light's colour; it cannot remove sharp shadow edges or
  highlights. R is rescaled by one global factor to the photo's mean linear brightness, encoded back
  to sRGB and clipped to [0, 1] (only PSNR/SSIM see that scale; the other metrics fit their own).
  Its known weakness: large flat regions of different colour are pulled toward the same grey.
* ``retinex_gradient``: the thresholded-gradient Retinex (Horn 1974; Grosse et al. 2009's baseline):
  small log-gradients are shading, large ones albedo; the kept gradients are re-integrated (Poisson, DCT).

The table evaluates the baselines and any trained albedo checkpoints on the same held-out renders
(the data set of the first checkpoint, else ``dataset=albedo_synth`` at ``image_size`` with renders
cached in ``cache_dir``), overall and per difficulty tag, and writes Markdown (``output``) plus JSON
beside it. Checkpoints given the same label (e.g. the seeds of one recipe) make one row, mean ± sample
standard deviation over them (per-checkpoint values in the JSON). A second table sets each learned row
against the best baseline per metric (ratio for errors, difference for PSNR/SSIM). ``grids=DIR`` also
writes, per difficulty group, the first 8 held-out renders of that group as a grid: photo, each learned
label's first checkpoint, target. Arguments: ckpts, labels (comma-separated), image_size, n,
split_seed, output, device, cache_dir, grids.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_lab.albedo_eval import DEFAULT_METRICS, GROUPS, evaluate_predictions, held_out, predict_all
from gan_lab.cli_args import parse_kv
from gan_lab.registry import ConfigError

RETINEX_SIGMAS = (1 / 32, 3 / 32, 5 / 16)


def column(metric: str) -> str:
    """A table header from the metric's declared label and direction (``gan_lab.metrics.keys``)."""
    from gan_lab.metrics.keys import load_all

    info = load_all().get(metric)
    if info is None or info.direction is None:  # a reference number (e.g. sharpness): no arrow
        return metric if info is None else info.label
    return f"{info.label} {'↑' if info.direction == 'max' else '↓'}"


def input_as_albedo(x: Tensor) -> Tensor:
    return x.clone()


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of (N, C, H, W), radius ceil(3σ), replicate border."""
    r = max(1, math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    c = x.size(1)
    x = F.pad(x, (r, r, r, r), mode="replicate")
    x = F.conv2d(x, g.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def retinex(x: Tensor, sigmas=RETINEX_SIGMAS, eps: float = 1 / 255) -> Tensor:
    """Multi-scale Retinex reflectance (see module docstring) of photos in [-1, 1] -> [-1, 1]."""
    from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb

    lin = rgb_to_linear_rgb(((x.float() + 1) / 2).clamp(0, 1))
    side = min(x.shape[-2:])
    log_r = torch.stack([torch.log(lin + eps) - torch.log(gaussian_blur(lin, s * side) + eps) for s in sigmas]).mean(0)
    r = torch.exp(log_r)
    gain = lin.mean((1, 2, 3), keepdim=True) / r.mean((1, 2, 3), keepdim=True).clamp_min(1e-8)
    return linear_rgb_to_rgb((r * gain).clamp(0, 1)) * 2 - 1


def poisson_neumann(gx: Tensor, gy: Tensor) -> Tensor:
    """Least-squares r with forward differences (r[:, 1:] − r[:, :-1], ...) ≈ (gx, gy), Neumann border, mean 0.

    Solves the normal equations Dᵀ D r = Dᵀ g with the DCT-II, which diagonalises the Neumann Laplacian
    (eigenvalues 4 − 2cos(πk/H) − 2cos(πl/W)). gx: (..., H, W−1), gy: (..., H−1, W) -> (..., H, W).
    """
    from scipy.fft import dctn, idctn

    b = F.pad(gx, (1, 1))[..., :-1] - F.pad(gx, (1, 1))[..., 1:]
    b = b + F.pad(gy, (0, 0, 1, 1))[..., :-1, :] - F.pad(gy, (0, 0, 1, 1))[..., 1:, :]
    h, w = b.shape[-2:]
    lam = (4 - 2 * torch.cos(torch.pi * torch.arange(h, dtype=torch.float64) / h)[:, None]
           - 2 * torch.cos(torch.pi * torch.arange(w, dtype=torch.float64) / w)[None, :]).numpy()
    lam[0, 0] = 1.0
    rhat = dctn(b.double().numpy(), type=2, norm="ortho", axes=(-2, -1)) / lam
    rhat[..., 0, 0] = 0.0
    return torch.from_numpy(idctn(rhat, type=2, norm="ortho", axes=(-2, -1))).to(gx.dtype)


def retinex_gradient(x: Tensor, threshold: float = 0.1, eps: float = 1 / 255) -> Tensor:
    """Thresholded-gradient Retinex (Land & McCann 1971, Horn 1974; the colour Retinex of Grosse et al. 2009).

    In linear light, log I = log albedo + log shading; shading varies smoothly, a label's print changes
    sharply. Log-image gradients (per channel) are kept where the largest of the three channels' |∇| exceeds
    ``threshold`` (0.1 ≈ a 10 % step between neighbouring pixels) and zeroed elsewhere; the log albedo is
    the least-squares re-integration of the kept gradients (``poisson_neumann``), with each channel's mean
    log value restored from the photo. Sharp shadow edges and highlights pass as "albedo" edges: its failure modes.
    """
    from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb

    log_i = torch.log(rgb_to_linear_rgb(((x.float() + 1) / 2).clamp(0, 1)) + eps)
    gx = log_i[..., :, 1:] - log_i[..., :, :-1]
    gy = log_i[..., 1:, :] - log_i[..., :-1, :]
    gx = gx * (gx.abs().amax(1, keepdim=True) > threshold)
    gy = gy * (gy.abs().amax(1, keepdim=True) > threshold)
    log_r = poisson_neumann(gx, gy) + log_i.mean((2, 3), keepdim=True)
    return linear_rgb_to_rgb((torch.exp(log_r) - eps).clamp(0, 1)) * 2 - 1


BASELINES: dict[str, Callable[[Tensor], Tensor]] = {
    "input as albedo": input_as_albedo, "Retinex (multi-scale)": retinex, "Retinex (gradient)": retinex_gradient}


def _num(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.2f}" if abs(v) >= 1 else f"{v:.4f}"


def mean_std(results: list[dict]) -> dict:
    """Per key: the value (one result) or {"mean", "std", "n"} over several (``gan lab compare``'s statistic:
    sample std, ddof 1, NaN values not counted); counts and non-numbers kept from the first."""
    from gan_lab.report.aggregate import stat

    if len(results) == 1:
        return dict(results[0])
    out: dict = {}
    for k, v in results[0].items():
        if k.startswith("n_") or not isinstance(v, float):
            out[k] = v
            continue
        s = stat(r[k] for r in results)
        out[k] = {"mean": s.mean, "std": s.std, "n": s.n}
    return out


def _cell(v) -> str:
    if isinstance(v, dict):
        return f"{_num(v['mean'])} ± {_num(v['std'])}" if not math.isnan(v["std"]) else _num(v["mean"])
    return _num(v)


def _value(v) -> float:
    return v["mean"] if isinstance(v, dict) else (math.nan if v is None else v)


def versus_best_baseline(rows: list[tuple[str, dict]], metrics=DEFAULT_METRICS, groups=("", *(f"{g}/" for g in GROUPS))) -> str:
    """Markdown: each learned row against the best baseline per metric and group (errors: ratio; PSNR/SSIM: difference)."""
    from gan_lab.metrics.keys import load_all

    keys = load_all()
    ranked = [m for m in metrics if keys.get(m) is not None and keys[m].direction is not None]
    base = [(n, r) for n, r in rows if n in BASELINES]
    learned = [(n, r) for n, r in rows if n not in BASELINES]
    lines = ["| method | group | " + " | ".join(column(m) for m in ranked) + " |", "|---|---|" + "---|" * len(ranked)]
    for name, r in learned:
        for g in groups:
            cells = []
            for m in ranked:
                vals = [_value(b[g + m]) for _, b in base]
                best = max(vals) if keys[m].direction == "max" else min(vals)
                v = _value(r[g + m])
                cells.append(f"{v - best:+.2f} vs {_num(best)}" if m == "psnr" else
                             f"{v - best:+.4f} vs {_num(best)}" if keys[m].direction == "max" else
                             f"{v / best:.2f}× of {_num(best)}")
            lines.append(f"| {name} | {g.rstrip('/') or 'all'} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def format_tables(rows: list[tuple[str, dict]], metrics=DEFAULT_METRICS) -> str:
    """Markdown: one overall table, one row per method and difficulty group, and learned rows vs the best baseline."""
    head = "| method | n | " + " | ".join(column(m) for m in metrics) + " |"
    sep = "|---|---:|" + "---:|" * len(metrics)
    lines = ["Overall (inside the label mask):", "", head, sep]
    for name, r in rows:
        lines.append(f"| {name} | {r['n_eval']} | " + " | ".join(_cell(r[m]) for m in metrics) + " |")
    lines += ["", "Per difficulty tag (an image can carry several tags; plain = none):", "",
              "| method | tag | n | " + " | ".join(column(m) for m in metrics) + " |",
              "|---|---|---:|" + "---:|" * len(metrics)]
    for g in GROUPS:
        for name, r in rows:
            lines.append(f"| {name} | {g} | {r[f'n_{g}']} | " + " | ".join(_cell(r[f'{g}/{m}']) for m in metrics) + " |")
    if any(n not in BASELINES for n, _ in rows) and any(n in BASELINES for n, _ in rows):
        lines += ["", "Against the best baseline of each metric and group (errors: ratio, lower is better; "
                  "PSNR and SSIM: difference, higher is better):", "", versus_best_baseline(rows, metrics)]
    return "\n".join(lines).rstrip("\n") + "\n"


def write_grids(out_dir: Path, data: dict, preds: dict[str, Tensor], per_group: int = 8) -> list[Path]:
    """Per difficulty group: rows photo | each prediction | target for the group's first ``per_group`` renders."""
    from gan_lab.albedo_eval import group_masks
    from gan_lab.imaging import make_grid, save_image

    written = []
    for group, sel in group_masks(data["difficulty"]).items():
        idx = sel.nonzero().flatten()[:per_group]
        if idx.numel() == 0:
            continue
        rows = [data["input"][idx], *(p[idx] for p in preds.values()), data["albedo"][idx]]
        grid = make_grid(torch.stack([r.cpu().float() for r in rows]))
        written.append(save_image(grid, out_dir / f"grid_{group}.png", upscale=2))
    return written


def _datamodule(ckpts: list[str], image_size: int, n: int, split_seed: int, cache_dir: str):
    from gan_lab.checkpoints import load_checkpoint
    from gan_lab.data import build_datamodule

    cfg = None
    if ckpts:
        cfgs = [load_checkpoint(c, key="ckpts").get("gan_lab_config") for c in ckpts]
        if not all(cfgs):
            raise ConfigError("a checkpoint holds no gan_lab_config (written by gan-lab train?)")
        cfg = dict(cfgs[0]["dataset"])
        for c, other in zip(ckpts[1:], cfgs[1:]):
            if {k: other["dataset"].get(k) for k in ("name", "image_size", "split_seed", "render", "root")} != \
               {k: cfg.get(k) for k in ("name", "image_size", "split_seed", "render", "root")}:
                raise ConfigError(f"ckpts: {c} was trained on other data than {ckpts[0]}; compare runs on one data set")
    if cfg is None:
        cfg = {"name": "albedo_synth", "image_size": image_size, "split_seed": split_seed, "cache_dir": cache_dir}
    if cfg["name"] == "albedo_synth":
        cfg["n_test"] = n
        cfg["n_train"] = 1  # the table never trains; do not render a training pool
    dm = build_datamodule(cfg)
    dm.setup("test")
    return dm


def run(ckpts: str = "", labels: str = "", image_size: str = "64", n: str = "256", split_seed: str = "0",
        output: str = "albedo_table.md", device: str = "cpu",
        cache_dir: str = "datasets/.cache/albedo_synth", grids: str = "") -> list[tuple[str, dict]]:
    from gan_lab.modules.loading import load_module

    paths = [c for c in ckpts.split(",") if c]
    names = [s for s in labels.split(",") if s] or [Path(c).parent.parent.name or c for c in paths]
    if len(names) != len(paths):
        raise ConfigError(f"labels= has {len(names)} names for {len(paths)} ckpts; give one per checkpoint")
    for c in paths:
        if not Path(c).is_file():
            raise ConfigError(f"ckpts: {c}: no such checkpoint file")
    dm = _datamodule(paths, int(image_size), int(n), int(split_seed), cache_dir)
    data = held_out(dm, "test", int(n))
    rows = [(name, evaluate_predictions(predict_all(fn, data["input"]), data)) for name, fn in BASELINES.items()]
    per_ckpt: dict[str, list[dict]] = {}
    first_pred: dict[str, Tensor] = {}
    for name, c in zip(names, paths):
        module = load_module(c).to(device)
        if module.task != "paired":
            raise ConfigError(f"ckpts: {c} is not an albedo translator")
        pred = predict_all(module.predict_albedo, data["input"])
        first_pred.setdefault(name, pred)
        per_ckpt.setdefault(name, []).append(evaluate_predictions(pred, data))
    rows += [(name, mean_std(results)) for name, results in per_ckpt.items()]
    table = format_tables(rows)
    if grids:
        for path in write_grids(Path(grids), data, first_pred):
            print(f"wrote {path}")
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table)
    from gan_lab.records import strict_json  # NaN (an empty difficulty group) -> null

    out.with_suffix(".json").write_text(json.dumps(strict_json(
        {"checkpoints": [[n, c] for n, c in zip(names, paths)], "dataset": dm.describe(), "results": dict(rows),
         "per_checkpoint": per_ckpt}), indent=2,
        default=lambda v: None, allow_nan=False))
    print(dm.describe())
    print(table)
    print(f"wrote {out} and {out.with_suffix('.json')}")
    return rows


def main(argv: list[str]) -> None:
    opts = {"ckpts": "", "labels": "", "image_size": "64", "n": "256", "split_seed": "0",
            "output": "albedo_table.md", "device": "cpu", "cache_dir": "datasets/.cache/albedo_synth", "grids": ""}
    run(**parse_kv(argv, required=(), optional=opts,
                   usage="gan-lab albedo-eval [ckpts=A.ckpt,B.ckpt] [labels=a,a] [n=256] [output=albedo_table.md] "
                         "[grids=DIR]"))
