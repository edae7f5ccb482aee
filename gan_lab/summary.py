"""The short report printed at the end of ``gan-lab train`` (and by ``gan-lab eval``): where outputs are and
the key numbers, with their bootstrap intervals and the sanity rows beside the model."""

from __future__ import annotations

import math
from pathlib import Path


def summary_keys() -> list[tuple[str, str]]:
    """(key, label) in display order: every declared metric key (``gan_lab.metrics.keys``), reference numbers
    last; only the keys a run recorded are printed."""
    from gan_lab.metrics.keys import load_all

    keys = load_all().values()
    return [(i.name, i.label) for i in keys if i.direction is not None] + \
        [(i.name, i.label) for i in keys if i.direction is None]  # reference numbers last


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _fmt(v) -> str:
    return f"{v:.4f}" if _number(v) and math.isfinite(v) else "—"


def metric_lines(metrics: dict) -> list[str]:
    """One line per recorded metric: label, value and, when recorded, its bootstrap 95 % interval."""
    lines = []
    for key, label in summary_keys():
        if _number(metrics.get(key)):
            lo, hi = metrics.get(f"{key}_ci_lo"), metrics.get(f"{key}_ci_hi")
            ci = f"  [{_fmt(lo)}, {_fmt(hi)}]" if _number(lo) and _number(hi) else ""
            lines.append(f"  {label:52s} {metrics[key]:.4f}{ci}")
    return lines


def sanity_lines(metrics: dict, rows: dict) -> list[str]:
    """The ranked metrics of the model beside each sanity row (``gan_lab.metrics.sanity``), one column each."""
    from gan_lab.metrics.keys import load_all

    keys = [(k, i.label) for k, i in load_all().items() if i.direction is not None and _number(metrics.get(k))]
    if not rows or not keys:
        return []
    names = list(rows)
    lines = ["Sanity rows (the same metrics on stand-ins; a metric ranking identity or template above real is broken):",
             f"  {'':44s} {'model':>9s}" + "".join(f" {n:>9s}" for n in names)]
    for key, label in keys:
        lines.append(f"  {label[:44]:44s} {_fmt(metrics[key]):>9s}" + "".join(f" {_fmt(rows[n].get(key)):>9s}" for n in names))
    return lines


def format_summary(run_dir: Path, metrics: dict, loggers=()) -> str:
    lines = ["", f"Run directory: {run_dir}"]
    for sub in ("checkpoints/last.ckpt", "samples", "metrics.jsonl"):
        lines.append(f"  {sub:24s} {run_dir / sub}")
    for logger in loggers:
        exp = getattr(logger, "experiment", None)
        d = getattr(exp, "dir", None)
        if d:
            lines.append(f"  W&B run                  {Path(d).parent}  (upload: wandb sync {Path(d).parent})")
    if metrics and metrics.get("n_fake"):
        lines.append(f"Final evaluation at step {metrics.get('step')} on {metrics.get('n_fake')} generated images"
                     + (" (95 % bootstrap intervals over them):" if any(k.endswith("_ci_lo") for k in metrics) else ":"))
        lines += metric_lines(metrics)
        lines += sanity_lines(metrics, metrics.get("sanity_rows") or {})
    return "\n".join(lines)
