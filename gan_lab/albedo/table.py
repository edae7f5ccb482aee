"""The albedo comparison table as Markdown: methods × metrics overall and per difficulty tag, learned
rows against the best baseline, and per-group image grids (written by ``gan-lab albedo-eval``).

Checkpoints given the same label (e.g. the seeds of one recipe) make one row, mean ± sample standard
deviation over them (``mean_std``). The row ``target`` (``TARGET``: the target itself as the prediction)
is a sanity row: it must score perfectly (PSNR at the 100 dB cap, SSIM 1 and sharpness 1 to float32
rounding, errors 0); any other value means the metrics or the data path are broken. It is neither a
baseline nor a learned row (not in the comparison with the best baseline).
The second table sets each learned row against the best baseline per metric (ratio for errors,
difference for PSNR/SSIM).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from gan_lab.albedo.baselines import BASELINES
from gan_lab.albedo.evaluation import DEFAULT_METRICS, GROUPS, group_masks

TARGET = "target"  # the sanity row's name: the target itself as the prediction


def is_learned(name: str) -> bool:
    """A row that is neither a baseline nor the target sanity row (a checkpoint's label)."""
    return name not in BASELINES and name != TARGET


def column(metric: str) -> str:
    """A table header from the metric's declared label and direction (``gan_lab.metrics.keys``)."""
    from gan_lab.metrics.keys import load_all

    info = load_all().get(metric)
    if info is None or info.direction is None:  # a reference number (e.g. sharpness): no arrow
        return metric if info is None else info.label
    return f"{info.label} {'↑' if info.direction == 'max' else '↓'}"



def _decimals(v: float) -> int:
    """2 decimals from 1 up; below 1 enough for 4 significant digits (at least 4 decimals), so that a
    small error such as si-MSE 0.01107 keeps the digits a margin is judged by (not 0.0111)."""
    if math.isnan(v) or abs(v) >= 1:
        return 2
    return 4 if v == 0 else max(4, 3 - math.floor(math.log10(abs(v))))


def _num(v, decimals: int | None = None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if decimals is None and 0 < abs(v) < 1e-4:  # e.g. the target row's rounding-level errors: 4.263e-17
        return f"{v:.3e}"
    return f"{v:.{_decimals(v) if decimals is None else decimals}f}"


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
        if math.isnan(v["std"]) or 0 < abs(v["mean"]) < 1e-4:
            return _num(v["mean"]) + ("" if math.isnan(v["std"]) else f" ± {v['std']:.1e}")
        d = _decimals(v["mean"])  # the std to the mean's decimals: 0.01107 ± 0.00005
        return f"{_num(v['mean'], d)} ± {_num(v['std'], d)}"
    return _num(v)


def _value(v) -> float:
    return v["mean"] if isinstance(v, dict) else (math.nan if v is None else v)


def versus_best_baseline(rows: list[tuple[str, dict]], metrics=DEFAULT_METRICS, groups=("", *(f"{g}/" for g in GROUPS))) -> str:
    """Markdown: each learned row against the best baseline per metric and group (errors: ratio; PSNR/SSIM: difference)."""
    from gan_lab.metrics.keys import load_all

    keys = load_all()
    ranked = [m for m in metrics if keys.get(m) is not None and keys[m].direction is not None]
    base = [(n, r) for n, r in rows if n in BASELINES]
    learned = [(n, r) for n, r in rows if is_learned(n)]
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
                             f"{v / best:.3f}× of {_num(best)}")  # 3 decimals: a 0.6× margin is told from 0.604×
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
    if any(is_learned(n) for n, _ in rows) and any(n in BASELINES for n, _ in rows):
        lines += ["", "Against the best baseline of each metric and group (errors: ratio, lower is better; "
                  "PSNR and SSIM: difference, higher is better):", "", versus_best_baseline(rows, metrics)]
    return "\n".join(lines).rstrip("\n") + "\n"


def write_grids(out_dir: Path, data: dict, preds: dict[str, Tensor], per_group: int = 8) -> list[Path]:
    """Per difficulty group: rows photo | each prediction | target for the group's first ``per_group`` renders."""
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
