"""The short report printed at the end of ``gan-lab train``: where outputs are and the key numbers."""

from __future__ import annotations

from pathlib import Path

def summary_keys() -> list[tuple[str, str]]:
    """(key, label) in display order: every declared metric key (``gan_lab.metrics.keys``), reference numbers
    last; only the keys a run recorded are printed."""
    from gan_lab.metrics.keys import load_all

    keys = load_all().values()
    return [(i.name, i.label) for i in keys if i.direction is not None] + \
        [(i.name, i.label) for i in keys if i.direction is None]  # reference numbers last


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
        lines.append(f"Final evaluation at step {metrics.get('step')} on {metrics.get('n_fake')} generated images:")
        for key, label in summary_keys():
            if isinstance(metrics.get(key), (int, float)):
                lines.append(f"  {label:52s} {metrics[key]:.4f}")
    return "\n".join(lines)
